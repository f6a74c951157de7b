"""`PrivatePodman`: a private podman's directory (and rootless user) made on start, and every
trace of it (containers, processes, mounts, cgroups, the user) removed on stop."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.engine import (
    _all_pids,
    _children,
    _cmdline,
    _pid_alive,
    _terminate,
    choose_base_dir,
    mounts_under,
)
from tests.podman.availability import podman_unavailable_reason, rootless_unavailable_reason
from tests.podman.cli import PodmanCLI
from tests.podman.config import (
    CONTAINERS_CONF,
    POLICY_JSON,
    REGISTRIES_CONF,
    STORAGE_CONF,
    PodmanError,
    PodmanUnavailable,
    run_root_tool,
)
from tests.podman.rootless import create_rootless_user, remove_rootless_user


class PrivatePodman(PodmanCLI):
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
        super().__init__(
            rootless=rootless, mount_program=mount_program, command_timeout=command_timeout
        )
        self._base_dir = base_dir
        self._cgroups_before: set[Path] = set()

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
            res = run_root_tool("umount", "-l", str(m.mount_point))
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
            run_root_tool("nsenter", f"--target={pause}", "--mount", "umount", "-l", point)

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
