"""Which mounted filesystem holds a root: for joining with node_exporter's
`node_filesystem_*{device, mountpoint}` series."""

from __future__ import annotations

import os

from overlayscope.record import record

MOUNTINFO = "/proc/self/mountinfo"


@record
class Filesystem:
    """The mount a dir lives on, as this process sees it."""

    path: str  # the dir asked about (a root of the host)
    device: str  # the mount source (`/dev/vda1`), node_exporter's `device`
    mountpoint: str  # where it is mounted in this process's mount namespace
    fstype: str


def filesystem_of(path: str, mountinfo: str = MOUNTINFO) -> Filesystem:
    """The mount holding `path`: the one with the longest mount point above it.

    Unknown fields are "" (no /proc, or a path outside every mount this process sees).
    """
    real = os.path.realpath(path)
    best: tuple[str, str, str] | None = None
    for mountpoint, device, fstype in _mounts(mountinfo):
        inside = real == mountpoint or real.startswith(mountpoint.rstrip("/") + "/")
        # the longest mount point above the path; of two equal ones the later is on top
        if inside and (best is None or len(mountpoint) >= len(best[0])):
            best = (mountpoint, device, fstype)
    if best is None:
        return Filesystem(path, "", "", "")
    return Filesystem(path, best[1], best[0], best[2])


def _mounts(mountinfo: str) -> list[tuple[str, str, str]]:
    """(mount point, source, fstype) of every line of a mountinfo file, in its order."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(" "), tail.split(" ")
        if sep and len(fields) >= 5 and len(rest) >= 2:
            out.append((_unescape(fields[4]), _unescape(rest[1]), rest[0]))
    return out


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
