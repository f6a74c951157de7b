"""A private Podman (containers/storage overlay store) for the tests and fixtures/podman/.

`engine.PrivatePodman` runs the `podman` CLI with every path it knows of inside one temporary
directory: graph root, run root, libpod tmp dir, network config dir, volume path, its own
containers.conf / storage.conf / registries.conf (through CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF), HOME and XDG dirs, file locks instead of
/dev/shm/libpod_lock. Two host paths podman 4.3 writes whatever it is told are kept away too:
netavark's state is always /run/containers/networks (so the CNI backend is used: with
`--network none` it never runs a plugin), and as root containers/image always writes its
blob-info cache to /var/lib/containers/cache (so `load`/`import` run in a private mount
namespace where /var/lib is a copy-on-write overlay whose upper dir is ours).

`PrivatePodman(rootless=True)` does the same as a throwaway system user with a subordinate
uid/gid range, created on start and removed (with the /etc/subuid and /etc/subgid lines) on stop.

Images come from tarballs built here (no registry): `docker_archive()` (docker save) and
`oci_archive()` from `Layer`s of `Dir`, `File`, `Symlink`, `HardLink`, `Whiteout`, `Opaque`
entries, gzip or not, for `podman load`; any tar for `podman import`.

Oracles (`diff`, `inspect`, `images`, `containers`, `system_df`, `system_df_v`, `store_records`)
return podman's own answers, parsed.

The modules, each importing only those above it:
- `config`: the constants and flags podman runs with, its errors, its config files.
- `availability`: whether a private podman (rootful, rootless) can run here; the host paths
  it must leave alone.
- `images`: layer tarballs and image archives (`ImageSpec` → docker-save or OCI archive).
- `oracles`: podman's text output parsed (`podman diff`, `system df -v`), its size rendering.
- `rootless`: the throwaway user a rootless podman runs as.
- `cli`: `PodmanCLI`, the private dir's paths, podman calls against it, and the oracles.
- `engine`: `PrivatePodman`, which makes that dir (and user) and removes every trace of it.
"""
