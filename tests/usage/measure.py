"""Independent measurements for the usage tests: `du` itself, and plain lstat walks."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path


def du_allocated(*paths: Path) -> int:
    """`du -s --block-size=1 -x`: blocks of every entry, dirs included, hard links once."""
    out = subprocess.run(
        ["du", "-s", "-x", "-c", "--block-size=1", *map(str, paths)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.splitlines()[-1].split()[0])


def du_apparent(*paths: Path) -> int:
    """`du -s -b --apparent-size -x`: sizes of every entry, dirs included, hard links once."""
    out = subprocess.run(
        ["du", "-s", "-x", "-c", "-b", "--apparent-size", *map(str, paths)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.splitlines()[-1].split()[0])


def dir_sizes(*paths: Path) -> int:
    """The st_size of every directory under `paths` (what du adds and `apparent` leaves out)."""
    total = 0
    for path in paths:
        dev = os.lstat(path).st_dev
        for top, dirs, _ in os.walk(path):
            st = os.lstat(top)
            if st.st_dev != dev:
                dirs[:] = []
                continue
            total += st.st_size
    return total


def apparent_as_du_counts(*paths: Path) -> int:
    """What `footprint.apparent` must be: du's apparent size without the dirs' own sizes."""
    return du_apparent(*paths) - dir_sizes(*paths)


def regular_bytes(path: Path) -> int:
    """Bytes of regular files under `path`, each inode once (st_size)."""
    seen: set[int] = set()
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(top, name))
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total
