"""Containers exactly as Docker 29's containerd image store lays them out in namespace moby:
a lease, the init layer, the rw snapshot, a container record and a task, and Docker's own
records (tests/containerd/docker29_config.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.containerd.api import runc_options
from tests.containerd.config import MOBY_NAMESPACE, RUNC_RUNTIME, ContainerdError
from tests.containerd.docker29_config import (
    Docker29Container,
    Docker29State,
    append_json_log,
    write_docker29_config,
)
from tests.containerd.engine import ImportedImage, PrivateContainerd
from tests.containerd.ids import now_rfc3339
from tests.containerd.mounts import temp_mount
from tests.containerd.protobuf import pb_string

# daemon/initlayer/setup_unix.go: what Docker writes into every container's init layer.
INIT_LAYER_ENTRIES: dict[str, str] = {
    "/dev/pts": "dir",
    "/dev/shm": "dir",
    "/proc": "dir",
    "/sys": "dir",
    "/.dockerenv": "file",
    "/etc/resolv.conf": "file",
    "/etc/hosts": "file",
    "/etc/hostname": "file",
    "/dev/console": "file",
    "/etc/mtab": "/proc/mounts",
}


def setup_init_layer(root: Path) -> None:
    """moby's initlayer.Setup, line for line, on a mounted init snapshot (uid/gid 0).

    Each path's components are unlinked first (which whites out an image's own /etc/hosts),
    then whatever is missing is created: dirs 0755, empty files 0755 (Docker opens them with
    O_CREATE, 0o755 under its umask 022), and the /etc/mtab symlink.
    """
    for path, kind in INIT_LAYER_ENTRIES.items():
        prev = "/"
        for part in path.split("/")[1:]:
            prev = os.path.join(prev, part)
            with contextlib.suppress(OSError):
                os.unlink(root / prev.lstrip("/"))
        target = root / path.lstrip("/")
        if os.path.exists(target):  # os.Stat: follows symlinks
            continue
        _mkdir_all_new(target.parent, root)
        if kind == "dir":
            _mkdir_all_new(target, root)
        elif kind == "file":
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o755))
            os.chmod(target, 0o755)
        else:
            os.symlink(kind, target)


def _mkdir_all_new(path: Path, root: Path) -> None:
    # user.MkdirAllAndChown(…, 0o755, 0, 0, WithOnlyNew): only the dirs it creates get 0755.
    missing = []
    while not path.exists() and path != root:
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir()
        os.chmod(d, 0o755)


def create_docker29_container(
    cd: PrivateContainerd,
    image: ImportedImage,
    container_id: str,
    *,
    name: str,
    argv: Sequence[str],
    running: bool,
    exec_script: str | None = None,
    seccomp: Mapping[str, Any] | None = None,
) -> Docker29Container:
    """A container in `cd` exactly as Docker 29's containerd image store lays it out.

    The snapshot sequence of moby's daemon/containerd/image_snapshot.go (createLayer,
    prepareInitLayer): a lease with id `<id>`, and with it attached, Prepare
    `<id>-init-key` on the image's top chain id, write daemon/initlayer's files through a
    temporary overlay mount of it, Commit it as `<id>-init`, Prepare `<id>` on that. Then,
    as daemon/start.go and libcontainerd do, a container record (no snapshot key: Docker
    mounts the rootfs itself, at <docker root>/rootfs/overlayfs/<id>) and a task. `running`:
    the task runs `argv`, and `exec_script` runs in it (as `docker exec` would).
    Stopped: `argv` runs to its end, then the task and the container record are deleted
    and the rootfs unmounted, as dockerd does when a container exits. The container's
    dir under `docker_root/containers/<id>/` gets config.v2.json, hostconfig.json,
    hostname, hosts, resolv.conf and the json-file log. `seccomp`: a profile for the spec's
    linux.seccomp (dockerd embeds its default one, ~10 KB, in every container's spec).
    """
    if image.namespace != MOBY_NAMESPACE:
        raise ContainerdError(f"Docker's images live in namespace {MOBY_NAMESPACE!r}")
    ns, api = MOBY_NAMESPACE, cd.api
    created = now_rfc3339()
    api.create_lease(ns, container_id)
    init_key = f"{container_id}-init-key"
    init_mounts = api.prepare(ns, init_key, image.chain_id, lease=container_id)
    # dockerd runs with TMPDIR=<root>/tmp: that is where WithTempMount mounts.
    docker_tmp = cd.docker_root / "tmp"
    docker_tmp.mkdir(mode=0o700, exist_ok=True)
    with temp_mount(init_mounts, docker_tmp) as init_root:
        setup_init_layer(init_root)
    api.commit(ns, f"{container_id}-init", init_key, lease=container_id)
    api.prepare(ns, container_id, f"{container_id}-init", lease=container_id)

    config = json.loads(cd.content_get(ns, image.config_digest))
    container_dir = cd.docker_root / "containers" / container_id
    container_dir.mkdir(parents=True, mode=0o710)
    (container_dir / "checkpoints").mkdir(mode=0o700)
    record = Docker29Container(
        id=container_id,
        name=name,
        image=image,
        argv=tuple(argv),
        running=running,
        exec_script=exec_script,
        created=created,
        image_config=config.get("config", {}),
        docker_root=cd.docker_root,
    )
    write_docker29_config(record, state=None)  # as `docker create` leaves it

    # docker start: mount the rootfs where runc will find it, record, task.
    rootfs = record.rootfs
    rootfs.parent.mkdir(parents=True, mode=0o710, exist_ok=True)
    rootfs.mkdir(mode=0o710)
    cd.mount_in_daemon_namespace(api.mounts(ns, container_id), rootfs)
    for fname, text in (
        ("hostname", container_id[:12] + "\n"),
        ("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
        ("resolv.conf", "nameserver 127.0.0.11\noptions ndots:0\n"),
    ):
        (container_dir / fname).write_text(text)
    log_path = container_dir / f"{container_id}-json.log"
    log_path.touch(mode=0o640)
    bundle = cd.docker_exec_root / "containerd" / container_id
    bundle.mkdir(parents=True, mode=0o755)
    api.create_container(
        ns,
        container_id,
        image=image.name,
        spec=docker29_spec(cd, record, seccomp),
        runtime=RUNC_RUNTIME,
        runtime_options=runc_options("runc", str(cd.docker_exec_root / "runtime-runc")),
        labels={"com.docker/engine.bundle.path": str(bundle)},
    )
    started = now_rfc3339()
    if running:
        cd.ctr("tasks", "start", "--detach", "--null-io", container_id, namespace=ns)
        if exec_script:
            cd.exec(ns, container_id, exec_script)
        pid = cd.task_table(ns)[container_id][0]
        write_docker29_config(record, state=Docker29State(True, pid, 0, started, ""))
        return record
    res = cd.ctr_raw(["tasks", "start", "--fifo-dir", str(cd.scratch / "fifo"), container_id], ns)
    finished = now_rfc3339()
    append_json_log(log_path, res.stdout, started)
    if container_id in cd.tasks(ns):  # ctr tasks start deletes it when attached
        cd.ctr("tasks", "delete", container_id, namespace=ns)
    api.call("containers.v1.Containers/Delete", pb_string(1, container_id), namespace=ns)
    cd.unmount_in_daemon_namespace(rootfs)
    rootfs.rmdir()  # refCountMounter.Unmount removes its target
    write_docker29_config(record, state=Docker29State(False, 0, res.returncode, started, finished))
    return dataclasses.replace(record, exit_code=res.returncode)


def docker29_spec(
    cd: PrivateContainerd, record: Docker29Container, seccomp: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An OCI spec shaped like dockerd's: containerd's default spec, the rootfs at Docker's
    mount point, Docker's hostname and its bind mounts of hosts/hostname/resolv.conf."""
    spec: dict[str, Any] = json.loads(cd.ctr("oci", "spec"))
    container_dir = record.docker_root / "containers" / record.id
    spec["root"] = {"path": str(record.rootfs)}
    # dockerd's default mounts have no /run tmpfs (containerd's do).
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/run"]
    spec["hostname"] = record.id[:12]
    env = [*record.image_config.get("Env", []), f"HOSTNAME={record.id[:12]}"]
    spec["process"].update(args=list(record.argv), env=env, cwd="/", terminal=False)
    for target in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
        spec["mounts"].append(
            {
                "destination": target,
                "type": "bind",
                "source": str(container_dir / target.rsplit("/", 1)[1]),
                "options": ["rbind", "rprivate"],
            }
        )
    spec["linux"]["cgroupsPath"] = cd.container_cgroup(MOBY_NAMESPACE, record.id)
    if seccomp is not None:
        spec["linux"]["seccomp"] = dict(seccomp)
    return spec
