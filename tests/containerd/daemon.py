"""The private containerd process: its temporary dir, start and stop, and `ctr` against it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.containerd.api import ContainerdAPI
from tests.containerd.availability import containerd_unavailable_reason
from tests.containerd.config import (
    DIRS,
    SNAPSHOTTER,
    ContainerdError,
    containerd_config,
    dump_toml,
)
from tests.engine import (
    EngineUnavailable,
    _all_pids,
    _children,
    _cmdline,
    _terminate,
    choose_base_dir,
    mounts_under,
)


class ContainerdDaemon:
    """A private containerd process with all its state in one temporary directory.

    Use as a context manager, or call `start()` and `stop()`. `stop(keep=True)` leaves the
    directory (the daemon and every task are still ended) for inspection. The harness's work
    in it (images, containers, oracles) is PrivateContainerd's, in tests/containerd/engine.py.
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
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
                res = self.ctr_raw(["version"], namespace="default", timeout=5)
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
            tasks = self.tasks(ns)
            for task_id, status in tasks.items():
                if status != "STOPPED":
                    self.ctr_raw(["tasks", "kill", "--all", "-s", "SIGKILL", task_id], ns)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and any(
                s not in ("STOPPED", "UNKNOWN") for s in self.tasks(ns).values()
            ):
                time.sleep(0.1)
            for task_id in self.tasks(ns):
                res = self.ctr_raw(["tasks", "delete", "--force", task_id], ns)
                if res.returncode != 0:
                    raise ContainerdError(
                        f"ctr -n {ns} tasks delete {task_id}: {res.stderr.decode().strip()}"
                    )

    def tasks(self, namespace: str) -> dict[str, str]:
        """task id -> status ("RUNNING", "STOPPED", …) in a namespace (`ctr tasks ls`)."""
        return {task_id: status for task_id, (_, status) in self.task_table(namespace).items()}

    def task_table(self, namespace: str) -> dict[str, tuple[int, str]]:
        """task id -> (pid, status), parsed from `ctr tasks ls` ("TASK PID STATUS")."""
        res = self.ctr_raw(["tasks", "ls"], namespace)
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

    def ctr_raw(
        self,
        args: Sequence[str],
        namespace: str = "default",
        *,
        input: bytes | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `ctr -a SOCK -n NS ARGS…`; the completed process, whatever its exit code."""
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
        res = self.ctr_raw(args, namespace, input=input, timeout=timeout)
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

    # naming ----------------------------------------------------------------

    def next_name(self, prefix: str) -> str:
        """`prefix-N`, N counting up: names for this daemon's exec ids, tarballs, leases."""
        self._counter += 1
        return f"{prefix}-{self._counter}"
