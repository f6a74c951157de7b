"""Mounting real layer trees with the kernel's overlayfs, for comparison tests only.

The tool itself never mounts anything; these helpers exist so the tests can
ask the kernel what a stack of layers looks like and hold `LayerStack` to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

BASE_DIRS = (Path("/var/tmp"), Path("/tmp"))


def _fstype(path: Path) -> str:
    best, best_len = "unknown", -1
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        mount_point = left.split()[4].replace("\\040", " ")
        if (path == Path(mount_point) or Path(mount_point) in path.parents) and len(
            mount_point
        ) > best_len:
            best, best_len = right.split()[0], len(mount_point)
    return best


@cache
def overlay_base_dir() -> tuple[Path | None, str]:
    """A dir where real layers can be written and mounted, or (None, why not)."""
    if os.geteuid() != 0:
        return None, "not root: whiteouts (mknod), trusted.* xattrs and mount need root"
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        return None, "the kernel has no overlay filesystem"
    problems = []
    for base in BASE_DIRS:
        if not base.is_dir() or _fstype(base.resolve()) in ("overlay", "tmpfs", "nfs", "nfs4"):
            problems.append(f"{base}: missing or on {_fstype(base.resolve())}")
            continue
        work = Path(tempfile.mkdtemp(prefix="overlayscope-probe-", dir=base))
        try:
            for name in ("l0", "l1", "m"):
                (work / name).mkdir()
            os.mknod(work / "l0" / "wh", stat.S_IFCHR | 0o644, os.makedev(0, 0))
            os.setxattr(work / "l1", "trusted.overlay.opaque", b"y")
            with mounted_overlay([work / "l0", work / "l1"], work / "m"):
                pass
            return base, ""
        except (OSError, subprocess.CalledProcessError) as exc:
            problems.append(f"{base}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return None, "cannot mount a test overlay: " + "; ".join(problems)


@contextlib.contextmanager
def mounted_overlay(lowers: Sequence[Path], target: Path) -> Iterator[Path]:
    """Mount `lowers` (top first) read-only at `target`; always unmounted afterwards."""
    options = "ro,lowerdir=" + ":".join(str(p) for p in lowers)
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
        check=True,
        capture_output=True,
    )
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)
