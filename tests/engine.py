"""A private Docker engine for the tests, the snapshot capture and the benchmarks.

`PrivateEngine` starts its own `dockerd` with every path (data root, exec root, pid file, socket,
daemon.json, CLI config) inside one temporary directory, so it never touches the host's default
daemon, `/var/run/docker.sock` or `/var/lib/docker`. Stopping it removes its containers, ends its
processes by pid, unmounts whatever it left mounted and deletes the directory.

Also here: `engine_unavailable_reason()` (why no engine can run on this machine), the busybox
rootfs used as the base image (no registry is reachable), and `unpack_snapshot()` for the
captured data root under `fixtures/snapshot/`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import docker

# Host paths a private engine must never use; tests assert they stay untouched.
HOST_DOCKER_PATHS = (
    Path("/var/run/docker.sock"),
    Path("/run/docker.sock"),
    Path("/var/lib/docker"),
)

BUSYBOX_CANDIDATES = (Path("/usr/bin/busybox"), Path("/bin/busybox"))
# Base dirs tried in order for the engine's temporary directory (first one that works wins).
BASE_DIR_CANDIDATES = (Path("/var/tmp"), Path("/tmp"))
# Backing filesystems on which overlay2 refuses to run (or runs badly) as the upper layer.
UNSUITABLE_FSTYPES = frozenset({"overlay", "aufs", "ecryptfs", "zfs", "nfs", "nfs4", "cifs"})
# Fixed mtime for generated tarballs so the base layer's diffID is the same on every run.
FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z

ENV_BASE_DIR = "OVERLAYSCOPE_ENGINE_BASE"


class EngineError(RuntimeError):
    """The private engine failed to start, stop, or run a command."""


class EngineUnavailable(EngineError):
    """No private engine can run on this machine; the message says why."""


# --------------------------------------------------------------------------- mount table


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo (only the fields we need)."""

    mount_point: Path
    fstype: str
    source: str


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_mounts() -> list[Mount]:
    """Parse /proc/self/mountinfo, in kernel order (later lines stack on earlier ones)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        mounts.append(
            Mount(Path(_unescape_mountinfo(fields[4])), tail[0], _unescape_mountinfo(tail[1]))
        )
    return mounts


def mounts_under(root: Path) -> list[Mount]:
    """Mounts at or below `root`, deepest first (the order to unmount them in)."""
    root = root.resolve()
    found = [m for m in read_mounts() if m.mount_point == root or root in m.mount_point.parents]
    return sorted(found, key=lambda m: len(m.mount_point.parts), reverse=True)


def fstype_of(path: Path) -> str:
    """The filesystem type holding `path` (the last, i.e. topmost, mount covering it)."""
    path = path.resolve()
    best: Mount | None = None
    for m in read_mounts():
        if (m.mount_point == path or m.mount_point in path.parents) and (
            best is None or len(m.mount_point.parts) >= len(best.mount_point.parts)
        ):
            best = m
    return best.fstype if best else "unknown"


# --------------------------------------------------------------------------- availability


def find_busybox() -> Path | None:
    """A statically linked busybox (busybox-static), or None."""
    for candidate in BUSYBOX_CANDIDATES:
        if candidate.is_file() and _is_static_elf(candidate):
            return candidate
    return None


def _is_static_elf(path: Path) -> bool:
    # A dynamic busybox would not run in a rootfs without libc: look for a PT_INTERP header.
    with path.open("rb") as f:
        ident = f.read(64)
        if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2:  # 64-bit only
            return False
        endian = "<" if ident[5] == 1 else ">"
        (phoff,) = struct.unpack_from(endian + "Q", ident, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def _supports_trusted_xattrs(directory: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=directory) as f:
            os.setxattr(f.name, "trusted.overlayscope.probe", b"y")
            return os.getxattr(f.name, "trusted.overlayscope.probe") == b"y"
    except OSError:
        return False


def choose_base_dir() -> tuple[Path | None, str]:
    """Pick a directory whose filesystem can hold an overlay2 data root.

    Returns (dir, "") or (None, why none fits). `$OVERLAYSCOPE_ENGINE_BASE` overrides the
    candidates. tmpfs is accepted only when nothing better exists: it works on recent kernels,
    but a disk-backed dir behaves like a real host.
    """
    override = os.environ.get(ENV_BASE_DIR)
    candidates = [Path(override)] if override else list(BASE_DIR_CANDIDATES)
    problems, fallback = [], None
    for candidate in candidates:
        if not candidate.is_dir():
            problems.append(f"{candidate}: not a directory")
            continue
        fstype = fstype_of(candidate)
        if fstype in UNSUITABLE_FSTYPES:
            problems.append(f"{candidate}: on {fstype}, which overlay2 cannot use as upper")
            continue
        if not _supports_trusted_xattrs(candidate):
            problems.append(f"{candidate}: no trusted.* xattrs ({fstype})")
            continue
        if fstype == "tmpfs":
            fallback = fallback or candidate
            continue
        return candidate, ""
    if fallback is not None:
        return fallback, ""
    return None, "no directory can hold an overlay2 data root: " + "; ".join(problems)


def engine_unavailable_reason() -> str | None:
    """Why no private engine can run here, or None when one can."""
    if os.geteuid() != 0:
        return "not root: a private dockerd needs root (mounts, namespaces, xattrs)"
    if shutil.which("dockerd") is None:
        return "no dockerd binary on PATH (apt-get install docker.io)"
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    if find_busybox() is None:
        return "no static busybox for the base image (apt-get install busybox-static)"
    filesystems = Path("/proc/filesystems").read_text().split()
    if "overlay" not in filesystems:
        return "the kernel has no overlay filesystem (overlay not in /proc/filesystems)"
    base, why = choose_base_dir()
    if base is None:
        return why
    return None


# --------------------------------------------------------------------------- tarballs


def _tar_add(tar: tarfile.TarFile, info: tarfile.TarInfo, data: bytes | None = None) -> None:
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _tar_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    _tar_add(tar, info)


def _tar_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    _tar_add(tar, info, data)


def busybox_rootfs_tar(busybox: Path | None = None) -> bytes:
    """A minimal rootfs tarball: /bin/busybox, a symlink per applet, /etc/passwd, /tmp.

    Deterministic (fixed mtimes, sorted entries), so the imported layer's diffID is stable for a
    given busybox binary. No /etc/hosts: Docker bind-mounts its own.
    """
    busybox = busybox or find_busybox()
    if busybox is None:
        raise EngineUnavailable("no static busybox found")
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    dirs = {"bin", "etc", "root", "tmp"} | {str(Path(a).parent) for a in applets}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs):
            _tar_dir(tar, d, {"tmp": 0o1777, "root": 0o700}.get(d, 0o755))
        _tar_file(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in sorted(set(applets) - {"bin/busybox"}):
            info = tarfile.TarInfo(applet)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "/bin/busybox", 0o777
            _tar_add(tar, info)
        _tar_file(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        _tar_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def build_context_tar(dockerfile: str, files: Mapping[str, bytes] | None = None) -> bytes:
    """A build context tarball holding `Dockerfile` and `files` (fixed mtimes, mode 0644)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_file(tar, "Dockerfile", dockerfile.encode())
        for name, data in sorted((files or {}).items()):
            _tar_file(tar, name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as gone: it holds no mounts and does nothing.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _children(pid: int) -> list[int]:
    kids = []
    for p in _all_pids():
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            kids.append(p)
    return kids


def _terminate(pids: Iterable[int], timeout: float) -> list[int]:
    """SIGTERM `pids`, wait up to `timeout`, SIGKILL the rest; return those still alive."""
    pids = [p for p in pids if _pid_alive(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if _pid_alive(p)]
        if not pids:
            break
    return pids


def _ping_unix(sock_path: Path, timeout: float = 2.0) -> bool:
    # A raw /_ping needs no API version, unlike docker.DockerClient(version="auto").
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock_path))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = s.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _dockerd_help() -> str:
    return subprocess.run(["dockerd", "--help"], capture_output=True, text=True, check=False).stdout


def _dockerd_major_version() -> int:
    """dockerd's major version ("Docker version 20.10.24+dfsg1, build ..." -> 20), 0 if unknown."""
    out = subprocess.run(
        ["dockerd", "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"version (\d+)\.", out)
    return int(match.group(1)) if match else 0


# --------------------------------------------------------------------------- the engine


class PrivateEngine:
    """A private dockerd with all its state in one temporary directory.

    Use as a context manager, or call `start()` and `stop()`. `stop(keep=True)` leaves the
    directory (and the containers in the data root) for inspection.
    """

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        debug: bool = False,
        storage_driver: str = "overlay2",
    ) -> None:
        self._base_dir = base_dir
        self.storage_driver = storage_driver
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.debug = debug
        self.tmp_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None
        self._containerd_pid: int | None = None
        self._log_file: Any = None
        self._counter = 0

    # paths -----------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.tmp_dir is None:
            raise EngineError("the engine was never started")
        return self.tmp_dir / name

    @property
    def data_root(self) -> Path:
        """The daemon's --data-root (holds overlay2/, image/, containers/)."""
        return self._path("root")

    @property
    def exec_root(self) -> Path:
        """The daemon's --exec-root (its containerd, runtime state, netns files)."""
        return self._path("exec")

    @property
    def socket_path(self) -> Path:
        """The daemon's unix socket."""
        return self._path("docker.sock")

    @property
    def host(self) -> str:
        """DOCKER_HOST for this engine: unix://<tmp>/docker.sock."""
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        """dockerd's stdout and stderr."""
        return self._path("dockerd.log")

    @property
    def pid(self) -> int | None:
        """dockerd's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def containerd_pid(self) -> int | None:
        """The pid of the containerd that dockerd started for itself, if known."""
        return self._containerd_pid

    @property
    def client(self) -> docker.DockerClient:
        """A docker SDK client for this engine (API version negotiated: dockerd 20.10 is 1.41)."""
        if self._client is None:
            raise EngineError("the engine is not running")
        return self._client

    @property
    def env(self) -> dict[str, str]:
        """os.environ pointed at this engine, for the docker CLI (classic builder)."""
        env = dict(os.environ)
        for var in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            env.pop(var, None)
        env.update(
            DOCKER_HOST=self.host,
            DOCKER_BUILDKIT="0",
            # Keep the CLI's config (contexts, credentials) away from ~/.docker.
            DOCKER_CONFIG=str(self._path("cli-config")),
        )
        return env

    # lifecycle -------------------------------------------------------------

    def __enter__(self) -> PrivateEngine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PrivateEngine:
        """Start dockerd and wait until it answers; raise EngineUnavailable or EngineError."""
        if self._proc is not None:
            raise EngineError("the engine is already running")
        reason = engine_unavailable_reason()
        if reason is not None:
            raise EngineUnavailable(reason)
        base = self._base_dir
        if base is None:
            base, why = choose_base_dir()
            if base is None:
                raise EngineUnavailable(why)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="overlayscope-engine-", dir=base))
        for d in ("root", "exec", "cli-config", "scratch"):
            self._path(d).mkdir(mode=0o700)
        # Our own daemon.json, so a host /etc/docker/daemon.json cannot leak in.
        config: dict[str, str] = {}
        if _dockerd_major_version() < 24:
            # Docker < 24 otherwise writes its trust key to /etc/docker/key.json on the host;
            # the option exists only in daemon.json (no such command-line flag).
            config["deprecated-key-path"] = str(self._path("key.json"))
        self._path("daemon.json").write_text(json.dumps(config) + "\n")

        help_text = _dockerd_help()
        args = [
            "dockerd",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self._path('docker.pid')}",
            f"--host={self.host}",
            f"--config-file={self._path('daemon.json')}",
            f"--storage-driver={self.storage_driver}",
            "--bridge=none",
            "--iptables=false",
        ]
        if "--ip6tables" in help_text:
            args.append("--ip6tables=false")
        if self.debug:
            args.append("--debug")

        self._log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C to pytest must not kill dockerd before we clean up.
            start_new_session=True,
        )
        try:
            self._wait_ready()
            self._client = docker.DockerClient(base_url=self.host, version="auto", timeout=300)
            self._containerd_pid = self._read_containerd_pid()
        except BaseException:
            self.stop(keep=self.debug)
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EngineError(
                    f"dockerd exited with code {self._proc.returncode} during start-up\n"
                    + self.log_tail()
                )
            if self.socket_path.exists() and _ping_unix(self.socket_path):
                return
            time.sleep(0.1)
        raise EngineError(
            f"dockerd did not answer on {self.socket_path} within {self.start_timeout:.0f}s\n"
            + self.log_tail()
        )

    def _read_containerd_pid(self) -> int | None:
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        for _ in range(50):
            try:
                return int(pidfile.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.1)
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of dockerd's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no dockerd log)"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def stop(self, keep: bool = False) -> None:
        """Stop the engine and clean up; idempotent.

        Removes every container (force), unless `keep`, in which case running containers are
        killed but stay in the data root. Then SIGTERM dockerd (SIGKILL after `stop_timeout`),
        make sure its containerd and shims are gone, lazily unmount everything under the
        temporary dir, deepest first, and delete the dir unless `keep`.
        """
        if self.tmp_dir is None:
            return
        problems: list[str] = []
        if self._client is not None and self._proc is not None and self._proc.poll() is None:
            try:
                self._remove_containers(keep)
            except Exception as e:  # cleanup goes on whatever happens
                problems.append(f"removing containers: {e}")
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            left = _terminate([self._proc.pid], self.stop_timeout)
            if left:
                problems.append(f"dockerd pid {self._proc.pid} survived SIGKILL")
            self._proc.wait(timeout=5)  # reap it
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        leftovers = self._our_processes()
        if leftovers:
            # Container inits first: killing a pid namespace's init ends the namespace.
            inits = [k for p in leftovers for k in _children(p) if k not in leftovers]
            left = _terminate(inits + leftovers, 10)
            if left:
                problems.append(f"processes survived: {left}")
        for m in mounts_under(self.tmp_dir):
            res = subprocess.run(
                ["umount", "-l", str(m.mount_point)], capture_output=True, text=True, check=False
            )
            if res.returncode != 0:
                problems.append(f"umount -l {m.mount_point}: {res.stderr.strip()}")
        still = mounts_under(self.tmp_dir)
        if still:
            problems.append("still mounted: " + ", ".join(str(m.mount_point) for m in still))
        elif not keep:
            shutil.rmtree(self.tmp_dir, ignore_errors=False)
            self.tmp_dir = None
        if problems:
            raise EngineError("private engine cleanup: " + "; ".join(problems))

    def _remove_containers(self, keep: bool) -> None:
        for container in self.client.containers.list(all=True):
            if keep:
                if container.status in ("running", "paused", "restarting"):
                    container.kill()
            else:
                container.remove(force=True)

    def _our_processes(self) -> list[int]:
        """Processes (containerd, shims) whose command line names our temporary dir."""
        assert self.tmp_dir is not None
        marker = str(self.tmp_dir)
        pids = {p for p in _all_pids() if p != os.getpid() and marker in _cmdline(p)}
        if self._containerd_pid is not None and _pid_alive(self._containerd_pid):
            pids.add(self._containerd_pid)
        return sorted(pids)

    # commands --------------------------------------------------------------

    def docker(self, *args: str, input: bytes | str | None = None, timeout: float = 600) -> str:
        """Run the docker CLI against this engine; return stdout, raise EngineError on failure."""
        data = input.encode() if isinstance(input, str) else input
        res = subprocess.run(
            ["docker", *args],
            input=data,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise EngineError(
                f"docker {' '.join(args)} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
                + ("\n" + res.stdout.decode(errors="replace").strip() if res.stdout else "")
            )
        return res.stdout.decode(errors="replace")

    def import_base(self, tag: str) -> str:
        """`docker import` a busybox rootfs as `tag`; return the image id (sha256:...).

        The image gets `CMD ["sh"]` like the official busybox image, so `docker create IMAGE`
        works without a command.
        """
        return self.docker(
            "import", "--change", 'CMD ["sh"]', "-", tag, input=busybox_rootfs_tar()
        ).strip()

    def build(
        self, tag: str | None, dockerfile: str, files: Mapping[str, bytes] | None = None
    ) -> str:
        """Build with the classic builder (no network) from an in-memory context; return the id."""
        self._counter += 1
        iidfile = self._path("scratch") / f"iid-{self._counter}"
        args = ["build", "--network=none", "--force-rm", f"--iidfile={iidfile}"]
        if tag:
            args.append(f"--tag={tag}")
        self.docker(*args, "-", input=build_context_tar(dockerfile, files))
        return iidfile.read_text().strip()

    def run(
        self,
        image: str,
        cmd: Sequence[str] = (),
        *,
        name: str | None = None,
        detach: bool = True,
        extra: Sequence[str] = (),
    ) -> str:
        """`docker run --network none`; return the container id (detached) or its stdout."""
        args = ["run", "--network=none"]
        if detach:
            args.append("--detach")
        if name:
            args.append(f"--name={name}")
        out = self.docker(*args, *extra, image, *cmd)
        return out.strip() if detach else out

    def inspect(self, *objects: str, size: bool = False) -> list[dict[str, Any]]:
        """`docker inspect [--size]` parsed."""
        args = ["inspect", *(["--size"] if size else []), *objects]
        result: list[dict[str, Any]] = json.loads(self.docker(*args))
        return result


# --------------------------------------------------------------------------- snapshots


def unpack_snapshot(archive: Path, dest: Path) -> Path:
    """Unpack a captured data root with GNU tar, keeping xattrs, owners and device nodes.

    Needs root (whiteouts are char devices, opaque dirs carry trusted.* xattrs). Returns `dest`.
    """
    dest.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-xpf",
            str(archive),
            "-C",
            str(dest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise EngineError(f"unpacking {archive} failed: {res.stderr.strip()}")
    return dest


@dataclass(frozen=True)
class CapturedRoot:
    """An unpacked captured data root and the engine's answers about it."""

    path: Path  # the unpacked data root
    answers: dict[str, Any]  # fixtures/snapshot/answers.json
    capture_data_root: Path  # the data root's path when it was captured

    def here(self, capture_path: str | Path) -> Path:
        """Map a path from capture time (e.g. a GraphDriver UpperDir) into the unpacked root."""
        return self.path / Path(capture_path).relative_to(self.capture_data_root)
