"""A private Podman (containers/storage overlay store) for the tests and fixtures/podman/.

`PrivatePodman` runs the `podman` CLI with every path it knows of inside one temporary
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
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.engine import (
    FIXED_MTIME,
    EngineError,
    _all_pids,
    _children,
    _cmdline,
    _pid_alive,
    _terminate,
    choose_base_dir,
    find_busybox,
    mounts_under,
)

# Host paths a private podman must never create or change; tests compare them before and after.
HOST_PODMAN_PATHS = (
    Path("/var/lib/containers"),
    Path("/run/containers"),
    Path("/run/libpod"),
    Path("/run/podman"),
    Path("/etc/containers/networks"),
    Path("/etc/cni/net.d/cni.lock"),
    Path("/var/lib/cni"),
    Path("/dev/shm/libpod_lock"),
    Path("/root/.local/share/containers"),
    Path("/root/.config/containers"),
)

# runc here refuses podman's default rlimits (nofile 1048576); these fit under the hard limits.
RUN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# Every container is created with these: no network, never pull (there is no registry).
RUN_FLAGS = ("--network", "none", "--pull=never", *RUN_LIMITS)

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Subordinate ids given to the rootless user: one 64 Ki range above every range already listed.
SUBID_COUNT = 65536
SUBID_FLOOR = 100000
FIXED_CREATED = "2000-01-01T00:00:00Z"  # image config `created` (matches FIXED_MTIME)

# podman diff's JSON keys -> the one-letter kinds of its text output (and of `docker diff`).
DIFF_KINDS = {"added": "A", "changed": "C", "deleted": "D"}


class PodmanError(EngineError):
    """The private podman failed to start, stop, or run a command."""


class PodmanUnavailable(PodmanError):
    """No private podman (of the kind asked for) can run on this machine; the message says why."""


# --------------------------------------------------------------------------- availability


def podman_unavailable_reason() -> str | None:
    """Why no rootful private podman can run here, or None when one can."""
    if os.geteuid() != 0:
        return "not root: a private rootful podman needs root (mounts, cgroups, xattrs)"
    for tool, package in (("podman", "podman"), ("runc", "runc"), ("conmon", "conmon")):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            return f"no {tool} on PATH (apt-get install {package})"
    if shutil.which("unshare", path=SYSTEM_PATH) is None:
        return "no unshare (util-linux): needed to keep podman's blob cache out of /var/lib"
    if find_busybox() is None:
        return "no static busybox for the base image (apt-get install busybox-static)"
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        return "the kernel has no overlay filesystem (overlay not in /proc/filesystems)"
    base, why = choose_base_dir()
    if base is None:
        return why
    if str(base.resolve()).startswith("/var/lib/") or not _safe_mount_option(str(base)):
        return f"{base}: a base dir under /var/lib or with ',' ':' in its path cannot be used"
    return None


def rootless_unavailable_reason() -> str | None:
    """Why a rootless private podman cannot even be tried here, or None.

    Only what can be known without starting it; `PrivatePodman(rootless=True).start()` raises
    PodmanUnavailable with podman's own words when the user namespace or the overlay mount
    fails at run time.
    """
    reason = podman_unavailable_reason()
    if reason is not None:
        return reason
    for tool in ("useradd", "usermod", "userdel", "newuidmap", "newgidmap", "nsenter"):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            return f"no {tool} on PATH (apt-get install uidmap passwd util-linux)"
    for tool in ("newuidmap", "newgidmap"):
        path = Path(shutil.which(tool, path=SYSTEM_PATH) or "")
        if not path.stat().st_mode & stat.S_ISUID and not _has_file_caps(path):
            return f"{path} is neither setuid nor has file capabilities"
    # (sysctl, value that blocks unprivileged user namespaces); absent files do not block.
    blockers = (
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    )
    for sysctl, blocking in blockers:
        with contextlib.suppress(OSError):
            if Path(sysctl).read_text().strip() == blocking:
                return f"unprivileged user namespaces are off: {sysctl} is {blocking}"
    return None


def rootless_overlay_mode() -> tuple[str, str]:
    """What rootless overlay can use here: ("native"|"fuse-overlayfs"|"none", why).

    Native overlay in a user namespace needs the `userxattr` mount option (Linux >= 5.13 for
    podman's storage to use it); fuse-overlayfs needs its binary and a /dev/fuse the user may
    open.
    """
    release = os.uname().release
    match = re.match(r"(\d+)\.(\d+)", release)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if version >= (5, 13):
        return "native", f"kernel {release} >= 5.13 mounts overlay with userxattr in a userns"
    fuse = shutil.which("fuse-overlayfs", path=SYSTEM_PATH)
    if fuse is None:
        return "none", f"kernel {release} < 5.13 and no fuse-overlayfs (apt-get install it)"
    try:
        mode = Path("/dev/fuse").stat().st_mode
    except OSError:
        return "none", f"kernel {release} < 5.13 and no /dev/fuse"
    if mode & 0o006 != 0o006:
        return "none", f"kernel {release} < 5.13 and /dev/fuse is {stat.filemode(mode)}"
    return "fuse-overlayfs", f"kernel {release} < 5.13; {fuse}"


def _has_file_caps(path: Path) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def _safe_mount_option(path: str) -> bool:
    # Paths go into overlay mount options, where ',' and ':' are separators.
    return "," not in path and ":" not in path


def host_podman_state() -> dict[str, tuple[int, int, int] | None]:
    """(inode, mtime_ns, ctime_ns) of HOST_PODMAN_PATHS, None where absent."""
    state: dict[str, tuple[int, int, int] | None] = {}
    for path in HOST_PODMAN_PATHS:
        try:
            st = path.lstat()
        except FileNotFoundError:
            state[str(path)] = None
        else:
            state[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return state


# --------------------------------------------------------------------------- layer tarballs


@dataclass(frozen=True)
class Dir:
    """A directory in a layer."""

    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class File:
    """A regular file in a layer."""

    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in a layer (`target` is stored as given, absolute or relative)."""

    path: str
    target: str


@dataclass(frozen=True)
class HardLink:
    """A hard link to `target`, a file earlier in the same layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` from the layers below: the tar member `<dir>/.wh.<name>`."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """Hides everything below in directory `path`: the tar member `<path>/.wh..wh..opq`."""

    path: str


Entry = Dir | File | Symlink | HardLink | Whiteout | Opaque


def _norm(path: str) -> str:
    return path.strip("/")


def _tar_member(tar: tarfile.TarFile, entry: Entry) -> None:
    info: tarfile.TarInfo
    data: bytes | None = None
    if isinstance(entry, Dir):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.mode = tarfile.DIRTYPE, entry.mode
    elif isinstance(entry, File):
        info = tarfile.TarInfo(_norm(entry.path))
        info.mode, info.size, data = entry.mode, len(entry.data), entry.data
    elif isinstance(entry, Symlink):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
    elif isinstance(entry, HardLink):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.linkname, info.mode = tarfile.LNKTYPE, _norm(entry.target), 0o644
    elif isinstance(entry, Whiteout):
        parent, _, name = _norm(entry.path).rpartition("/")
        info = tarfile.TarInfo(f"{parent}/.wh.{name}" if parent else f".wh.{name}")
        info.mode = 0o644
    else:
        info = tarfile.TarInfo(f"{_norm(entry.path)}/.wh..wh..opq")
        info.mode = 0o644
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tarball of `entries`, in the order given (fixed mtimes, owner 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            _tar_member(tar, entry)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One image layer: its uncompressed tar, whether the archive stores it gzipped, history."""

    tar: bytes
    gzip: bool = False
    created_by: str = ""

    @classmethod
    def of(cls, *entries: Entry, gzip: bool = False, created_by: str = "") -> Layer:
        """A layer made of `entries`."""
        return cls(layer_tar(entries), gzip=gzip, created_by=created_by)

    @property
    def diff_id(self) -> str:
        """sha256 of the uncompressed tar (what podman calls diff-digest)."""
        return _sha256(self.tar)

    @property
    def blob(self) -> bytes:
        """The bytes stored in an archive: the tar, or its gzip (mtime 0, so deterministic)."""
        return gzip.compress(self.tar, compresslevel=6, mtime=0) if self.gzip else self.tar

    @property
    def media_type(self) -> str:
        """The OCI media type of `blob`."""
        base = "application/vnd.oci.image.layer.v1.tar"
        return base + "+gzip" if self.gzip else base


@dataclass(frozen=True)
class ImageSpec:
    """An image to write as a docker-save or OCI archive."""

    name: str  # fully qualified, e.g. localhost/scope/app:1
    layers: tuple[Layer, ...]
    cmd: tuple[str, ...] = ("sh",)
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    workdir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def config(self) -> bytes:
        """The image config JSON (OCI and Docker agree on every field used here)."""
        conf: dict[str, Any] = {"Env": list(self.env), "Cmd": list(self.cmd)}
        if self.workdir:
            conf["WorkingDir"] = self.workdir
        if self.labels:
            conf["Labels"] = dict(self.labels)
        doc = {
            "architecture": "amd64",
            "os": "linux",
            "created": FIXED_CREATED,
            "config": conf,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
            "history": [
                {"created": FIXED_CREATED, "created_by": layer.created_by or f"layer {i}"}
                for i, layer in enumerate(self.layers)
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @property
    def config_digest(self) -> str:
        """sha256 of the config: the image id podman gives it."""
        return _sha256(self.config())


def _archive(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data in members:
            parent = name.rpartition("/")[0]
            parts = parent.split("/") if parent else []
            for i in range(len(parts)):
                d = "/".join(parts[: i + 1])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(image: ImageSpec) -> bytes:
    """`docker save` format: manifest.json, <config>.json, <n>/layer.tar (gzipped if asked).

    podman (containers/image) decompresses a gzipped layer of a docker archive on the fly, so
    such a layer is stored exactly like an uncompressed one.
    """
    config = image.config()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members: list[tuple[str, bytes]] = [(config_name, config)]
    layer_names = []
    for i, layer in enumerate(image.layers):
        name = f"{i:02d}-{layer.diff_id.removeprefix('sha256:')[:12]}/layer.tar"
        layer_names.append(name)
        members.append((name, layer.blob))
    manifest = [{"Config": config_name, "RepoTags": [image.name], "Layers": layer_names}]
    members.insert(0, ("manifest.json", json.dumps(manifest).encode()))
    return _archive(members)


def oci_archive(image: ImageSpec) -> bytes:
    """An OCI image layout tarball (oci-layout, index.json, blobs/sha256/...).

    The index names the image through the `org.opencontainers.image.ref.name` annotation,
    which `podman load` takes as the image's name.
    """
    config = image.config()
    blobs: dict[str, bytes] = {_sha256(config): config}
    layers = []
    for layer in image.layers:
        blob = layer.blob
        blobs[_sha256(blob)] = blob
        layers.append({"mediaType": layer.media_type, "digest": _sha256(blob), "size": len(blob)})
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha256(config),
                "size": len(config),
            },
            "layers": layers,
        },
        sort_keys=True,
    ).encode()
    blobs[_sha256(manifest)] = manifest
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": image.name},
            }
        ],
    }
    members = [
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("index.json", json.dumps(index, sort_keys=True).encode()),
    ]
    members += [(f"blobs/sha256/{d.removeprefix('sha256:')}", b) for d, b in sorted(blobs.items())]
    return _archive(members)


# --------------------------------------------------------------------------- output parsing


def parse_diff(output: str) -> list[dict[str, str]]:
    """`podman diff` output (JSON, or the `K /path` text of older podman) as sorted
    [{"kind": "A"|"C"|"D", "path": ...}]."""
    changes: list[dict[str, str]] = []
    text = output.strip()
    if text.startswith("{"):
        doc = json.loads(text)
        for key, kind in DIFF_KINDS.items():
            changes += [{"kind": kind, "path": p} for p in doc.get(key) or []]
    else:
        for line in text.splitlines():
            kind, _, path = line.partition(" ")
            if kind in ("A", "C", "D") and path:
                changes.append({"kind": kind, "path": path})
    return sorted(changes, key=lambda c: (c["path"], c["kind"]))


def human_size(size: int) -> str:
    """podman's rendering of a byte count (go-units HumanSize: decimal units, 4 significant
    digits), e.g. 2131135 -> "2.131MB", 10740 -> "10.74kB", 0 -> "0B"."""
    value, unit = float(size), 0
    while value >= 1000 and unit < len(_HUMAN_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.4g}{_HUMAN_UNITS[unit]}"


_HUMAN_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def parse_system_df_v(output: str) -> dict[str, list[dict[str, str]]]:
    """`podman system df -v` text -> {"Images": [row...], "Containers": [...], "Volumes": [...]}.

    Each row maps the column header to its cell. Columns are found from the header line: cells
    start where header words start (podman pads with a tabwriter, two spaces minimum).
    """
    sections: dict[str, list[dict[str, str]]] = {}
    names = {"Images": "Images", "Containers": "Containers", "Local Volumes": "Volumes"}
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        title = lines[i].removesuffix(" space usage:").strip()
        if title in names and lines[i].endswith("space usage:"):
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            header = lines[i] if i < len(lines) else ""
            starts = [m.start() for m in re.finditer(r"(?:(?<=  )|^)\S", header)]
            columns = [
                header[s : (starts[j + 1] if j + 1 < len(starts) else None)].strip()
                for j, s in enumerate(starts)
            ]
            rows = []
            i += 1
            while i < len(lines) and lines[i].strip():
                line = lines[i]
                cells = [
                    line[s : (starts[j + 1] if j + 1 < len(starts) else None)].strip()
                    for j, s in enumerate(starts)
                ]
                rows.append(dict(zip(columns, cells, strict=True)))
                i += 1
            sections[names[title]] = rows
        else:
            i += 1
    return sections


# --------------------------------------------------------------------------- rootless user


@dataclass(frozen=True)
class RootlessUser:
    """The throwaway system user a rootless engine runs as, and its subordinate ranges."""

    name: str
    uid: int
    gid: int
    subuid_start: int
    subgid_start: int
    count: int = SUBID_COUNT
    backups_before: tuple[str, ...] = ()  # SHADOW_BACKUPS that existed before useradd

    def maps_host_uid(self, uid: int) -> bool:
        """True for the user's own uid and every uid of its subordinate range."""
        return uid == self.uid or self.subuid_start <= uid < self.subuid_start + self.count


# The backups shadow's tools (useradd, usermod, userdel) write beside the user databases.
SHADOW_BACKUPS = tuple(
    Path(f"/etc/{name}-") for name in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
)


def _next_subid_start(path: Path) -> int:
    """The first multiple of SUBID_COUNT above every range listed in /etc/subuid or subgid."""
    top = SUBID_FLOOR
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                top = max(top, int(parts[1]) + int(parts[2]))
    return -(-top // SUBID_COUNT) * SUBID_COUNT


def _run_root_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": SYSTEM_PATH, "LANG": "C"},
    )


def create_rootless_user(name: str, home: Path) -> RootlessUser:
    """useradd a system user `name` (no home created, no login) and give it subordinate ids."""
    backups = tuple(str(p) for p in SHADOW_BACKUPS if p.exists())
    res = _run_root_tool(
        "useradd",
        "--system",
        "--no-create-home",
        f"--home-dir={home}",
        "--shell=/usr/sbin/nologin",
        "--user-group",
        name,
    )
    if res.returncode != 0:
        raise PodmanUnavailable(f"useradd {name} failed: {res.stderr.strip()}")
    entry = pwd.getpwnam(name)
    uid_start = _next_subid_start(Path("/etc/subuid"))
    gid_start = _next_subid_start(Path("/etc/subgid"))
    user = RootlessUser(
        name, entry.pw_uid, entry.pw_gid, uid_start, gid_start, backups_before=backups
    )
    res = _run_root_tool(
        "usermod",
        f"--add-subuids={uid_start}-{uid_start + SUBID_COUNT - 1}",
        f"--add-subgids={gid_start}-{gid_start + SUBID_COUNT - 1}",
        name,
    )
    if res.returncode != 0:
        remove_rootless_user(user)
        raise PodmanUnavailable(f"usermod --add-subuids for {name} failed: {res.stderr.strip()}")
    return user


def remove_rootless_user(user: RootlessUser) -> list[str]:
    """userdel the user; make sure its /etc/subuid and /etc/subgid lines are gone and that no
    backup file (/etc/passwd- ...) still names it. Other lines are left as they were.

    Returns the problems met (empty when all went well).
    """
    problems = []
    with contextlib.suppress(KeyError):
        pwd.getpwnam(user.name)
        res = _run_root_tool("userdel", user.name)
        if res.returncode != 0:
            problems.append(f"userdel {user.name}: {res.stderr.strip()}")
    # shadow's userdel removes subordinate ranges on Debian 12; older ones did not.
    for path in (Path("/etc/subuid"), Path("/etc/subgid")):
        _drop_lines(path, f"{user.name}:")
    for path in SHADOW_BACKUPS:
        left = _drop_lines(path, f"{user.name}:")
        if left == "" and str(path) not in user.backups_before:
            path.unlink()  # a backup that only our useradd made
    return problems


def _drop_lines(path: Path, prefix: str) -> str | None:
    """Remove the lines of `path` starting with `prefix`, in place (owner and mode kept);
    return what is left, or None when there is no such file."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return None
    kept = [line for line in lines if not line.startswith(prefix)]
    if kept != lines:
        path.write_text("".join(kept))
    return "".join(kept)


# --------------------------------------------------------------------------- the engine


CONTAINERS_CONF = """\
# Written by tests/podman_engine.py. With CONTAINERS_CONF set, podman reads this file only.
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# File locks under tmp_dir instead of the host-wide /dev/shm/libpod_lock.
lock_type = "file"
num_locks = 256
runtime = "runc"
tmp_dir = "{tmp}"
volume_path = "{volumes}"
static_dir = "{graph_root}/libpod"
image_copy_tmp_dir = "{tmp}"

[network]
# netavark keeps rootful state in /run/containers/networks whatever is configured; CNI keeps
# its lock in network_config_dir and runs nothing for --network none.
network_backend = "cni"
network_config_dir = "{network_config}"
"""

STORAGE_CONF = """\
# Written by tests/podman_engine.py.
[storage]
driver = "overlay"
graphroot = "{graph_root}"
runroot = "{run_root}"
{overlay_options}"""

REGISTRIES_CONF = """\
# Written by tests/podman_engine.py: no registry is searched; images only come from archives.
unqualified-search-registries = []
short-name-mode = "disabled"
"""

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'

# Runs "$@" in a private mount namespace where /var/lib is an overlay with our upper dir, so
# containers/image's root-only blob-info cache (/var/lib/containers/cache) lands there.
PRIVATE_VARLIB = (
    'mount -t overlay overlayscope-varlib -o "lowerdir=/var/lib,upperdir=$1,workdir=$2" /var/lib'
    ' && shift 2 && exec "$@"'
)


class PrivatePodman:
    """A private podman with all its state in one temporary directory.

    Use as a context manager, or call `start()` and `stop()`. `stop(keep=True)` leaves the
    directory (with the store as it was) for inspection; processes, mounts and the rootless
    user are removed either way.
    """

    def __init__(
        self,
        *,
        rootless: bool = False,
        base_dir: Path | None = None,
        mount_program: str | None = None,
        command_timeout: float = 300.0,
    ) -> None:
        self.rootless = rootless
        self.mount_program = mount_program
        self.command_timeout = command_timeout
        self._base_dir = base_dir
        self.tmp_dir: Path | None = None
        self.user: RootlessUser | None = None
        self._cgroups_before: set[Path] = set()

    # paths -----------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.tmp_dir is None:
            raise PodmanError("the private podman was never started")
        return self.tmp_dir / name

    @property
    def graph_root(self) -> Path:
        """--root: overlay/, overlay-layers/, overlay-images/, overlay-containers/, libpod/."""
        return self._path("root")

    @property
    def run_root(self) -> Path:
        """--runroot: mountpoints.json, containers' run dirs (hosts, hostname, .containerenv)."""
        return self._path("runroot")

    @property
    def libpod_tmp(self) -> Path:
        """--tmpdir: libpod's events log, exit files, locks (and pause.pid when rootless)."""
        return self._path("tmp")

    @property
    def network_config_dir(self) -> Path:
        """--network-config-dir."""
        return self._path("netconf")

    @property
    def volume_path(self) -> Path:
        """--volumepath."""
        return self._path("volumes")

    @property
    def config_dir(self) -> Path:
        """containers.conf, storage.conf, registries.conf, policy.json."""
        return self._path("config")

    @property
    def home(self) -> Path:
        """HOME (and XDG dirs below it) for every podman call."""
        return self._path("home")

    @property
    def scratch(self) -> Path:
        """Archives to load, files for the tests; readable by the rootless user."""
        return self._path("scratch")

    @property
    def varlib_upper(self) -> Path:
        """What podman wrote under /var/lib during load/import (rootful; see PRIVATE_VARLIB)."""
        return self._path("varlib/upper")

    @property
    def layers_json(self) -> Path:
        """overlay-layers/layers.json: every layer record."""
        return self.graph_root / "overlay-layers" / "layers.json"

    @property
    def images_json(self) -> Path:
        """overlay-images/images.json: every image record."""
        return self.graph_root / "overlay-images" / "images.json"

    @property
    def containers_json(self) -> Path:
        """overlay-containers/containers.json: every container record."""
        return self.graph_root / "overlay-containers" / "containers.json"

    @property
    def mountpoints_json(self) -> Path:
        """The run root's overlay-layers/mountpoints.json: mounted layers and their counts."""
        return self.run_root / "overlay-layers" / "mountpoints.json"

    @property
    def env(self) -> dict[str, str]:
        """The whole environment of every podman call: nothing from ours leaks in."""
        home = self.home
        return {
            "PATH": SYSTEM_PATH,
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "TMPDIR": str(self.libpod_tmp),
            "CONTAINERS_CONF": str(self.config_dir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.config_dir / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.config_dir / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(self.config_dir / "auth.json"),
        }

    def global_args(self) -> list[str]:
        """The options every podman call gets (they are also passed on to conmon's cleanup)."""
        args = [
            f"--root={self.graph_root}",
            f"--runroot={self.run_root}",
            f"--tmpdir={self.libpod_tmp}",
            f"--network-config-dir={self.network_config_dir}",
            f"--volumepath={self.volume_path}",
            "--storage-driver=overlay",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ]
        if self.mount_program:
            args.append(f"--storage-opt=overlay.mount_program={self.mount_program}")
        return args

    # lifecycle -------------------------------------------------------------

    def __enter__(self) -> PrivatePodman:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PrivatePodman:
        """Make the directory (and the rootless user), write the configs, check `podman info`.

        Raises PodmanUnavailable when this kind of engine cannot run here (with podman's own
        error for a rootless start that fails), PodmanError when it misbehaves.
        """
        if self.tmp_dir is not None:
            raise PodmanError("the private podman is already started")
        reason = rootless_unavailable_reason() if self.rootless else podman_unavailable_reason()
        if reason is not None:
            raise PodmanUnavailable(reason)
        base = self._base_dir
        if base is None:
            base, why = choose_base_dir()
            if base is None:
                raise PodmanUnavailable(why)
        self._cgroups_before = set(_libpod_cgroups())
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="overlayscope-podman-", dir=base))
        try:
            self._prepare()
            self._check_private(self.info())
        except BaseException as e:
            with contextlib.suppress(Exception):
                self.stop()
            if (
                self.rootless
                and isinstance(e, PodmanError)
                and not isinstance(e, PodmanUnavailable)
            ):
                raise PodmanUnavailable(f"rootless podman does not run here: {e}") from e
            raise
        return self

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        for d in (
            "root",
            "runroot",
            "tmp",
            "netconf",
            "volumes",
            "config",
            "scratch",
            "home/.config/containers",
            "home/.local/share",
            "home/.cache",
            "home/run",
        ):
            self._path(d).mkdir(mode=0o700, parents=True)
        if not self.rootless:
            self._path("varlib/upper").mkdir(parents=True)
            self._path("varlib/work").mkdir()
        values = {
            "tmp": self.libpod_tmp,
            "volumes": self.volume_path,
            "graph_root": self.graph_root,
            "run_root": self.run_root,
            "network_config": self.network_config_dir,
            "overlay_options": (
                f'\n[storage.options.overlay]\nmount_program = "{self.mount_program}"\n'
                if self.mount_program
                else ""
            ),
        }
        (self.config_dir / "containers.conf").write_text(CONTAINERS_CONF.format(**values))
        (self.config_dir / "storage.conf").write_text(STORAGE_CONF.format(**values))
        (self.config_dir / "registries.conf").write_text(REGISTRIES_CONF)
        (self.config_dir / "policy.json").write_text(POLICY_JSON)
        # podman stats REGISTRY_AUTH_FILE on run/create when it is set.
        (self.config_dir / "auth.json").write_text('{"auths": {}}\n')
        # Rootless podman reads $XDG_CONFIG_HOME/containers/policy.json; root gets the
        # --signature-policy option on load and import.
        (self.home / ".config" / "containers" / "policy.json").write_text(POLICY_JSON)
        if self.rootless:
            name = "ospm-" + self.tmp_dir.name.rsplit("-", 1)[-1].lower()[:20]
            self.user = create_rootless_user(name, self.home)
            for dirpath, dirnames, filenames in os.walk(self.tmp_dir):
                for n in (".", *dirnames, *filenames):
                    os.chown(os.path.join(dirpath, n), self.user.uid, self.user.gid)

    def _check_private(self, info: dict[str, Any]) -> None:
        """Every path podman reports must lie in our directory."""
        assert self.tmp_dir is not None
        store = info["store"]
        paths = {
            "graphRoot": store.get("graphRoot"),
            "runRoot": store.get("runRoot"),
            "volumePath": store.get("volumePath"),
            "imageCopyTmpDir": store.get("imageCopyTmpDir"),
            "configFile": store.get("configFile"),
        }
        bad = {k: v for k, v in paths.items() if not v or not Path(v).is_relative_to(self.tmp_dir)}
        if bad:
            raise PodmanError(f"podman info shows paths outside {self.tmp_dir}: {bad}")
        if info["store"].get("graphDriverName") != "overlay":
            raise PodmanError(f"podman runs {info['store'].get('graphDriverName')}, not overlay")
        if bool(info["host"]["security"].get("rootless")) != self.rootless:
            raise PodmanError(f"podman info says rootless={info['host']['security']['rootless']}")

    def stop(self, keep: bool = False) -> None:
        """Remove every container, end our processes, unmount, remove the rootless user, and
        delete the directory unless `keep`. Idempotent; raises PodmanError listing what could
        not be cleaned (after trying everything)."""
        if self.tmp_dir is None:
            return
        problems: list[str] = []
        if self.graph_root.is_dir():
            try:
                self._remove_containers(keep)
            except Exception as e:  # cleanup goes on whatever happens
                problems.append(f"removing containers: {e}")
        problems += self._end_processes()
        for m in mounts_under(self.tmp_dir):
            res = _run_root_tool("umount", "-l", str(m.mount_point))
            if res.returncode != 0:
                problems.append(f"umount -l {m.mount_point}: {res.stderr.strip()}")
        still = mounts_under(self.tmp_dir)
        if still:
            problems.append("still mounted: " + ", ".join(str(m.mount_point) for m in still))
        problems += self._remove_cgroups()
        if self.user is not None:
            problems += remove_rootless_user(self.user)
            self.user = None
        if not still and not keep:
            shutil.rmtree(self.tmp_dir, ignore_errors=False)
            self.tmp_dir = None
        if problems:
            raise PodmanError("private podman cleanup: " + "; ".join(problems))

    def _remove_containers(self, keep: bool) -> None:
        if keep:
            ids = self.podman("ps", "--quiet", "--no-trunc", timeout=60).split()
            if ids:
                self.podman("kill", *ids, timeout=60)
            return
        self.podman("rm", "--all", "--force", "--time=0", timeout=120)
        if self.rootless:
            self._unmount_in_userns()

    def _unmount_in_userns(self) -> None:
        """Rootless mounts live in the pause process's mount namespace: unmount ours there."""
        pause = self._pause_pid()
        if pause is None:
            return
        marker = str(self.tmp_dir)
        try:
            lines = Path(f"/proc/{pause}/mountinfo").read_text().splitlines()
        except OSError:
            return
        points = [line.split()[4] for line in lines if line.split()[4].startswith(marker)]
        for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
            _run_root_tool("nsenter", f"--target={pause}", "--mount", "umount", "-l", point)

    def _pause_pid(self) -> int | None:
        try:
            pid = int((self.libpod_tmp / "pause.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def processes(self) -> list[int]:
        """Processes naming our directory (conmon, podman cleanup, fuse-overlayfs) and, when
        rootless, every process of the throwaway user or its subordinate uids."""
        assert self.tmp_dir is not None
        marker = str(self.tmp_dir)
        pids = {p for p in _all_pids() if p != os.getpid() and marker in _cmdline(p)}
        if self.user is not None:
            for p in _all_pids():
                with contextlib.suppress(OSError):
                    if self.user.maps_host_uid(os.stat(f"/proc/{p}").st_uid):
                        pids.add(p)
        return sorted(p for p in pids if _pid_alive(p))

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until no `podman container cleanup` of ours runs (conmon starts one when a
        container exits; it unmounts the rootfs and records the exit). True if none is left."""
        if self.tmp_dir is None:
            return True
        deadline = time.monotonic() + timeout
        while any("container cleanup" in _cmdline(p) for p in self.processes()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _end_processes(self) -> list[str]:
        self.settle(timeout=10)
        leftovers = self.processes()
        if not leftovers:
            return []
        # Container inits first: killing a pid namespace's init ends the namespace.
        inits = [k for p in leftovers for k in _children(p) if k not in leftovers]
        left = _terminate(inits + leftovers, 10)
        return [f"processes survived: {left}"] if left else []

    def _remove_cgroups(self) -> list[str]:
        """rmdir the cgroupfs dirs (libpod_parent/...) that appeared since start, if empty."""
        problems = []
        for cg in sorted(
            set(_libpod_cgroups()) - self._cgroups_before, key=lambda p: -len(p.parts)
        ):
            try:
                cg.rmdir()
            except FileNotFoundError:
                pass
            except OSError as e:
                # Another private podman of this session may still have containers there.
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    problems.append(f"rmdir {cg}: {e}")
        return problems

    # commands --------------------------------------------------------------

    def _command(self, args: Sequence[str], private_varlib: bool = False) -> list[str]:
        cmd = ["podman", *self.global_args(), *args]
        if private_varlib and not self.rootless:
            cmd = [
                "unshare",
                "--mount",
                "--propagation=private",
                "--",
                "sh",
                "-c",
                PRIVATE_VARLIB,
                "sh",
                str(self.varlib_upper),
                str(self._path("varlib/work")),
                *cmd,
            ]
        return cmd

    def run_podman(
        self,
        *args: str,
        input: bytes | str | None = None,
        timeout: float | None = None,
        private_varlib: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run podman with our options and environment (as the rootless user if any); the
        completed process, whatever its exit code."""
        data = input.encode() if isinstance(input, str) else input
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        return subprocess.run(
            self._command(args, private_varlib),
            input=data,
            capture_output=True,
            env=self.env,
            cwd=self.tmp_dir,
            timeout=timeout or self.command_timeout,
            check=False,
            **kwargs,
        )

    def podman(
        self,
        *args: str,
        input: bytes | str | None = None,
        timeout: float | None = None,
        private_varlib: bool = False,
    ) -> str:
        """Run podman; return stdout, raise PodmanError (with stderr) on a non-zero exit."""
        res = self.run_podman(*args, input=input, timeout=timeout, private_varlib=private_varlib)
        if res.returncode != 0:
            raise PodmanError(
                f"podman {' '.join(args)} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
                + ("\n" + res.stdout.decode(errors="replace").strip() if res.stdout else "")
            )
        return res.stdout.decode(errors="replace")

    def write_scratch(self, name: str, data: bytes) -> Path:
        """Write `data` to scratch/<name> (owned by the rootless user if any); return the path."""
        path = self.scratch / name
        path.write_bytes(data)
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)
        return path

    def load(self, archive: bytes, name: str = "image") -> list[str]:
        """`podman load` a docker-save or OCI archive; return the names podman reports."""
        path = self.write_scratch(f"{name}.tar", archive)
        out = self.podman(
            "load",
            f"--input={path}",
            f"--signature-policy={self.config_dir / 'policy.json'}",
            private_varlib=True,
        )
        path.unlink()
        return [
            line.removeprefix("Loaded image: ").strip()
            for line in out.splitlines()
            if line.startswith("Loaded image")
        ]

    def import_tarball(self, tar: bytes, name: str, changes: Sequence[str] = ()) -> str:
        """`podman import` a rootfs tarball as `name`; return the image id (sha256:...)."""
        path = self.write_scratch("import.tar", tar)
        args = ["import", "--quiet", f"--signature-policy={self.config_dir / 'policy.json'}"]
        for change in changes:
            args.append(f"--change={change}")
        out = self.podman(*args, str(path), name, private_varlib=True)
        path.unlink()
        return out.strip().splitlines()[-1]

    def run(
        self,
        image: str,
        cmd: Sequence[str] = (),
        *,
        name: str | None = None,
        detach: bool = True,
        extra: Sequence[str] = (),
    ) -> str:
        """`podman run` (no network, no pull); the container id (detached) or its stdout."""
        args = ["run", *RUN_FLAGS, *(["--detach"] if detach else [])]
        if name:
            args.append(f"--name={name}")
        out = self.podman(*args, *extra, image, *cmd)
        return out.strip() if detach else out

    def create(self, image: str, cmd: Sequence[str] = (), *, name: str | None = None) -> str:
        """`podman create` (no network, no pull); the container id."""
        args = ["create", *RUN_FLAGS, *([f"--name={name}"] if name else [])]
        return self.podman(*args, image, *cmd).strip()

    def exec(self, container: str, cmd: Sequence[str]) -> str:
        """`podman exec`; its stdout."""
        return self.podman("exec", container, *cmd)

    def wait(self, container: str) -> int:
        """`podman wait`; the exit code."""
        return int(self.podman("wait", container).strip().splitlines()[-1])

    # oracles ---------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """`podman info --format json`."""
        result: dict[str, Any] = json.loads(self.podman("info", "--format=json"))
        return result

    def diff(self, obj: str) -> list[dict[str, str]]:
        """`podman diff` of a container (against its image) or an image (against its parent
        layer), as sorted [{"kind": "A"|"C"|"D", "path": ...}]."""
        res = self.run_podman("diff", "--format=json", obj)
        if res.returncode != 0 and b"format" in res.stderr:
            return parse_diff(self.podman("diff", obj))  # a podman without --format json
        if res.returncode != 0:
            raise PodmanError(f"podman diff {obj}: {res.stderr.decode(errors='replace')}")
        return parse_diff(res.stdout.decode())

    def inspect(self, *objects: str, size: bool = False, kind: str = "") -> list[dict[str, Any]]:
        """`podman inspect [--size] [--type kind]` parsed (size only applies to containers)."""
        args = ["inspect", *(["--size"] if size else []), *([f"--type={kind}"] if kind else [])]
        result: list[dict[str, Any]] = json.loads(self.podman(*args, *objects))
        return result

    def images(self) -> list[dict[str, Any]]:
        """`podman images --all --format json` (Size, SharedSize, VirtualSize, Names...)."""
        result: list[dict[str, Any]] = json.loads(self.podman("images", "--all", "--format=json"))
        return result

    def containers(self) -> list[dict[str, Any]]:
        """`podman ps --all --size --format json` (Size: rwSize, rootFsSize)."""
        out = self.podman("ps", "--all", "--size", "--format=json")
        result: list[dict[str, Any]] = json.loads(out)
        return result

    def system_df(self) -> list[dict[str, Any]]:
        """`podman system df` summary: one row per Type (Images, Containers, Local Volumes)
        with Total, Active, and Size / Reclaimable in bytes (the `{{json .}}` template gives
        raw numbers where the table gives rounded ones)."""
        out = self.podman("system", "df", "--format={{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def system_df_v(self) -> dict[str, Any]:
        """`podman system df -v`: {"json": its `--format json` output where podman has one,
        else None; "text": the table; "rows": the table parsed by parse_system_df_v}.

        podman 4.3 has no JSON for -v: it ignores --format there and prints the table, whose
        sizes are go-units strings (see human_size).
        """
        res = self.run_podman("system", "df", "--verbose", "--format=json")
        parsed: Any = None
        if res.returncode == 0:
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(res.stdout)
        text = self.podman("system", "df", "--verbose")
        return {"json": parsed, "text": text, "rows": parse_system_df_v(text)}

    def store_records(self) -> dict[str, Any]:
        """The containers/storage JSON records as they are on disk now, keyed by their path
        relative to the graph root (or `runroot/...` for the run root's)."""
        records: dict[str, Any] = {}
        for path in (self.layers_json, self.images_json, self.containers_json):
            with contextlib.suppress(FileNotFoundError):
                records[str(path.relative_to(self.graph_root))] = json.loads(path.read_text())
        for path in sorted(self.run_root.glob("overlay-*/*.json")):
            records["runroot/" + str(path.relative_to(self.run_root))] = json.loads(
                path.read_text()
            )
        return records


def _libpod_cgroups() -> list[Path]:
    """cgroupfs dirs podman makes with --cgroup-manager=cgroupfs (libpod_parent and below)."""
    found: list[Path] = []
    root = Path("/sys/fs/cgroup")
    for top in [root, *(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []:
        parent = top / "libpod_parent"
        if parent.is_dir():
            found.append(parent)
            found += [p for p in parent.iterdir() if p.is_dir()]
    return found
