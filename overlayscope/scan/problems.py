"""What the walks make of a filesystem error: a `ScanProblem`, never an exception."""

from __future__ import annotations

import errno
import os

from overlayscope.scan.entry import ScanProblem

_VANISHED = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ESTALE})
_PERMISSION = frozenset({errno.EACCES, errno.EPERM})


def problem_for(path: str, exc: OSError) -> ScanProblem:
    """Classify an OSError met at `path` as vanished / permission / error."""
    if exc.errno in _VANISHED:
        kind = "vanished"
    elif exc.errno in _PERMISSION:
        kind = "permission"
    else:
        kind = "error"
    return ScanProblem(path, kind, exc.strerror or str(exc))


def errno_problem(path: str, code: int) -> ScanProblem:
    """`problem_for` an errno the C helper returned."""
    return problem_for(path, OSError(code, os.strerror(code)))


def replaced(path: str) -> ScanProblem:
    """A dir whose inode is not the one its parent's listing gave."""
    return ScanProblem(path, "vanished", "replaced while scanning")
