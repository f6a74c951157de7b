"""A read-only walk of one layer's `diff/` tree that keeps every lstat field (atime too).

The scanner keeps what the union needs; a timeline needs the full lstat. This
walk holds `O_PATH` fds of the dirs on the current path (at most `FD_WINDOW`
of them, reopened from the nearest open ancestor when needed), lists a dir
through a fresh `O_RDONLY|O_NOATIME` fd of it, opens every child dir with
`O_NOFOLLOW` relative to its parent, and checks it is the dir it listed. No
path is resolved as a whole string and no symlink is ever followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Generator, Iterator

from overlayscope.audit.progress import CancelFlag, check_cancel
from overlayscope.record import field, record
from overlayscope.scan import join
from overlayscope.scan.xattrs import overlay_prefixes

FD_WINDOW = 32
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LIST_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
WHITEOUT_XATTRS = ("trusted.overlay.whiteout", "user.overlay.whiteout")


def whiteout_xattrs(namespace: str | None) -> tuple[str, ...]:
    """The xattr that makes an empty file a whiteout, to a mount reading `namespace`
    (`Host.overlay_xattrs`); None: either (`WHITEOUT_XATTRS`)."""
    return tuple(prefix + "whiteout" for prefix in overlay_prefixes(namespace))


@record
class WalkedEntry:
    path: str  # absolute inside the layer; "/" is the diff dir itself
    st: os.stat_result  # lstat
    target: str | None  # symlink target
    whiteout: bool  # char device 0/0, or an empty file with overlay.whiteout


@record(frozen=False, slots=False)
class _Frame:
    path: str
    name: str
    dev: int
    ino: int
    fd: int  # O_PATH fd, -1 while closed to stay within FD_WINDOW
    pending: list[tuple[str, int, int]] = field(default_factory=list)


def walk_layer(
    content_dir: str,
    problems: list[tuple[str, str]],
    cancel: CancelFlag | None = None,
    *,
    overlay_xattrs: str | None = None,
) -> Iterator[WalkedEntry]:
    """Every entry of `content_dir`, parents first; what cannot be read goes to `problems`.

    `overlay_xattrs`: the namespace the layer's mounts read (`Host.overlay_xattrs`); an
    empty file is an xattr whiteout only by that namespace's `overlay.whiteout` (None:
    either's, for layers no host describes).
    """
    attrs = whiteout_xattrs(overlay_xattrs)
    try:
        root_fd = os.open(content_dir, _PATH_DIR)
        st = os.fstat(root_fd)
    except OSError as exc:
        problems.append(("/", exc.strerror or str(exc)))
        return
    stack = [_Frame("/", "", st.st_dev, st.st_ino, root_fd)]
    try:
        yield WalkedEntry("/", st, None, False)
        count = 0
        stack[0].pending = yield from _list(stack[0], problems, attrs)
        while stack:
            top = stack[-1]
            if not top.pending:
                stack.pop()
                if top.fd >= 0:
                    os.close(top.fd)
                continue
            count += 1
            if count % 64 == 0:
                check_cancel(cancel)
            name, dev, ino = top.pending.pop()
            if top.fd < 0 and not _reopen(stack, problems):
                continue
            frame = _open_child(top, name, dev, ino, problems)
            if frame is None:
                continue
            stack.append(frame)
            if len(stack) > FD_WINDOW + 1:
                old = stack[-FD_WINDOW - 1]
                if old.fd >= 0 and old is not stack[0]:
                    os.close(old.fd)
                    old.fd = -1
            frame.pending = yield from _list(frame, problems, attrs)
    finally:
        for frame in stack:
            if frame.fd >= 0:
                os.close(frame.fd)


def _open_child(
    parent: _Frame, name: str, dev: int, ino: int, problems: list[tuple[str, str]]
) -> _Frame | None:
    path = join(parent.path, name)
    try:
        fd = os.open(name, _PATH_DIR, dir_fd=parent.fd)
    except OSError as exc:
        problems.append((path, exc.strerror or str(exc)))
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (dev, ino):
        os.close(fd)
        problems.append((path, "replaced while walking; not followed"))
        return None
    return _Frame(path, name, dev, ino, fd)


def _reopen(stack: list[_Frame], problems: list[tuple[str, str]]) -> bool:
    """Reopen the closed frames down to the top one from the nearest open ancestor."""
    j = len(stack) - 1
    while stack[j].fd < 0:
        j -= 1
    for k in range(j + 1, len(stack)):
        frame = stack[k]
        again = _open_child(stack[k - 1], frame.name, frame.dev, frame.ino, problems)
        if again is None:
            stack[-1].pending.clear()
            return False
        frame.fd = again.fd
    return True


def _list(
    frame: _Frame, problems: list[tuple[str, str]], whiteout_attrs: tuple[str, ...]
) -> Generator[WalkedEntry, None, list[tuple[str, int, int]]]:
    """Yield the entries of one dir; return its subdirs (reversed, to pop in order)."""
    subdirs: list[tuple[str, int, int]] = []
    try:
        fd = _open_listing(frame.fd)
    except OSError as exc:
        problems.append((frame.path, exc.strerror or str(exc)))
        return subdirs
    try:
        with os.scandir(fd) as it:
            for de in sorted(it, key=lambda d: os.fsencode(d.name)):
                path = join(frame.path, de.name)
                try:
                    st = de.stat(follow_symlinks=False)
                    target = None
                    if stat.S_ISLNK(st.st_mode):
                        target = os.readlink(de.name, dir_fd=fd)
                    whiteout = _whiteout(st, fd, de.name, whiteout_attrs)
                except OSError as exc:
                    problems.append((path, exc.strerror or str(exc)))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append((de.name, st.st_dev, st.st_ino))
                yield WalkedEntry(path, st, target, whiteout)
    except OSError as exc:
        problems.append((frame.path, exc.strerror or str(exc)))
    finally:
        os.close(fd)
    subdirs.reverse()
    return subdirs


def _open_listing(path_fd: int) -> int:
    # Listing a dir updates its atime: O_NOATIME where the kernel allows it (owner or root).
    if _NOATIME:
        try:
            return os.open(".", _LIST_DIR | _NOATIME, dir_fd=path_fd)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:
                raise
    return os.open(".", _LIST_DIR, dir_fd=path_fd)


def _whiteout(st: os.stat_result, dir_fd: int, name: str, attrs: tuple[str, ...]) -> bool:
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev == 0
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
        return False
    # An xattr whiteout (kernel 6.7+): an empty file marked overlay.whiteout. The
    # /proc/self/fd path resolves to the listed dir; `name` itself is not followed.
    where = f"/proc/self/fd/{dir_fd}/{name}"
    for attr in attrs:
        try:
            os.getxattr(where, attr, follow_symlinks=False)
            return True
        except OSError:
            continue
    return False
