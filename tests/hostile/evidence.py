"""Helpers to prove that evidence is left untouched: a manifest of a tree, taken without
changing it, and a strictatime tmpfs to copy a root into.

The manifest lists dirs through O_NOATIME fds (as root: CAP_FOWNER), so taking it
changes no access time itself; `lstat` and `listxattr` never do.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOATIME


@dataclass(frozen=True)
class Entry:
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    rdev: int
    xattrs: tuple[tuple[str, bytes], ...]


def manifest(root: Path) -> dict[str, Entry]:
    """Every path under `root` (relative, `.` for itself) with its mode, owner, size,
    mtime, ctime, device number and every xattr."""
    out: dict[str, Entry] = {}
    for rel, st in _walk(root):
        path = root / rel
        names = sorted(os.listxattr(path, follow_symlinks=False))
        xattrs = tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in names)
        out[rel] = Entry(
            st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            st.st_rdev, xattrs,
        )  # fmt: skip
    return out


def atimes(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` → (its file type bits, its atime in ns)."""
    return {rel: (stat.S_IFMT(st.st_mode), st.st_atime_ns) for rel, st in _walk(root)}


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    stack = ["."]
    while stack:
        rel = stack.pop()
        path = root / rel
        st = os.lstat(path)
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(path, _LIST)
            try:
                names = os.listdir(fd)
            finally:
                os.close(fd)
            stack.extend(os.path.normpath(os.path.join(rel, n)) for n in names)


def copy_tree(src: Path, dest: Path) -> Path:
    """`cp -a`: modes, owners, times, xattrs, device nodes and hard links kept."""
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
    return dest


@contextmanager
def tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    """A private tmpfs mounted at `mountpoint` with `options` (e.g. `strictatime`)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{options},size=512m,mode=0700", "tmpfs", str(mountpoint)],
        check=True,
    )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@contextmanager
def bind_mount(source: Path, mountpoint: Path) -> Iterator[Path]:
    """`source` bind-mounted at `mountpoint` (the same dirs: same device and inodes)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
