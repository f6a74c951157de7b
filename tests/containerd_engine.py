"""A private containerd for the tests and the containerd capture.

`PrivateContainerd` starts its own `containerd` with every path (root, state, temp dir, sockets,
the opt plugin's dir) inside one temporary directory, from a config generated out of
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
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.engine import (
    FIXED_MTIME,
    EngineError,
    EngineUnavailable,
    _all_pids,
    _children,
    _cmdline,
    _terminate,
    busybox_rootfs_tar,
    choose_base_dir,
    find_busybox,
    mounts_under,
)

# Host paths a private containerd must never use; tests assert they stay untouched.
HOST_CONTAINERD_PATHS = (
    Path("/run/containerd"),
    Path("/run/containerd/containerd.sock"),
    Path("/var/lib/containerd"),
    Path("/var/run/containerd"),
)

SNAPSHOTTER = "overlayfs"
RUNC_RUNTIME = "io.containerd.runc.v2"
# Plugins that would read or write host paths, or that we have no use for: the CRI plugin
# (/etc/cni, /opt/cni, /var/run/netns, its own pod network), the other snapshotters (each would
# make its own dir in root; btrfs/zfs/devmapper probe host devices). The legacy v1 runtime
# stays: containerd 1.6's tasks service refuses to load without it (its state is under ours).
DISABLED_PLUGINS = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.native",
    "io.containerd.snapshotter.v1.zfs",
)
# Docker's and CRI's namespaces inside containerd.
MOBY_NAMESPACE = "moby"
K8S_NAMESPACE = "k8s.io"
# CRI's type URL of an OCI runtime spec in a container record, and runc's options message.
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"
# A label set on a content blob or snapshot that the garbage collector must treat as a root.
GC_ROOT_LABEL = "containerd.io/gc.root"
# The GC scheduler's pause threshold: interval between automatic collections =
# average collection time / threshold, so 1e-9 means weeks (see containerd_config).
GC_PAUSE_THRESHOLD = 1e-9

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# Image history "created" stamps: fixed, so config digests are the same on every run.
FIXED_CREATED = "2000-01-01T00:00:00Z"
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
SLEEP_FOREVER = ("sleep", "2147483647")
# The temporary dir's layout: containerd's root and state, its TMPDIR, the opt plugin's dir,
# what its mount namespace sees as /run, the harness's own files, and a Docker 29 data root
# and exec root beside containerd's root (as /var/lib/docker beside /var/lib/containerd).
DIRS = ("containerd", "state", "tmp", "opt", "run", "scratch", "docker", "docker-exec")


class ContainerdError(EngineError):
    """The private containerd failed to start, stop, or run a command."""


# --------------------------------------------------------------------------- availability


def containerd_unavailable_reason() -> str | None:
    """Why no private containerd can run here, or None when one can."""
    if os.geteuid() != 0:
        return "not root: a private containerd needs root (mounts, namespaces, xattrs)"
    for binary, package in (
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("runc", "runc"),
        ("unshare", "util-linux"),
    ):
        if shutil.which(binary) is None:
            return f"no {binary} on PATH (apt-get install {package})"
    if find_busybox() is None:
        return "no static busybox for the base image (apt-get install busybox-static)"
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        return "the kernel has no overlay filesystem (overlay not in /proc/filesystems)"
    try:
        import grpc  # noqa: F401  (only checking that it is installed)
    except ImportError:
        return "no grpcio in this Python (pip install -e '.[test]')"
    base, why = choose_base_dir()
    if base is None:
        return why
    return None


def containerd_version() -> str:
    """`containerd --version`'s version field ("1.6.20~ds1"), or "" when unknown."""
    out = subprocess.run(
        ["containerd", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return out[2] if len(out) >= 3 else ""


# --------------------------------------------------------------------------- config (TOML)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string as long as no surrogate escapes appear.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: Mapping[str, Any]) -> str:
    """Write nested dicts of scalars and lists as TOML (enough for containerd's config)."""
    lines: list[str] = []

    def table(prefix: tuple[str, ...], tbl: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in tbl.items() if not isinstance(v, Mapping)]
        subtables = [(k, v) for k, v in tbl.items() if isinstance(v, Mapping)]
        if prefix:
            lines.append("")
            lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for k, v in subtables:
            table((*prefix, k), v)

    table((), data)
    return "\n".join(lines) + "\n"


def containerd_config(tmp_dir: Path) -> dict[str, Any]:
    """`containerd config default` with every path moved under `tmp_dir`.

    Also: the CRI plugin and unused plugins disabled, the debug and metrics listeners off,
    the ocicrypt stream processors (which name /etc/containerd) dropped, and the garbage
    collector made to run only when asked for (`--sync` deletes): with the default scheduler a
    deleted image's blobs, the scenario's deliberate garbage, would vanish within a second.
    """
    res = subprocess.run(
        ["containerd", "config", "default"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise ContainerdError(f"containerd config default failed: {res.stderr.strip()}")
    config = tomllib.loads(res.stdout)
    config["root"] = str(tmp_dir / "containerd")
    config["state"] = str(tmp_dir / "state")
    config["temp"] = str(tmp_dir / "tmp")
    config["disabled_plugins"] = list(DISABLED_PLUGINS)
    config["required_plugins"] = [f"io.containerd.snapshotter.v1.{SNAPSHOTTER}"]
    config["grpc"]["address"] = str(tmp_dir / "containerd.sock")
    config["grpc"]["tcp_address"] = ""
    config.setdefault("ttrpc", {})["address"] = str(tmp_dir / "containerd.sock.ttrpc")
    config.setdefault("debug", {})["address"] = ""
    config.setdefault("metrics", {})["address"] = ""
    plugins = config.setdefault("plugins", {})
    for name in DISABLED_PLUGINS:
        plugins.pop(name, None)
    plugins.setdefault("io.containerd.internal.v1.opt", {})["path"] = str(tmp_dir / "opt")
    plugins.setdefault(f"io.containerd.snapshotter.v1.{SNAPSHOTTER}", {})["root_path"] = ""
    # No startup collection and no threshold, so nothing schedules a collection; and since
    # the scheduler re-runs one every avg_gc_time / pause_threshold once a first collection
    # happened and anything was deleted since, a tiny threshold pushes that past days.
    gc = plugins.setdefault("io.containerd.gc.v1.scheduler", {})
    gc.update(
        startup_delay="0s",
        deletion_threshold=1 << 30,
        mutation_threshold=0,
        pause_threshold=GC_PAUSE_THRESHOLD,
    )
    config["stream_processors"] = {}
    return config


# --------------------------------------------------------------------------- the daemon


@dataclass(frozen=True)
class ImportedImage:
    """An image imported with `ctr images import` and unpacked into the overlayfs snapshotter."""

    namespace: str
    name: str
    manifest_digest: str  # the image record's target (a manifest: ctr drops the index)
    config_digest: str
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]  # chain_ids[-1] is the top layer's snapshot key
    layer_digests: tuple[str, ...]  # the blobs as stored (compressed where the layer was)
    layer_media_types: tuple[str, ...]
    manifest_media_type: str
    manifest_size: int
    format: str  # "oci" or "docker"

    @property
    def chain_id(self) -> str:
        """The top layer's chain id: the committed snapshot a container is prepared on."""
        return self.chain_ids[-1]


class PrivateContainerd:
    """A private containerd with all its state in one temporary directory.

    Use as a context manager, or call `start()` and `stop()`. `stop(keep=True)` leaves the
    directory (the daemon and every task are still ended) for inspection.
    """

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 20.0,
        debug: bool = False,
    ) -> None:
        self._base_dir = base_dir
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.debug = debug
        self.tmp_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._api: Any = None  # ContainerdAPI, created on first use
        self._counter = 0

    # paths -----------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.tmp_dir is None:
            raise ContainerdError("the private containerd was never started")
        return self.tmp_dir / name

    @property
    def root(self) -> Path:
        """containerd's root: io.containerd.metadata.v1.bolt/, …snapshotter.v1.overlayfs/, …"""
        return self._path("containerd")

    @property
    def docker_root(self) -> Path:
        """A Docker 29 data root beside `root` (containers/<id>/config.v2.json, rootfs/…) for
        the Docker-shaped containers, laid out as /var/lib/docker next to /var/lib/containerd."""
        return self._path("docker")

    @property
    def docker_exec_root(self) -> Path:
        """That Docker's exec root (/var/run/docker): task bundles, runc state."""
        return self._path("docker-exec")

    @property
    def state(self) -> Path:
        """containerd's state dir (task bundles, the running containers' rootfs mounts)."""
        return self._path("state")

    @property
    def socket(self) -> Path:
        """containerd's gRPC unix socket."""
        return self._path("containerd.sock")

    @property
    def config_path(self) -> Path:
        """The generated config.toml."""
        return self._path("config.toml")

    @property
    def log_path(self) -> Path:
        """containerd's stdout and stderr."""
        return self._path("containerd.log")

    @property
    def run_dir(self) -> Path:
        """What containerd's mount namespace sees as /run (holds /run/containerd/{s,runc})."""
        return self._path("run")

    @property
    def scratch(self) -> Path:
        """A dir for the harness's own files: image tarballs, FIFOs, mount points."""
        return self._path("scratch")

    @property
    def snapshots_dir(self) -> Path:
        """The overlayfs snapshotter's `snapshots/` (one numbered dir per snapshot)."""
        return self.root / f"io.containerd.snapshotter.v1.{SNAPSHOTTER}" / "snapshots"

    @property
    def cgroup_parent(self) -> str:
        """The cgroup path (under every hierarchy) that holds our containers' cgroups: named
        after the temporary dir, so stop() finds and removes exactly ours."""
        return "/" + self._path(".").resolve().name

    @property
    def pid(self) -> int | None:
        """containerd's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def api(self) -> ContainerdAPI:
        """A gRPC client for what ctr cannot do (leases on snapshot calls, bare records)."""
        if self._proc is None:
            raise ContainerdError("the private containerd is not running")
        if self._api is None:
            self._api = ContainerdAPI(self.socket)
        api: ContainerdAPI = self._api
        return api

    # lifecycle -------------------------------------------------------------

    def __enter__(self) -> PrivateContainerd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PrivateContainerd:
        """Start containerd, wait until it answers; raise EngineUnavailable or ContainerdError."""
        if self._proc is not None:
            raise ContainerdError("the private containerd is already running")
        reason = containerd_unavailable_reason()
        if reason is not None:
            raise EngineUnavailable(reason)
        base = self._base_dir
        if base is None:
            base, why = choose_base_dir()
            if base is None:
                raise EngineUnavailable(why)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="overlayscope-containerd-", dir=base))
        try:
            for d in DIRS:
                self._path(d).mkdir(mode=0o700)
            self.config_path.write_text(dump_toml(containerd_config(self.tmp_dir)))
            self._log_file = self.log_path.open("ab")
            # The bind mount over /run lives only in containerd's own mount namespace (and so in
            # its shims'): containerd 1.6 puts shim sockets and runc state under /run/containerd
            # whatever its config says. Private propagation keeps every mount containerd makes
            # (unpacking, task rootfs) out of ours.
            script = 'mount --bind "$1" /run && shift && exec "$@"'
            args = ["containerd", "--config", str(self.config_path)]
            if self.debug:
                args += ["--log-level", "debug"]
            unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
            self._proc = subprocess.Popen(
                [*unshare, "sh", str(self.run_dir), *args],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C to pytest must not kill containerd before we clean up.
                start_new_session=True,
                env=self._daemon_env(),
            )
            self._wait_ready()
        except BaseException:
            self.stop(keep=self.debug)
            raise
        return self

    def _daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTAINERD_", "XDG_"))}
        # The diff applier mounts under $TMPDIR (or $XDG_RUNTIME_DIR): keep them ours.
        env["TMPDIR"] = str(self._path("tmp"))
        return env

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ContainerdError(
                    f"containerd exited with code {self._proc.returncode} during start-up\n"
                    + self.log_tail()
                )
            if self.socket.exists():
                res = self._ctr_raw(["version"], namespace="default", timeout=5)
                if res.returncode == 0:
                    return
            time.sleep(0.1)
        raise ContainerdError(
            f"containerd did not answer on {self.socket} within {self.start_timeout:.0f}s\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of containerd's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, ContainerdError):
            return "(no containerd log)"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def stop(self, keep: bool = False) -> None:
        """Stop containerd and clean up; idempotent.

        Kills every task in every namespace (SIGKILL, wait, delete), SIGTERMs containerd
        (SIGKILL after `stop_timeout`), ends any shim or container process whose command line
        names the temporary dir, removes the containers' cgroups, lazily unmounts everything
        under the dir, deepest first, and deletes it unless `keep`.
        """
        if self.tmp_dir is None:
            return
        problems: list[str] = []
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._kill_all_tasks()
            except Exception as e:  # cleanup goes on whatever happens
                problems.append(f"killing tasks: {e}")
        if self._api is not None:
            self._api.close()
            self._api = None
        if self._proc is not None:
            if _terminate([self._proc.pid], self.stop_timeout):
                problems.append(f"containerd pid {self._proc.pid} survived SIGKILL")
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
        problems += self._remove_cgroups()
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
            raise ContainerdError("private containerd cleanup: " + "; ".join(problems))

    def _kill_all_tasks(self) -> None:
        """SIGKILL every task in every namespace, wait for them to stop, delete them."""
        for ns in self.namespaces():
            tasks = self._tasks(ns)
            for task_id, status in tasks.items():
                if status != "STOPPED":
                    self._ctr_raw(["tasks", "kill", "--all", "-s", "SIGKILL", task_id], ns)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and any(
                s not in ("STOPPED", "UNKNOWN") for s in self._tasks(ns).values()
            ):
                time.sleep(0.1)
            for task_id in self._tasks(ns):
                res = self._ctr_raw(["tasks", "delete", "--force", task_id], ns)
                if res.returncode != 0:
                    raise ContainerdError(
                        f"ctr -n {ns} tasks delete {task_id}: {res.stderr.decode().strip()}"
                    )

    def _tasks(self, namespace: str) -> dict[str, str]:
        """task id -> status ("RUNNING", "STOPPED", …) in a namespace."""
        return {task_id: status for task_id, (_, status) in self._task_table(namespace).items()}

    def _task_table(self, namespace: str) -> dict[str, tuple[int, str]]:
        """task id -> (pid, status), parsed from `ctr tasks ls` ("TASK PID STATUS")."""
        res = self._ctr_raw(["tasks", "ls"], namespace)
        tasks = {}
        for line in res.stdout.decode(errors="replace").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                tasks[parts[0]] = (int(parts[1]), parts[2])
        return tasks

    def _our_processes(self) -> list[int]:
        """Processes (shims, containerd) whose command line names our temporary dir."""
        assert self.tmp_dir is not None
        marker = str(self.tmp_dir)
        return sorted(p for p in _all_pids() if p != os.getpid() and marker in _cmdline(p))

    def _remove_cgroups(self) -> list[str]:
        """rmdir our cgroup parent (and anything runc left in it) in every hierarchy."""
        problems = []
        name = self.cgroup_parent.lstrip("/")
        cgroup_fs = Path("/sys/fs/cgroup")
        # cgroup v1: one hierarchy per controller below /sys/fs/cgroup; v2: the dir itself.
        tops = {h / name for h in cgroup_fs.glob("*")} | {cgroup_fs / name}
        for top in sorted(t for t in tops if t.is_dir()):
            dirs = sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: -len(p.parts))
            for d in dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError as e:
                    problems.append(f"rmdir {d}: {e}")
        return problems

    # ctr -------------------------------------------------------------------

    def _ctr_raw(
        self,
        args: Sequence[str],
        namespace: str = "default",
        *,
        input: bytes | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", namespace, *args],
            input=input,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    def ctr_bytes(
        self,
        *args: str,
        namespace: str = "default",
        input: bytes | None = None,
        timeout: float = 300,
    ) -> bytes:
        """Run `ctr -a SOCK -n NS …`; return raw stdout, raise ContainerdError on failure."""
        res = self._ctr_raw(args, namespace, input=input, timeout=timeout)
        if res.returncode != 0:
            raise ContainerdError(
                f"ctr -n {namespace} {' '.join(args)} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
            )
        return res.stdout

    def ctr(
        self,
        *args: str,
        namespace: str = "default",
        input: bytes | None = None,
        timeout: float = 300,
    ) -> str:
        """Run `ctr -a SOCK -n NS …`; return stdout, raise ContainerdError (with stderr)."""
        return self.ctr_bytes(*args, namespace=namespace, input=input, timeout=timeout).decode(
            errors="replace"
        )

    def namespaces(self) -> list[str]:
        """containerd's namespaces (`ctr namespaces ls -q`)."""
        return self.ctr("namespaces", "ls", "--quiet").split()

    # images ----------------------------------------------------------------

    def import_image(
        self,
        tar_bytes: bytes,
        namespace: str = "default",
        *,
        labels: Mapping[str, str] | None = None,
    ) -> ImportedImage:
        """`ctr images import --snapshotter overlayfs` a tarball (unpacks it); describe the image.

        The tarball holds one image (oci_layout_tar / docker_save_tar). The name and target come
        from what ctr printed, the rest from the stored manifest and config (`ctr content
        get`): a docker tarball's manifest, which containerd writes itself, is described as
        containerd stored it.
        """
        path = self.scratch / f"{self._next('image')}.tar"
        path.write_bytes(tar_bytes)
        try:
            out = self.ctr(
                "images", "import", "--snapshotter", SNAPSHOTTER, str(path), namespace=namespace
            )
        finally:
            path.unlink()
        # "unpacking docker.io/library/app:1 (sha256:…)...done"
        found = re.findall(r"unpacking (\S+) \((sha256:[0-9a-f]{64})\)\.\.\.done", out)
        if len(found) != 1:
            raise ContainerdError(f"expected one unpacked image, ctr said:\n{out}")
        [(name, target)] = found
        if labels:
            self.ctr(
                "images",
                "label",
                name,
                *(f"{k}={v}" for k, v in labels.items()),
                namespace=namespace,
            )
        return self.describe_image(namespace, name, target)

    def import_spec(
        self,
        spec: ImageSpec,
        namespace: str = "default",
        *,
        format: str = "oci",
        labels: Mapping[str, str] | None = None,
    ) -> ImportedImage:
        """Build `spec` as an OCI layout ("oci") or `docker save` ("docker") tarball; import it."""
        tar = oci_layout_tar(spec) if format == "oci" else docker_save_tar(spec)
        image = self.import_image(tar, namespace, labels=labels)
        if image.name != spec.name:
            raise ContainerdError(f"imported {spec.name} came out as {image.name}")
        return image

    def describe_image(self, namespace: str, name: str, target: str) -> ImportedImage:
        """An image record's manifest, config, diff ids and chain ids, read from content."""
        raw = self.content_get(namespace, target)
        manifest = json.loads(raw)
        media = manifest.get("mediaType", "")
        config_digest = manifest["config"]["digest"]
        config = json.loads(self.content_get(namespace, config_digest))
        diff_ids = tuple(config["rootfs"]["diff_ids"])
        return ImportedImage(
            namespace=namespace,
            name=name,
            manifest_digest=target,
            config_digest=config_digest,
            diff_ids=diff_ids,
            chain_ids=chain_ids(diff_ids),
            layer_digests=tuple(la["digest"] for la in manifest["layers"]),
            layer_media_types=tuple(la["mediaType"] for la in manifest["layers"]),
            manifest_media_type=media,
            manifest_size=len(raw),
            format="docker" if "docker" in media else "oci",
        )

    def content_get(self, namespace: str, digest: str) -> bytes:
        """A blob's bytes (`ctr content get`)."""
        return self.ctr_bytes("content", "get", digest, namespace=namespace)

    def ingest(self, namespace: str, data: bytes, ref: str) -> str:
        """`ctr content ingest` a blob (no lease, no label: nothing references it); its digest."""
        digest = sha256_digest(data)
        self.ctr(
            "content",
            "ingest",
            "--expected-size",
            str(len(data)),
            "--expected-digest",
            digest,
            ref,
            input=data,
            namespace=namespace,
        )
        return digest

    # containers ------------------------------------------------------------

    def _cgroup(self, namespace: str, container_id: str) -> str:
        return f"{self.cgroup_parent}/{namespace}/{container_id}"

    def run(
        self,
        namespace: str,
        image: str,
        container_id: str,
        argv: Sequence[str],
        labels: Mapping[str, str] | None = None,
        detach: bool = False,
        *,
        check: bool = True,
        seccomp: bool = False,
    ) -> str:
        """`ctr run --snapshotter overlayfs` a container; keep it and its snapshot.

        Not detached: wait for the process, return its stdout, and delete the exited task (the
        container record and its active snapshot, key = `container_id`, stay). `check` raises
        on a non-zero exit. Detached: leave the task running (stdio to /dev/null). `seccomp`:
        containerd's default profile in the spec (as CRI's RuntimeDefault; ~10 KB of spec).
        """
        args = [
            "run",
            "--snapshotter",
            SNAPSHOTTER,
            "--cgroup",
            self._cgroup(namespace, container_id),
            "--fifo-dir",
            str(self.scratch / "fifo"),
        ]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        if detach:
            args += ["--detach", "--null-io"]
        if seccomp:
            args.append("--seccomp")
        args += [image, container_id, *argv]
        res = self._ctr_raw(args, namespace, timeout=300)
        if not detach and container_id in self._tasks(namespace):
            self.ctr("tasks", "delete", container_id, namespace=namespace)
        if res.returncode != 0 and (check or detach):
            raise ContainerdError(
                f"ctr -n {namespace} run … {container_id} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
            )
        return res.stdout.decode(errors="replace")

    def run_sleeping(
        self,
        namespace: str,
        image: str,
        container_id: str,
        labels: Mapping[str, str] | None = None,
        *,
        seccomp: bool = False,
    ) -> None:
        """A long-running container (`sleep`), for "running" cases."""
        self.run(
            namespace, image, container_id, SLEEP_FOREVER, labels, detach=True, seccomp=seccomp
        )

    def exec(self, namespace: str, container_id: str, script: str) -> str:
        """Run `sh -c script` in a running container (`ctr tasks exec`); return its stdout."""
        return self.ctr(
            "tasks",
            "exec",
            "--exec-id",
            self._next("exec"),
            "--fifo-dir",
            str(self.scratch / "fifo"),
            container_id,
            "sh",
            "-c",
            script,
            namespace=namespace,
        )

    def tasks(self, namespace: str) -> dict[str, str]:
        """task id -> status ("RUNNING", "STOPPED", …) in a namespace (`ctr tasks ls`)."""
        return self._tasks(namespace)

    def collect_garbage(self) -> None:
        """Run containerd's garbage collector now, and wait for it.

        Automatic collection is off in this daemon (see containerd_config); deleting a lease
        with --sync is the one way ctr has to run a collection and wait for it.
        """
        lease = self._next("overlayscope-gc")
        self.ctr("leases", "create", "--id", lease)
        self.ctr("leases", "delete", "--sync", lease)

    # mounts ----------------------------------------------------------------

    def nsenter_args(self) -> list[str]:
        """`nsenter` into containerd's mount namespace (where its task rootfs mounts live)."""
        if self._proc is None:
            raise ContainerdError("the private containerd is not running")
        return ["nsenter", f"--target={self._proc.pid}", "--mount", "--"]

    def mount_in_daemon_namespace(self, mounts: Sequence[SnapshotMount], target: Path) -> None:
        """Mount a snapshot at `target` inside containerd's mount namespace, as a task would
        see it (a runtime started by containerd only sees mounts made there)."""
        for m in mounts:
            _run_checked(
                [
                    *self.nsenter_args(),
                    "mount",
                    "-t",
                    m.type,
                    "-o",
                    ",".join(m.options),
                    m.source,
                    str(target),
                ]
            )

    def ro_overlay_mount(
        self, lowerdirs: Sequence[Path]
    ) -> contextlib.AbstractContextManager[Path]:
        """The module's ro_overlay_mount with its mount point in our dir (stop() cleans up)."""
        return ro_overlay_mount(lowerdirs, base=self.scratch)

    def unmount_in_daemon_namespace(self, target: Path) -> None:
        """Unmount `target` inside containerd's mount namespace."""
        _run_checked([*self.nsenter_args(), "umount", str(target)])

    # Docker 29 -------------------------------------------------------------

    def create_docker29_container(
        self,
        image: ImportedImage,
        container_id: str,
        *,
        name: str,
        argv: Sequence[str],
        running: bool,
        exec_script: str | None = None,
        seccomp: Mapping[str, Any] | None = None,
    ) -> Docker29Container:
        """A container exactly as Docker 29's containerd image store lays it out.

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
        ns, api = MOBY_NAMESPACE, self.api
        created = _now_rfc3339()
        api.create_lease(ns, container_id)
        init_key = f"{container_id}-init-key"
        init_mounts = api.prepare(ns, init_key, image.chain_id, lease=container_id)
        # dockerd runs with TMPDIR=<root>/tmp: that is where WithTempMount mounts.
        docker_tmp = self.docker_root / "tmp"
        docker_tmp.mkdir(mode=0o700, exist_ok=True)
        with temp_mount(init_mounts, docker_tmp) as init_root:
            setup_init_layer(init_root)
        api.commit(ns, f"{container_id}-init", init_key, lease=container_id)
        api.prepare(ns, container_id, f"{container_id}-init", lease=container_id)

        config = json.loads(self.content_get(ns, image.config_digest))
        container_dir = self.docker_root / "containers" / container_id
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
            docker_root=self.docker_root,
        )
        write_docker29_config(record, state=None)  # as `docker create` leaves it

        # docker start: mount the rootfs where runc will find it, record, task.
        rootfs = record.rootfs
        rootfs.parent.mkdir(parents=True, mode=0o710, exist_ok=True)
        rootfs.mkdir(mode=0o710)
        self.mount_in_daemon_namespace(api.mounts(ns, container_id), rootfs)
        for fname, text in (
            ("hostname", container_id[:12] + "\n"),
            ("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
            ("resolv.conf", "nameserver 127.0.0.11\noptions ndots:0\n"),
        ):
            (container_dir / fname).write_text(text)
        log_path = container_dir / f"{container_id}-json.log"
        log_path.touch(mode=0o640)
        bundle = self.docker_exec_root / "containerd" / container_id
        bundle.mkdir(parents=True, mode=0o755)
        api.create_container(
            ns,
            container_id,
            image=image.name,
            spec=self.docker29_spec(record, seccomp),
            runtime=RUNC_RUNTIME,
            runtime_options=runc_options("runc", str(self.docker_exec_root / "runtime-runc")),
            labels={"com.docker/engine.bundle.path": str(bundle)},
        )
        started = _now_rfc3339()
        if running:
            self.ctr("tasks", "start", "--detach", "--null-io", container_id, namespace=ns)
            if exec_script:
                self.exec(ns, container_id, exec_script)
            pid = self._task_table(ns)[container_id][0]
            write_docker29_config(record, state=Docker29State(True, pid, 0, started, ""))
            return record
        res = self._ctr_raw(
            ["tasks", "start", "--fifo-dir", str(self.scratch / "fifo"), container_id], ns
        )
        finished = _now_rfc3339()
        _append_json_log(log_path, res.stdout, started)
        if container_id in self._tasks(ns):  # ctr tasks start deletes it when attached
            self.ctr("tasks", "delete", container_id, namespace=ns)
        api.call("containers.v1.Containers/Delete", pb_string(1, container_id), namespace=ns)
        self.unmount_in_daemon_namespace(rootfs)
        rootfs.rmdir()  # refCountMounter.Unmount removes its target
        write_docker29_config(
            record, state=Docker29State(False, 0, res.returncode, started, finished)
        )
        return dataclasses.replace(record, exit_code=res.returncode)

    def docker29_spec(
        self, record: Docker29Container, seccomp: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """An OCI spec shaped like dockerd's: containerd's default spec, the rootfs at Docker's
        mount point, Docker's hostname and its bind mounts of hosts/hostname/resolv.conf."""
        spec: dict[str, Any] = json.loads(self.ctr("oci", "spec"))
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
        spec["linux"]["cgroupsPath"] = self._cgroup(MOBY_NAMESPACE, record.id)
        if seccomp is not None:
            spec["linux"]["seccomp"] = dict(seccomp)
        return spec

    # Kubernetes ------------------------------------------------------------

    def import_cri_image(self, spec: ImageSpec, *, format: str = "docker") -> ImportedImage:
        """Import into k8s.io with the three names the CRI plugin gives an image it pulled
        (`repo:tag`, `repo@<manifest digest>`, `sha256:<config digest>`), each labeled
        `io.cri-containerd.image=managed`."""
        image = self.import_spec(spec, K8S_NAMESPACE, format=format)
        repo = spec.name.rpartition(":")[0]
        for alias in (f"{repo}@{image.manifest_digest}", image.config_digest):
            self.ctr("images", "tag", image.name, alias, namespace=K8S_NAMESPACE)
        for ref in (image.name, f"{repo}@{image.manifest_digest}", image.config_digest):
            self.ctr(
                "images", "label", ref, "io.cri-containerd.image=managed", namespace=K8S_NAMESPACE
            )
        return image

    def create_k8s_pod(
        self,
        pod_name: str,
        pod_namespace: str,
        sandbox_image: ImportedImage,
        containers: Mapping[str, tuple[ImportedImage, str | None]],
    ) -> K8sPod:
        """A running pod as the CRI plugin leaves it: a sandbox container (pause-like: sleep)
        and app containers (sleep, then `script` run in them), labeled as CRI labels them.
        Ids are 64 hex digits, as CRI makes them; each container's snapshot key is its id."""
        uid = stable_uuid(f"{pod_namespace}/{pod_name}")
        pod_labels = {
            "io.kubernetes.pod.name": pod_name,
            "io.kubernetes.pod.namespace": pod_namespace,
            "io.kubernetes.pod.uid": uid,
        }
        sandbox_id = stable_id(f"sandbox/{uid}")
        # Kubernetes' RuntimeDefault seccomp: CRI puts containerd's default profile in the spec.
        self.run_sleeping(
            K8S_NAMESPACE,
            sandbox_image.name,
            sandbox_id,
            {"io.cri-containerd.kind": "sandbox", **pod_labels},
            seccomp=True,
        )
        app_ids = {}
        for name, (image, script) in containers.items():
            cid = stable_id(f"container/{uid}/{name}")
            labels = {
                "io.cri-containerd.kind": "container",
                "io.kubernetes.container.name": name,
                **pod_labels,
            }
            self.run_sleeping(K8S_NAMESPACE, image.name, cid, labels, seccomp=True)
            if script:
                self.exec(K8S_NAMESPACE, cid, script)
            app_ids[name] = cid
        return K8sPod(pod_name, pod_namespace, uid, sandbox_id, app_ids)

    # oracles ---------------------------------------------------------------

    def snapshots_ls(self, namespace: str) -> dict[str, tuple[str, str]]:
        """key -> (parent or "", kind: "Active"/"Committed"/"View") from `ctr snapshots ls`."""
        out = {}
        for line in self.ctr("snapshots", "ls", namespace=namespace).splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                out[parts[0]] = (parts[1], parts[2])
            elif len(parts) == 2:
                out[parts[0]] = ("", parts[1])
        return out

    def snapshots_usage(self, namespace: str) -> dict[str, tuple[int, int]]:
        """key -> (bytes, inodes) from `ctr snapshots usage -b` (du-style: allocated blocks)."""
        out = {}
        for line in self.ctr("snapshots", "usage", "-b", namespace=namespace).splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                out[parts[0]] = (int(parts[1]), int(parts[2]))
        return out

    def snapshot_mounts(self, namespace: str, key: str) -> list[SnapshotMount]:
        """The mounts `ctr snapshots mounts` prints for an active snapshot, parsed."""
        out = self.ctr("snapshots", "mounts", "/mnt", key, namespace=namespace)
        mounts = []
        for line in out.splitlines():
            if not line.strip():
                continue
            # "mount -t overlay overlay /mnt -o index=off,workdir=…,upperdir=…,lowerdir=…"
            words = line.split()
            if words[:2] != ["mount", "-t"] or "-o" not in words:
                raise ContainerdError(f"unexpected ctr snapshots mounts line: {line!r}")
            opts = words[words.index("-o") + 1]
            mounts.append(SnapshotMount(words[2], words[3], tuple(opts.split(","))))
        return mounts

    def snapshots_tree(self, namespace: str) -> dict[str, str]:
        """key -> parent key ("" for a root) read from `ctr snapshots tree`'s indentation."""
        parents: dict[str, str] = {}
        stack: list[tuple[int, str]] = []
        for line in self.ctr("snapshots", "tree", namespace=namespace).splitlines():
            if not line.strip():
                continue
            key = line.strip().removeprefix("\\_").strip()
            depth = len(line) - len(line.lstrip())
            while stack and stack[-1][0] >= depth:
                stack.pop()
            parents[key] = stack[-1][1] if stack else ""
            stack.append((depth, key))
        return parents

    def snapshots_info(self, namespace: str, key: str) -> dict[str, Any]:
        """`ctr snapshots info KEY` (Kind, Name, Parent, Labels, Created, Updated)."""
        info: dict[str, Any] = json.loads(self.ctr("snapshots", "info", key, namespace=namespace))
        return info

    def snapshot_diff(self, namespace: str, key: str) -> list[tuple[str, str, int, int]]:
        """The layer tar `ctr snapshots diff KEY` writes (KEY against its parent), as
        (name, type, size, mode) in tar order. Types: file, dir, symlink, hardlink, char,
        block, fifo. Leaves a garbage blob and view snapshots behind until collect_garbage()."""
        data = self.ctr_bytes(
            "snapshots", "diff", "--media-type", MEDIA_OCI_LAYER, key, namespace=namespace
        )
        return tar_listing(data)

    def images_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Image records (Images.List): name, labels, target {mediaType, digest, size}, times.
        The same call `ctr images ls` makes, with exact sizes."""
        reply = self.api.call("images.v1.Images/List", b"", namespace=namespace)
        images = []
        for raw in pb_decode(reply).get(1, []):
            assert isinstance(raw, bytes)
            f = pb_decode(raw)
            target = pb_decode(_pb_raw(f, 3))
            images.append(
                {
                    "name": _pb_str(f, 1),
                    "labels": _pb_strmap(f, 2),
                    "target": {
                        "mediaType": _pb_str(target, 1),
                        "digest": _pb_str(target, 2),
                        "size": _pb_int(target, 3),
                    },
                    "created_at": _pb_time(f, 7),
                    "updated_at": _pb_time(f, 8),
                }
            )
        return sorted(images, key=lambda i: i["name"])

    def content_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Blobs of a namespace (Content.List, what `ctr content ls` calls): digest, exact
        size, labels, times."""
        blobs = []
        for reply in self.api.call_stream("content.v1.Content/List", b"", namespace=namespace):
            for raw in pb_decode(reply).get(1, []):
                assert isinstance(raw, bytes)
                f = pb_decode(raw)
                blobs.append(
                    {
                        "digest": _pb_str(f, 1),
                        "size": _pb_int(f, 2),
                        "labels": _pb_strmap(f, 5),
                        "created_at": _pb_time(f, 3),
                        "updated_at": _pb_time(f, 4),
                    }
                )
        return sorted(blobs, key=lambda b: b["digest"])

    def leases_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Leases (Leases.List, what `ctr leases ls` calls), each with its resources."""
        reply = self.api.call("leases.v1.Leases/List", b"", namespace=namespace)
        leases = []
        for raw in pb_decode(reply).get(1, []):
            assert isinstance(raw, bytes)
            f = pb_decode(raw)
            lease_id = _pb_str(f, 1)
            leases.append(
                {
                    "id": lease_id,
                    "labels": _pb_strmap(f, 3),
                    "created_at": _pb_time(f, 2),
                    "resources": [list(r) for r in self.api.lease_resources(namespace, lease_id)],
                }
            )
        return sorted(leases, key=lambda le: le["id"])

    def containers_info(self, namespace: str, container_id: str) -> dict[str, Any]:
        """`ctr containers info ID` (labels, image, runtime, snapshot key, spec…)."""
        info: dict[str, Any] = json.loads(
            self.ctr("containers", "info", container_id, namespace=namespace)
        )
        return info

    def containers_ls(self, namespace: str) -> list[str]:
        """Container ids in a namespace (`ctr containers ls -q`)."""
        return sorted(self.ctr("containers", "ls", "--quiet", namespace=namespace).split())

    # naming ----------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter}"


# --------------------------------------------------------------------------- protobuf wire format

# Just enough of protobuf's wire format for the few containerd messages the harness sends:
# varints (wire type 0) and length-delimited fields (wire type 2: strings, bytes, messages,
# map entries). A message is built as a list of already-encoded fields.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited field (string, bytes or embedded message)."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def pb_string(number: int, value: str) -> bytes:
    """A string field; empty strings are left out, as proto3 does."""
    return pb_bytes(number, value.encode()) if value else b""


def pb_uint(number: int, value: int) -> bytes:
    """A varint field (uint32/uint64/bool/enum); zero is left out, as proto3 does."""
    return _varint(number << 3) + _varint(value) if value else b""


def pb_map(number: int, entries: Mapping[str, str]) -> bytes:
    """A map<string, string> field: one embedded {1: key, 2: value} entry per item."""
    return b"".join(
        pb_bytes(number, pb_bytes(1, k.encode()) + pb_bytes(2, v.encode()))
        for k, v in sorted(entries.items())
    )


def pb_any(type_url: str, value: bytes) -> bytes:
    """A google.protobuf.Any message body."""
    return pb_string(1, type_url) + pb_bytes(2, value)


def pb_decode(data: bytes) -> dict[int, list[int | bytes]]:
    """Decode one message level: field number -> values (ints, or bytes to decode further)."""
    fields: dict[int, list[int | bytes]] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value = varint()
        elif wire == 2:
            length = varint()
            value, i = data[i : i + length], i + length
        elif wire == 1:
            value, i = int.from_bytes(data[i : i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(data[i : i + 4], "little"), i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _pb_str(fields: Mapping[int, list[int | bytes]], number: int) -> str:
    values = fields.get(number) or [b""]
    value = values[-1]
    return value.decode() if isinstance(value, bytes) else str(value)


def _pb_strmap(fields: Mapping[int, list[int | bytes]], number: int) -> dict[str, str]:
    out = {}
    for entry in fields.get(number, []):
        assert isinstance(entry, bytes)
        kv = pb_decode(entry)
        out[_pb_str(kv, 1)] = _pb_str(kv, 2)
    return out


def _pb_raw(fields: Mapping[int, list[int | bytes]], number: int) -> bytes:
    value = (fields.get(number) or [b""])[-1]
    return value if isinstance(value, bytes) else b""


def _pb_int(fields: Mapping[int, list[int | bytes]], number: int) -> int:
    value = (fields.get(number) or [0])[-1]
    return value if isinstance(value, int) else 0


def _pb_time(fields: Mapping[int, list[int | bytes]], number: int) -> str:
    """A Timestamp field as RFC 3339 with nanoseconds (Go's time.RFC3339Nano, UTC)."""
    ts = pb_decode(_pb_raw(fields, number))
    return _rfc3339(_pb_int(ts, 1), _pb_int(ts, 2))


def _rfc3339(seconds: int, nanos: int) -> str:
    if seconds >= 1 << 63:  # a negative int64 on the wire (Go's zero time)
        seconds -= 1 << 64
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return when.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + "Z"


@dataclass(frozen=True)
class SnapshotMount:
    """One mount of a snapshot, as the snapshotter returns it (type, source, options)."""

    type: str
    source: str
    options: tuple[str, ...]

    def option(self, name: str) -> str | None:
        """The value of a `name=value` option, or None."""
        for opt in self.options:
            key, eq, value = opt.partition("=")
            if eq and key == name:
                return value
        return None

    @property
    def lowerdirs(self) -> tuple[Path, ...]:
        """The lowerdir option split on ':', top first; () for a bind mount."""
        lower = self.option("lowerdir")
        return tuple(Path(p) for p in lower.split(":")) if lower else ()

    @property
    def upperdir(self) -> Path | None:
        """The upperdir option, or the bind source of a base-layer active snapshot."""
        upper = self.option("upperdir")
        if upper is not None:
            return Path(upper)
        return Path(self.source) if self.type == "bind" and "rw" in self.options else None

    @property
    def workdir(self) -> Path | None:
        """The workdir option, or None."""
        work = self.option("workdir")
        return Path(work) if work is not None else None


def _decode_mounts(data: bytes) -> list[SnapshotMount]:
    mounts = []
    for raw in pb_decode(data).get(1, []):
        assert isinstance(raw, bytes)
        m = pb_decode(raw)
        mounts.append(
            SnapshotMount(
                type=_pb_str(m, 1),
                source=_pb_str(m, 2),
                options=tuple(o.decode() for o in m.get(4, []) if isinstance(o, bytes)),
            )
        )
    return mounts


class ContainerdAPI:
    """containerd's gRPC API, for the calls `ctr` cannot make.

    `ctr` cannot attach a lease to a snapshot call nor create a container record without a
    task, both of which Docker 29 does. Messages are hand-encoded (see pb_* above); the
    namespace and lease travel in gRPC metadata, as containerd's own client sends them.
    """

    def __init__(self, socket_path: Path, timeout: float = 60.0) -> None:
        import grpc  # a test extra; containerd_unavailable_reason() checks it is there

        self._grpc = grpc
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            f"unix://{socket_path}",
            options=[("grpc.max_receive_message_length", 16 << 20)],
        )

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def call(
        self, method: str, request: bytes, *, namespace: str, lease: str | None = None
    ) -> bytes:
        """Call `/containerd.services.<method>` with raw request bytes; return raw reply bytes."""
        metadata = [("containerd-namespace", namespace)]
        if lease is not None:
            metadata.append(("containerd-lease", lease))
        stub = self._channel.unary_unary(f"/containerd.services.{method}")
        try:
            reply: bytes = stub(request, metadata=metadata, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ContainerdError(f"gRPC {method} in {namespace}: {e.details()}") from e
        return reply

    def call_stream(self, method: str, request: bytes, *, namespace: str) -> list[bytes]:
        """A server-streaming call (e.g. Content/List): every reply message, raw."""
        stub = self._channel.unary_stream(f"/containerd.services.{method}")
        try:
            replies = stub(
                request, metadata=[("containerd-namespace", namespace)], timeout=self.timeout
            )
            return list(replies)
        except self._grpc.RpcError as e:
            raise ContainerdError(f"gRPC {method} in {namespace}: {e.details()}") from e

    # leases ----------------------------------------------------------------

    def create_lease(
        self, namespace: str, lease_id: str, labels: Mapping[str, str] | None = None
    ) -> None:
        """Leases.Create with a given id (Docker 29: the container id, no labels)."""
        request = pb_string(1, lease_id) + pb_map(3, labels or {})
        self.call("leases.v1.Leases/Create", request, namespace=namespace)

    def delete_lease(self, namespace: str, lease_id: str, sync: bool = False) -> None:
        """Leases.Delete (sync: collect what it held before returning)."""
        request = pb_string(1, lease_id) + pb_uint(2, int(sync))
        self.call("leases.v1.Leases/Delete", request, namespace=namespace)

    def lease_resources(self, namespace: str, lease_id: str) -> list[tuple[str, str]]:
        """Leases.ListResources: (type, id) pairs, e.g. ("snapshots/overlayfs", key)."""
        reply = self.call(
            "leases.v1.Leases/ListResources", pb_string(1, lease_id), namespace=namespace
        )
        out = []
        for raw in pb_decode(reply).get(1, []):
            assert isinstance(raw, bytes)
            r = pb_decode(raw)
            out.append((_pb_str(r, 2), _pb_str(r, 1)))
        return sorted(out)

    # snapshots -------------------------------------------------------------

    def prepare(
        self,
        namespace: str,
        key: str,
        parent: str,
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[SnapshotMount]:
        """Snapshots.Prepare on the overlayfs snapshotter; return the mounts."""
        request = (
            pb_string(1, SNAPSHOTTER)
            + pb_string(2, key)
            + pb_string(3, parent)
            + pb_map(4, labels or {})
        )
        reply = self.call(
            "snapshots.v1.Snapshots/Prepare", request, namespace=namespace, lease=lease
        )
        return _decode_mounts(reply)

    def commit(
        self,
        namespace: str,
        name: str,
        key: str,
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Snapshots.Commit the active snapshot `key` as `name`."""
        request = (
            pb_string(1, SNAPSHOTTER)
            + pb_string(2, name)
            + pb_string(3, key)
            + pb_map(4, labels or {})
        )
        self.call("snapshots.v1.Snapshots/Commit", request, namespace=namespace, lease=lease)

    def mounts(self, namespace: str, key: str) -> list[SnapshotMount]:
        """Snapshots.Mounts of an active (or view) snapshot."""
        request = pb_string(1, SNAPSHOTTER) + pb_string(2, key)
        return _decode_mounts(
            self.call("snapshots.v1.Snapshots/Mounts", request, namespace=namespace)
        )

    def remove_snapshot(self, namespace: str, key: str) -> None:
        """Snapshots.Remove."""
        request = pb_string(1, SNAPSHOTTER) + pb_string(2, key)
        self.call("snapshots.v1.Snapshots/Remove", request, namespace=namespace)

    # containers ------------------------------------------------------------

    def create_container(
        self,
        namespace: str,
        container_id: str,
        *,
        image: str,
        spec: Mapping[str, Any],
        runtime: str = RUNC_RUNTIME,
        runtime_options: bytes = b"",
        labels: Mapping[str, str] | None = None,
        snapshotter: str = "",
        snapshot_key: str = "",
    ) -> None:
        """Containers.Create: a bare container record (no task, no snapshot made for it)."""
        runtime_msg = pb_string(1, runtime)
        if runtime_options:
            runtime_msg += pb_bytes(2, pb_any(RUNC_OPTIONS_TYPE_URL, runtime_options))
        spec_json = json.dumps(spec, separators=(",", ":")).encode()
        container = (
            pb_string(1, container_id)
            + pb_map(2, labels or {})
            + pb_string(3, image)
            + pb_bytes(4, runtime_msg)
            + pb_bytes(5, pb_any(SPEC_TYPE_URL, spec_json))
            + pb_string(6, snapshotter)
            + pb_string(7, snapshot_key)
        )
        self.call("containers.v1.Containers/Create", pb_bytes(1, container), namespace=namespace)


def runc_options(binary_name: str = "", root: str = "", systemd_cgroup: bool = False) -> bytes:
    """containerd.runc.v1.Options, as a runtime's options Any carries them."""
    return pb_string(6, binary_name) + pb_string(7, root) + pb_uint(9, int(systemd_cgroup))


# --------------------------------------------------------------------------- image tarballs


@dataclass(frozen=True)
class TarEntry:
    """One entry of a layer tarball, as a test spells it (see the tar_* helpers)."""

    name: str  # the path inside the layer, no leading '/'
    type: str  # "dir", "file", "symlink" or "hardlink"
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""  # a symlink's target, or the hard link's target path in the layer


def tar_dir(name: str, mode: int = 0o755) -> TarEntry:
    """A directory."""
    return TarEntry(name.strip("/"), "dir", mode=mode)


def tar_file(name: str, data: bytes | str = b"", mode: int = 0o644) -> TarEntry:
    """A regular file with `data`."""
    return TarEntry(name.strip("/"), "file", data.encode() if isinstance(data, str) else data, mode)


def tar_symlink(name: str, target: str) -> TarEntry:
    """A symbolic link to `target` (kept verbatim: absolute or relative)."""
    return TarEntry(name.strip("/"), "symlink", mode=0o777, linkname=target)


def tar_hardlink(name: str, target: str) -> TarEntry:
    """A hard link to `target`, a path earlier in the same layer."""
    return TarEntry(name.strip("/"), "hardlink", linkname=target.strip("/"))


def tar_whiteout(path: str) -> TarEntry:
    """The whiteout that deletes `path` from the layers beneath: `DIR/.wh.NAME`."""
    parent, _, name = path.strip("/").rpartition("/")
    return TarEntry(f"{parent}/.wh.{name}" if parent else f".wh.{name}", "file", mode=0o644)


def tar_opaque(directory: str) -> TarEntry:
    """The opaque marker that hides everything beneath `directory`: `DIR/.wh..wh..opq`."""
    return TarEntry(f"{directory.strip('/')}/.wh..wh..opq", "file", mode=0o644)


def layer_tar(entries: Iterable[TarEntry]) -> bytes:
    """A deterministic PAX tarball of `entries`, in the order given (root-owned, fixed mtime)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode, info.mtime = e.mode, FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if e.type == "dir":
                info.type = tarfile.DIRTYPE
            elif e.type == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.linkname
            elif e.type == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.linkname
            elif e.type == "file":
                info.size = len(e.data)
            else:
                raise ValueError(f"unknown tar entry type {e.type!r}")
            tar.addfile(info, io.BytesIO(e.data) if e.type == "file" else None)
    return buf.getvalue()


@dataclass(frozen=True)
class Layer:
    """One image layer: tar entries (or a ready tarball), optionally gzip-compressed."""

    entries: tuple[TarEntry, ...] = ()
    created_by: str = ""
    gzip: bool = False
    raw_tar: bytes | None = None  # used instead of `entries` (the busybox base)

    def tar(self) -> bytes:
        """The uncompressed layer tarball (its sha256 is the diff id)."""
        return self.raw_tar if self.raw_tar is not None else layer_tar(self.entries)

    def blob(self) -> bytes:
        """The layer as stored in an image: gzip (mtime 0, so deterministic) or plain tar."""
        return gzip.compress(self.tar(), mtime=0) if self.gzip else self.tar()


@dataclass(frozen=True)
class EmptyStep:
    """A history step that made no layer (ENV, CMD, LABEL…): `empty_layer: true`."""

    created_by: str


def base_layer(created_by: str = "ADD busybox-rootfs.tar / # overlayscope base") -> Layer:
    """The busybox rootfs of tests/engine.py as a layer (same bytes, so the same diff id)."""
    return Layer(raw_tar=busybox_rootfs_tar(), created_by=created_by)


@dataclass(frozen=True)
class ImageSpec:
    """An image to build: its full name and its history (layers and empty steps), in order."""

    name: str  # a full reference: docker.io/library/app:1
    steps: tuple[Layer | EmptyStep, ...]
    cmd: tuple[str, ...] = ("sh",)
    env: tuple[str, ...] = DEFAULT_ENV
    labels: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The steps that made a layer."""
        return tuple(s for s in self.steps if isinstance(s, Layer))

    @property
    def tag(self) -> str:
        """The tag part of the name ("1" of docker.io/library/app:1)."""
        return self.name.rpartition(":")[2]


def sha256_digest(data: bytes) -> str:
    """ "sha256:<hex>" of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> tuple[str, ...]:
    """OCI chain ids: chain(1) = diff(1); chain(n) = sha256("chain(n-1) diff(n)")."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else sha256_digest(f"{out[-1]} {diff_id}".encode()))
    return tuple(out)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class BuiltImage:
    """An image's blobs, ready to be written as an OCI layout or a `docker save` tarball."""

    spec: ImageSpec
    config: bytes
    layer_blobs: tuple[bytes, ...]
    diff_ids: tuple[str, ...]

    @property
    def config_digest(self) -> str:
        """The config blob's digest (Docker's image id with the graph drivers)."""
        return sha256_digest(self.config)

    @property
    def layer_media_types(self) -> tuple[str, ...]:
        """OCI media types of the layers, as the manifest names them."""
        return tuple(
            MEDIA_OCI_LAYER_GZIP if la.gzip else MEDIA_OCI_LAYER for la in self.spec.layers
        )

    @property
    def manifest(self) -> bytes:
        """The OCI image manifest."""
        return _canonical(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": {
                    "mediaType": MEDIA_OCI_CONFIG,
                    "digest": self.config_digest,
                    "size": len(self.config),
                },
                "layers": [
                    {"mediaType": mt, "digest": sha256_digest(b), "size": len(b)}
                    for mt, b in zip(self.layer_media_types, self.layer_blobs, strict=True)
                ],
            }
        )


def build_image(spec: ImageSpec) -> BuiltImage:
    """Make an image's config (rootfs.diff_ids, history with empty_layer steps) and blobs."""
    diff_ids, blobs, history = [], [], []
    for step in spec.steps:
        entry: dict[str, Any] = {"created": FIXED_CREATED, "created_by": step.created_by}
        if isinstance(step, EmptyStep):
            entry["empty_layer"] = True
        else:
            diff_ids.append(sha256_digest(step.tar()))
            blobs.append(step.blob())
        history.append(entry)
    run_config: dict[str, Any] = {"Env": list(spec.env), "Cmd": list(spec.cmd)}
    if spec.labels:
        run_config["Labels"] = dict(spec.labels)
    if spec.working_dir:
        run_config["WorkingDir"] = spec.working_dir
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": FIXED_CREATED,
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    return BuiltImage(spec, _canonical(config), tuple(blobs), tuple(diff_ids))


def _tar_of_files(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oci_layout_tar(spec: ImageSpec) -> bytes:
    """An OCI image-layout tarball (oci-layout, index.json, blobs/sha256/…) of one image.

    index.json names it the way `docker save` (25+) does: `io.containerd.image.name` holds the
    full name, `org.opencontainers.image.ref.name` the tag.
    """
    built = build_image(spec)
    manifest = built.manifest
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": sha256_digest(manifest),
                "size": len(manifest),
                "annotations": {
                    "io.containerd.image.name": spec.name,
                    "org.opencontainers.image.ref.name": spec.tag,
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    files = {"oci-layout": _canonical({"imageLayoutVersion": "1.0.0"})}
    files["index.json"] = _canonical(index)
    for blob in (built.config, manifest, *built.layer_blobs):
        files[f"blobs/sha256/{sha256_digest(blob).removeprefix('sha256:')}"] = blob
    return _tar_of_files(files)


def _docker_short_name(name: str) -> str:
    # docker save writes familiar names: docker.io/library/app:1 -> app:1.
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def docker_save_tar(spec: ImageSpec) -> bytes:
    """A legacy `docker save` tarball (manifest.json, repositories, <id>/layer.tar, config).

    Layer dirs are named by v1-compatible ids made from the chain ids (Docker derives them
    the same way: a hash over the parent id and the layer); a gzip layer is stored gzipped in
    `layer.tar`, which containerd's importer detects.
    """
    built = build_image(spec)
    config_name = built.config_digest.removeprefix("sha256:") + ".json"
    files: dict[str, bytes] = {}
    layer_paths, parent = [], ""
    for chain_id, blob in zip(chain_ids(built.diff_ids), built.layer_blobs, strict=True):
        v1_id = hashlib.sha256(f"{parent} {chain_id}".encode()).hexdigest()
        files[f"{v1_id}/VERSION"] = b"1.0"
        files[f"{v1_id}/json"] = _canonical(
            {"id": v1_id, **({"parent": parent} if parent else {}), "created": FIXED_CREATED}
        )
        files[f"{v1_id}/layer.tar"] = blob
        layer_paths.append(f"{v1_id}/layer.tar")
        parent = v1_id
    files[config_name] = built.config
    short = _docker_short_name(spec.name)
    repo, _, tag = short.rpartition(":")
    files["manifest.json"] = _canonical(
        [{"Config": config_name, "RepoTags": [short], "Layers": layer_paths}]
    )
    files["repositories"] = _canonical({repo: {tag: parent}})
    return _tar_of_files(files)


# --------------------------------------------------------------------------- mounts


def _run_checked(args: Sequence[str], timeout: float = 120) -> str:
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise ContainerdError(f"{' '.join(args)} failed (exit {res.returncode}): {res.stderr}")
    return res.stdout


def _overlay_options_ok(options: Sequence[str]) -> str:
    data = ",".join(options)
    # mount(8) takes the data as one -o string; a ',' inside a path would split it.
    if len(data) > 4000:
        raise ContainerdError("overlay mount options longer than a page: too many lowerdirs")
    return data


def mount_snapshot(mounts: Sequence[SnapshotMount], target: Path) -> None:
    """Mount what the snapshotter returned (an overlay, or a bind for a base-layer snapshot)
    at `target` in our own mount namespace."""
    for m in mounts:
        if m.type == "bind":
            _run_checked(["mount", "--bind", m.source, str(target)])
            if "ro" in m.options:
                _run_checked(["mount", "-o", "remount,bind,ro", str(target)])
        else:
            _run_checked(
                ["mount", "-t", m.type, "-o", _overlay_options_ok(m.options), m.source, str(target)]
            )


def unmount(target: Path) -> None:
    """Unmount `target` (not lazily: a busy mount is a bug in the caller)."""
    _run_checked(["umount", str(target)])


@contextlib.contextmanager
def temp_mount(mounts: Sequence[SnapshotMount], base: Path) -> Iterator[Path]:
    """containerd's mount.WithTempMount: mount at a fresh temp dir, yield it, unmount, remove."""
    target = Path(tempfile.mkdtemp(prefix="containerd-mount", dir=base))
    try:
        mount_snapshot(mounts, target)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        target.rmdir()


@contextlib.contextmanager
def ro_overlay_mount(lowerdirs: Sequence[Path], base: Path | None = None) -> Iterator[Path]:
    """A read-only kernel overlay of `lowerdirs` (top first, no upper) at a temp dir.

    The oracle for merged views: the kernel's own answer to what a stack of snapshot `fs/`
    dirs looks like. A single dir is bind-mounted read-only (overlay wants two lowers).
    """
    if not lowerdirs:
        raise ValueError("ro_overlay_mount needs at least one lowerdir")
    if base is None:
        base, why = choose_base_dir()
        if base is None:
            raise EngineUnavailable(why)
    if len(lowerdirs) == 1:
        mounts = [SnapshotMount("bind", str(lowerdirs[0]), ("ro", "rbind"))]
    else:
        lower = ":".join(str(p) for p in lowerdirs)
        mounts = [SnapshotMount("overlay", "overlay", (f"lowerdir={lower}",))]
    with temp_mount(mounts, base) as target:
        yield target


# --------------------------------------------------------------------------- small helpers


def _now_rfc3339() -> str:
    """Now, as Go's time.RFC3339Nano in UTC (Docker's and containerd's timestamps)."""
    ns = time.time_ns()
    return _rfc3339(ns // 1_000_000_000, ns % 1_000_000_000)


def stable_id(seed: str) -> str:
    """A 64-hex id (as CRI and Docker make them) derived from `seed`, stable across runs."""
    return hashlib.sha256(f"overlayscope/{seed}".encode()).hexdigest()


def stable_uuid(seed: str) -> str:
    """A version-4-shaped UUID (as a pod uid) derived from `seed`."""
    h = stable_id(seed)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


_TAR_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def tar_listing(data: bytes) -> list[tuple[str, str, int, int]]:
    """(name, type, size, mode) of every entry of a (possibly gzipped) tarball, in order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return [
            (m.name, _TAR_TYPES.get(m.type, repr(m.type)), m.size, m.mode & 0o7777)
            for m in tar.getmembers()
        ]


# --------------------------------------------------------------------------- Docker 29 shapes

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


@dataclass(frozen=True)
class Docker29State:
    """The State block of a config.v2.json."""

    running: bool
    pid: int
    exit_code: int
    started_at: str
    finished_at: str


@dataclass(frozen=True)
class Docker29Container:
    """A container made by PrivateContainerd.create_docker29_container."""

    id: str
    name: str
    image: ImportedImage
    argv: tuple[str, ...]
    running: bool
    exec_script: str | None
    created: str
    image_config: Mapping[str, Any]
    docker_root: Path
    exit_code: int = 0

    @property
    def init_key(self) -> str:
        """The key the init layer was prepared under (gone once committed)."""
        return f"{self.id}-init-key"

    @property
    def init_name(self) -> str:
        """The committed init layer: `<id>-init`."""
        return f"{self.id}-init"

    @property
    def rootfs(self) -> Path:
        """Where Docker mounts the rw snapshot while the container runs."""
        return self.docker_root / "rootfs" / SNAPSHOTTER / self.id


_ZERO_TIME = "0001-01-01T00:00:00Z"


def write_docker29_config(record: Docker29Container, state: Docker29State | None) -> None:
    """Write containers/<id>/config.v2.json and hostconfig.json as Docker 29 does.

    Field order and names follow moby's daemon/container/container.go (Container, State,
    SecurityOptions), daemon/network/settings.go (Settings) and daemon/create.go /
    daemon/container.go (newContainer: Path/Args from Cmd, Hostname = id[:12], Driver = the
    snapshotter, Image = the image record's target digest, ImageManifest = the platform
    manifest's descriptor). `state` None is a created, never started container.
    """
    container_dir = record.docker_root / "containers" / record.id
    st = state or Docker29State(False, 0, 0, _ZERO_TIME, _ZERO_TIME)
    image_cfg = record.image_config
    started = state is not None
    config_v2 = {
        "StreamConfig": {},
        "State": {
            "Running": st.running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": "",
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at or _ZERO_TIME,
            "Health": None,
        },
        "ID": record.id,
        "Created": record.created,
        "Managed": False,
        "Path": record.argv[0],
        "Args": list(record.argv[1:]),
        "Config": {
            "Hostname": record.id[:12],
            "Domainname": "",
            "User": "",
            "AttachStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": list(image_cfg.get("Env", [])),
            "Cmd": list(record.argv),
            "Image": _docker_short_name(record.image.name),
            "Volumes": None,
            "WorkingDir": image_cfg.get("WorkingDir", ""),
            "Entrypoint": None,
            "Labels": dict(image_cfg.get("Labels") or {}),
        },
        "Image": record.image.manifest_digest,
        "ImageManifest": {
            "mediaType": record.image.manifest_media_type,
            "digest": record.image.manifest_digest,
            "size": record.image.manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        "NetworkSettings": {
            "SandboxID": "",
            "SandboxKey": "",
            "Networks": {
                "none": {
                    "IPAMConfig": None,
                    "Links": None,
                    "Aliases": None,
                    "DriverOpts": None,
                    "GwPriority": 0,
                    "NetworkID": "",
                    "EndpointID": "",
                    "Gateway": "",
                    "IPAddress": "",
                    "MacAddress": "",
                    "IPPrefixLen": 0,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": None,
                    "IPAMOperational": False,
                    "DesiredMacAddress": "",
                }
            },
            "Service": None,
            "Ports": {},
            "HasSwarmEndpoint": False,
        },
        "LogPath": str(container_dir / f"{record.id}-json.log") if started else "",
        "Name": "/" + record.name,
        "Driver": SNAPSHOTTER,
        "OS": "linux",
        "ImagePlatform": {"architecture": "amd64", "os": "linux"},
        "RestartCount": 0,
        "HasBeenStartedBefore": started,
        "HasBeenManuallyStopped": False,
        "MountPoints": {},
        "SecretReferences": None,
        "ConfigReferences": None,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "WritableCgroups": None,
        "HostnamePath": str(container_dir / "hostname") if started else "",
        "HostsPath": str(container_dir / "hosts") if started else "",
        "ShmPath": str(container_dir / "mounts" / "shm") if started else "",
        "ResolvConfPath": str(container_dir / "resolv.conf") if started else "",
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }
    host_config = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "none",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CgroupnsMode": "private",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "Isolation": "",
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }
    # Go's json.Encoder: compact, HTML characters escaped, a trailing newline; 0600 like
    # atomicwriter.New(pth, 0o600) (hostconfig.json 0644).
    _write_atomic(container_dir / "config.v2.json", _go_json(config_v2), 0o600)
    _write_atomic(container_dir / "hostconfig.json", _go_json(host_config), 0o644)


def _go_json(obj: Any) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return (text + "\n").encode()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _append_json_log(path: Path, output: bytes, when: str) -> None:
    """Docker's json-file log lines for a container's stdout."""
    with path.open("ab") as f:
        for line in output.decode(errors="replace").splitlines(keepends=True):
            f.write(_go_json({"log": line, "stream": "stdout", "time": when}))


@dataclass(frozen=True)
class K8sPod:
    """A pod made by PrivateContainerd.create_k8s_pod (namespace k8s.io)."""

    name: str
    namespace: str
    uid: str
    sandbox_id: str
    container_ids: Mapping[str, str]  # container name -> id
