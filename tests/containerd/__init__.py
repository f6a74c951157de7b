"""A private containerd for the tests, the containerd capture and the containerd benchmark.

`engine.PrivateContainerd` starts its own `containerd` with every path (root, state, temp dir,
sockets, the opt plugin's dir) inside one temporary directory, from a config generated out of
`containerd config default`, with the CRI plugin and every snapshotter but overlayfs disabled.
containerd 1.6 hard-codes two host paths that no setting moves: the shims' sockets
(`/run/containerd/s/…`) and runc's state (`/run/containerd/runc/…`). So containerd runs in a
mount namespace of its own in which `/run` is a bind mount of `<tmp>/run`: the host's
`/run/containerd` is never created nor written, and everything it leaves lies in the temporary
dir. Stopping kills every task in every namespace, ends containerd and its shims by pid, unmounts
what is left and deletes the dir.

Beside the daemon: image tarballs (OCI image layout and `docker save`) built from layers the test
spells out, `ctr run` containers, containers shaped exactly as Docker 29's containerd image store
and a Kubernetes node (CRI) leave them, a hand-encoded gRPC client for what `ctr` cannot do
(attach a lease to snapshot calls, create a bare container record), and the oracles: `ctr`'s own
answers, parsed, and a read-only kernel overlay of a snapshot stack.

The modules, each importing only those above it:
- `config`: the names and constants containerd is run with, its error, the generated config.toml.
- `availability`: whether a private containerd can run here, and which version it is.
- `ids`: stable ids and Go-style timestamps, as containerd, CRI and Docker make them.
- `protobuf`: just enough of protobuf's wire format to speak to containerd.
- `mounts`: snapshot mounts, mounted and unmounted in our own mount namespace.
- `api`: `ContainerdAPI`, the gRPC calls `ctr` cannot make.
- `images`: layer and image tarballs (`ImageSpec` → OCI layout or `docker save`).
- `oracles`: `ctr`'s text and the List replies, parsed.
- `daemon`: `ContainerdDaemon`, the process: its dir, start, stop, `ctr`.
- `engine`: `PrivateContainerd`, the daemon plus images, containers and the oracles.
- `docker29_config`, `docker29`: containers exactly as Docker 29 leaves them.
- `kubernetes`: images and pods as a Kubernetes node's CRI plugin leaves them.
- `scenario_images`, `scenario`: the standard scenario the tests and the capture build.
"""
