"""What this machine has mounted: the overlay mounts whose upper dir is a layer of a live root.

A store whose records do not say whether a container runs (containerd's `containers`
bucket outlives its task) is answered by the kernel: a running container's rootfs is an
overlay mount with that container's writable layer as `upperdir`. On a copied snapshot no
mount names the copy, and the state stays unknown.
"""

from __future__ import annotations

import os

MOUNTINFO = "/proc/self/mountinfo"


def overlay_upper_dirs(mountinfo: str = MOUNTINFO) -> frozenset[str]:
    """The `upperdir` of every overlay mount this process can see, normalised."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    uppers: set[str] = set()
    for line in lines:
        _, sep, tail = line.partition(" - ")
        fields = tail.split(" ")
        if not sep or len(fields) < 3 or fields[0] != "overlay":
            continue
        for option in fields[2].split(","):
            if option.startswith("upperdir="):
                uppers.add(os.path.normpath(_unescape(option[len("upperdir=") :])))
    return frozenset(uppers)


def mount_points(mountinfo: str = MOUNTINFO) -> frozenset[str]:
    """Every mount point this process can see, normalised."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    out = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            out.add(os.path.normpath(_unescape(fields[4])))
    return frozenset(out)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as `\\ooo` octal escapes."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
