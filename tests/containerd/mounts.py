"""Snapshot mounts: what a snapshotter returns, and mounting it in our own mount namespace
(containerd's mount.WithTempMount, and the read-only kernel overlay the oracles compare with)."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.containerd.config import ContainerdError
from tests.engine import EngineUnavailable, choose_base_dir


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


def run_checked(args: Sequence[str], timeout: float = 120) -> str:
    """Run a mount tool; its stdout, or ContainerdError with its stderr."""
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
            run_checked(["mount", "--bind", m.source, str(target)])
            if "ro" in m.options:
                run_checked(["mount", "-o", "remount,bind,ro", str(target)])
        else:
            run_checked(
                ["mount", "-t", m.type, "-o", _overlay_options_ok(m.options), m.source, str(target)]
            )


def unmount(target: Path) -> None:
    """Unmount `target` (not lazily: a busy mount is a bug in the caller)."""
    run_checked(["umount", str(target)])


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
