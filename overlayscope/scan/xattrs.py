"""Reading the overlay.* extended attributes of a directory entry, never following symlinks.

Python has no `listxattr` relative to a directory fd, so entries are named by
path: the absolute path while it fits in PATH_MAX, else `/proc/self/fd/N/name`
through the fd of the directory being listed. (Calling Linux 6.13's
`listxattrat(2)` through ctypes measured no faster than the absolute path, so
we don't.) Most entries carry no overlay xattrs: the cost that matters is the
one `listxattr` per entry; values are read only for entries that have some.

A mount reads overlay metadata from one namespace only: a rootful overlayfs
`trusted.overlay.*`, a rootless one (`userxattr`) `user.overlay.*`; the other
namespace's attributes are plain xattrs to it (an image tarball can carry
`user.overlay.opaque`). The walk is told which (`overlay_prefixes`), or None for
either, trusted winning, where no host says (trees built by hand).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

from overlayscope.scan.entry import OverlayXattrs

OVERLAY_PREFIXES = ("trusted.overlay.", "user.overlay.")
NAMESPACES = ("trusted", "user")
_PATH_MAX = 4096  # Linux limit on one path string, NUL included
_NAME_MAX = 255
QUIET_ERRNOS = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA})
HAVE_PROC_FD = os.path.isdir("/proc/self/fd")


def path_prefix(dir_fd: int, dir_path: str) -> str:
    """A prefix that, with any entry name appended, makes a path the kernel can resolve.

    `dir_path` is the directory's own path; if a name joined to it could pass
    PATH_MAX, go through the fd's magic link in /proc instead. Without /proc
    such a path fails later with ENAMETOOLONG.
    """
    if len(os.fsencode(dir_path)) + 1 + _NAME_MAX < _PATH_MAX or not HAVE_PROC_FD:
        return dir_path.rstrip("/") + "/"
    return f"/proc/self/fd/{dir_fd}/"


def overlay_prefixes(namespace: str | None) -> tuple[str, ...]:
    """The xattr name prefixes that are overlay metadata to a mount reading `namespace`
    ("trusted": rootful, "user": rootless/`userxattr`); None: both, trusted winning.

    Raises ValueError for any other namespace.
    """
    if namespace is None:
        return OVERLAY_PREFIXES
    if namespace not in NAMESPACES:
        raise ValueError(f"overlay xattrs are 'trusted', 'user' or None, not {namespace!r}")
    return (namespace + ".overlay.",)


def overlay_names(target: str | int, prefixes: tuple[str, ...] = OVERLAY_PREFIXES) -> list[str]:
    """Names of the overlay xattrs on `target` (a path, not followed, or an open fd):
    those starting with one of `prefixes` (`overlay_prefixes`).

    [] where the filesystem has no xattrs; other errors (ENOENT...) raise OSError.
    """
    try:
        names = (
            os.listxattr(target)
            if isinstance(target, int)
            else os.listxattr(target, follow_symlinks=False)
        )
    except OSError as exc:
        if exc.errno in QUIET_ERRNOS:
            return []
        raise
    return [n for n in names if n.startswith(prefixes)] if names else []


def read_overlay_xattrs(names: list[str], target: str | int) -> OverlayXattrs | None:
    """Read the overlay xattrs `names` (from `overlay_names`) of `target`.

    When `names` hold both namespaces (the walk was told neither), trusted.* wins: it
    is what a rootful overlayfs reads. An attribute removed meanwhile (ENODATA) is skipped.
    """
    if not names:
        return None
    namespace = "trusted" if any(n.startswith("trusted.") for n in names) else "user"
    prefix = namespace + ".overlay."
    follow = isinstance(target, int)  # an fd is the entry itself; a path must not be followed
    values: dict[str, bytes] = {}
    for full in names:
        if not full.startswith(prefix):
            continue
        try:
            values[full[len(prefix) :]] = os.getxattr(target, full, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno not in QUIET_ERRNOS:
                raise
    return overlay_xattrs(namespace, values) if values else None


def overlay_xattrs(namespace: str, values: Mapping[str, bytes]) -> OverlayXattrs:
    """The `OverlayXattrs` of the values read in `namespace`, keyed past "<namespace>.overlay."."""
    opaque = values.get("opaque")
    redirect = values.get("redirect")
    return OverlayXattrs(
        namespace=namespace,
        opaque=opaque == b"y",
        xwhiteouts=opaque == b"x",
        whiteout="whiteout" in values,
        impure=values.get("impure") == b"y",
        origin=values.get("origin"),
        redirect=os.fsdecode(redirect) if redirect is not None else None,
        metacopy="metacopy" in values,
    )
