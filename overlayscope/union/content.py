"""Reading file data out of one layer's diff tree without ever leaving it.

Every open walks the path one component at a time from a directory fd of the
layer's diff dir, with O_NOFOLLOW, so a symlink planted in the evidence (or
swapped in while we read) can never send a read to the host. Only regular
files are opened: opening a device node or a fifo found in a layer would talk
to the host's device or block forever.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from overlayscope.errors import PathNotFound, PermissionDeniedError, ReadError, UnsafePath
from overlayscope.union.extents import CHUNK as CHUNK
from overlayscope.union.extents import DEFAULT_MAX_HOLE_BYTES, hash_fd, same_fd_content

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class NotARegularFile(PathNotFound):
    """The path exists but is not a regular file (a dir, a symlink, a device...)."""

    title = "not a regular file"


def layer_components(path: str) -> list[str]:
    """The names of an absolute layer path; refuses `.` and `..` so a path cannot climb out."""
    names = [name for name in path.split("/") if name]
    for name in names:
        if name in (".", ".."):
            raise UnsafePath(
                f"{path}: '{name}' in a layer path",
                hint="layer paths are absolute and clean, like /etc/passwd",
            )
    return names


@contextmanager
def _parent_fd(content_dir: str, names: list[str]) -> Iterator[int]:
    """A directory fd of the parent of `names`, reached without following any symlink."""
    try:
        current = os.open(content_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise PathNotFound(f"{content_dir}: no such layer diff dir") from exc
    try:
        for i, name in enumerate(names[:-1]):
            where = "/" + "/".join(names[: i + 1])
            st = _lstat_at(current, name, where)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(
                    f"{where}: a symlink inside the layer path; not followed",
                    hint="read through the merged view to resolve symlinks inside the container",
                )
            if not stat.S_ISDIR(st.st_mode):
                raise PathNotFound(f"{where}: not a directory in layer {content_dir}")
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise _translate(exc, where) from exc
            os.close(current)
            current = fd
        yield current
    finally:
        os.close(current)


def _lstat_at(dir_fd: int, name: str, where: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise _translate(exc, where) from exc


def _translate(exc: OSError, where: str) -> Exception:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return PathNotFound(f"{where}: no such file in the layer")
    if exc.errno == errno.ELOOP:
        return UnsafePath(f"{where}: turned into a symlink while reading; not followed")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDeniedError(f"cannot read {where} in the layer", hint="run as root (sudo)")
    return ReadError(f"{where} in the layer: {exc.strerror or exc}")


def open_noatime(name: str, dir_fd: int, flags: int = _READ_FLAGS) -> int:
    """`os.open` with O_NOATIME where the kernel allows it (the owner or CAP_FOWNER)."""
    # O_NOATIME keeps a forensic read from touching atimes; fall back on EPERM.
    try:
        return os.open(name, flags | os.O_NOATIME, dir_fd=dir_fd)
    except PermissionError as exc:
        if exc.errno != errno.EPERM:
            raise
        return os.open(name, flags, dir_fd=dir_fd)


def open_in_layer(content_dir: str, path: str) -> BinaryIO:
    """Open the regular file at `path` (absolute inside the layer) of `content_dir` for reading.

    No symlink is followed, not even in the middle of the path: a symlink
    component raises `UnsafePath`, a symlink or any non-regular file at the
    end raises `NotARegularFile`, a missing one `PathNotFound`.
    """
    return os.fdopen(open_layer_fd(content_dir, path), "rb")


def open_layer_fd(content_dir: str, path: str) -> int:
    """`open_in_layer`, as a raw fd (the caller closes it)."""
    names = layer_components(path)
    if not names:
        raise NotARegularFile(f"{path}: the layer root is a directory")
    with _parent_fd(content_dir, names) as parent:
        st = _lstat_at(parent, names[-1], path)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"{path}: not a regular file ({type_name(st.st_mode)})")
        try:
            fd = open_noatime(names[-1], parent)
        except OSError as exc:
            raise _translate(exc, path) from exc
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise UnsafePath(f"{path}: replaced while being opened; not read")
    return fd


def read_in_layer(content_dir: str, path: str, *, max_bytes: int | None = None) -> bytes:
    """The data of a regular file of a layer, at most `max_bytes` of it."""
    with open_in_layer(content_dir, path) as f:
        return f.read() if max_bytes is None else f.read(max_bytes)


def iter_chunks(f: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def same_content(a_dir: str, a_path: str, b_dir: str, b_path: str) -> bool:
    """Whether two layer files hold the same bytes: sizes first, then their data by extents
    (holes are zeros, never read: two 1 TB sparse files cost what their data costs)."""
    fd_a = open_layer_fd(a_dir, a_path)
    try:
        fd_b = open_layer_fd(b_dir, b_path)
        try:
            return same_fd_content(fd_a, fd_b)
        finally:
            os.close(fd_b)
    finally:
        os.close(fd_a)


def sha256_in_layer(
    content_dir: str, path: str, *, max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES
) -> tuple[int, str]:
    """Size and sha256 hex digest of a layer file's logical content, holes fed as zeros
    without a read; `TooSparse` past `max_hole_bytes` bytes of holes (None: no bound)."""
    from overlayscope.digest import large_sha256  # a file's content may be large

    digest = large_sha256()
    fd = open_layer_fd(content_dir, path)
    try:
        size = hash_fd(fd, [digest], path=path, max_hole_bytes=max_hole_bytes)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def layer_xattr(content_dir: str, path: str, name: str) -> bytes | None:
    """One xattr of a regular file or dir of a layer (None when absent or unreadable).

    Docker's change detection compares `security.capability`; this reads it
    from the real layer file, through the same no-follow walk.
    """
    names = layer_components(path)
    with _parent_fd(content_dir, names) as parent:
        if not names:
            fd = open_noatime(".", parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            st = _lstat_at(parent, names[-1], path)
            if stat.S_ISDIR(st.st_mode):
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = open_noatime(names[-1], parent, flags)
            elif stat.S_ISREG(st.st_mode):
                fd = open_noatime(names[-1], parent)
            else:
                return None
    try:
        return os.getxattr(fd, name)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            return None
        raise
    finally:
        os.close(fd)


def type_name(mode: int) -> str:
    """What a non-regular entry is, for a message: "a directory", "a fifo"..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink, not followed"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "an entry of unknown type"
