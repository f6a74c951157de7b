"""Many reads of layer files in a row, with as few syscalls as the kernel allows.

`open_in_layer` walks a path one component at a time from the layer's diff dir (which
it opens by path every time): an `lstat` and an `open` per component, O_NOFOLLOW. A
batch of reads (`changes` compares thousands of copied-up files, mostly a few per dir)
does better. `LayerFiles` reaches each parent dir once, keeps its `O_PATH` fd for the
batch, and then treats a file exactly as the walk's last step does: `lstat` of the
name relative to that fd, `open` with O_NOFOLLOW only if it is a regular file, `fstat`
to check the fd is the very inode that was looked at.

A parent dir is reached with Linux's `openat2(2)` (5.6+), one syscall whatever its
depth: `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` makes the kernel
refuse any `..` above the diff dir and any symlink on the way. Without `openat2` (an
older kernel, a seccomp filter), by the component walk, once per dir. Whenever the
fast way does not simply succeed (a missing file, a symlink on the way, a race), the
walk of `content.py` runs instead, so errors and their messages are exactly
`open_in_layer`'s and `layer_xattr`'s. Guarantees are theirs too: no symlink is ever
followed, nothing but a regular file (or, for an xattr, a dir) is ever opened, and
files are opened O_NOATIME where allowed.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from overlayscope.errors import UnsafePath
from overlayscope.union.content import layer_xattr, open_layer_fd, open_noatime

# openat2's number is 437 on every architecture with the unified syscall table
_OPENAT2 = 437
_MACHINES = frozenset(
    {"x86_64", "amd64", "i386", "i686", "aarch64", "arm64", "armv7l", "armv8l", "riscv64"}
    | {"ppc64le", "ppc64", "s390x", "loongarch64"}
)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS

_DIR_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_DIR_READ_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# errors that mean openat2 cannot be used here at all (too old a kernel, a seccomp filter)
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.E2BIG, errno.EPERM})
_QUIET_XATTR = frozenset({errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM})


class _Openat2:
    """`openat2` through ctypes, where the C helper is not built; loaded on first use."""

    def __init__(self) -> None:
        import ctypes

        class OpenHow(ctypes.Structure):
            _fields_ = [
                ("flags", ctypes.c_uint64),
                ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64),
            ]

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syscall
        call.restype = ctypes.c_long
        call.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        call.argtypes += [ctypes.c_size_t]
        self._call = call
        self._how = OpenHow
        self._size = ctypes.sizeof(OpenHow)
        self._byref = ctypes.byref
        self._get_errno = ctypes.get_errno

    def __call__(self, dir_fd: int, path: bytes, flags: int) -> int:
        how = self._how(flags, 0, _RESOLVE)
        fd: int = self._call(_OPENAT2, dir_fd, path, self._byref(how), self._size)
        if fd < 0:
            code = self._get_errno()
            raise OSError(code, os.strerror(code))
        return fd


def _native_openat2() -> Callable[[int, bytes, int], int] | None:
    """The C helper's openat2 (no ctypes to load), when the helper is built."""
    from overlayscope.scan import native

    if native.listdir is None:
        return None
    call = native.listdir.openat2

    def openat2(dir_fd: int, path: bytes, flags: int) -> int:
        fd: int = call(dir_fd, path, flags, _RESOLVE)
        return fd

    return openat2


_openat2: Callable[[int, bytes, int], int] | None = None
_usable = sys.platform == "linux" and os.uname().machine in _MACHINES
_ENV_OFF = "OVERLAYSCOPE_NO_OPENAT2"  # set (non-empty, not "0") to always walk components


def _get_openat2() -> Callable[[int, bytes, int], int] | None:
    global _openat2, _usable
    if not _usable or os.environ.get(_ENV_OFF, "") not in ("", "0"):
        return None
    if _openat2 is None:
        try:
            _openat2 = _native_openat2() or _Openat2()
        except (OSError, AttributeError, ImportError):
            _usable = False
            return None
    return _openat2


def _disable() -> None:
    global _usable
    _usable = False


class LayerFiles:
    """Open regular files and read xattrs of layers, for a batch of reads; close() after.

    Use as a context manager. It keeps `O_PATH` fds of the dirs it reached (the last
    `MAX_DIRS`), so it is for one batch, not for holding on to: a layer removed and
    re-created at the same path would otherwise still be read through the old dirs.
    """

    MAX_DIRS = 64

    def __init__(self) -> None:
        self._roots: dict[str, int] = {}  # diff dir -> fd
        self._dirs: dict[tuple[str, str], int] = {}  # (diff dir, parent path) -> fd
        self._openat2 = _get_openat2()

    def __enter__(self) -> LayerFiles:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        fds = [*self._dirs.values(), *self._roots.values()]
        self._dirs, self._roots = {}, {}
        for fd in fds:
            os.close(fd)

    def open_fd(self, content_dir: str, path: str) -> int:
        """A read-only fd of the regular file at `path` of `content_dir`: `open_in_layer`'s
        rules and errors, as a raw fd the caller closes."""
        fd = self._fast(content_dir, path, want_dir=False)
        return fd if fd is not None else open_layer_fd(content_dir, path)

    def xattr(self, content_dir: str, path: str, name: str) -> bytes | None:
        """`layer_xattr(content_dir, path, name)`: of a regular file or a dir, else None."""
        fd = self._fast(content_dir, path, want_dir=True)
        if fd is None:
            return layer_xattr(content_dir, path, name)
        return fd_xattr(fd, name, close=True)

    # -- the fast way -----------------------------------------------------------------

    def _fast(self, content_dir: str, path: str, *, want_dir: bool) -> int | None:
        """An fd of the regular file (or, with `want_dir`, also the dir) at `path`; None
        when the component walk must decide (anything but a plain success)."""
        parent, _, name = path.rpartition("/")
        if not path.startswith("/") or not name or name in (".", ".."):
            return None  # the layer root, or not a clean absolute path: the walk decides
        dir_fd = self._parent(content_dir, parent)
        if dir_fd is None:
            return None
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                fd = open_noatime(name, dir_fd, _READ_FLAGS)
            elif want_dir and stat.S_ISDIR(st.st_mode):
                fd = open_noatime(name, dir_fd, _DIR_READ_FLAGS)
            else:
                return None
        except OSError:
            return None
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or (
            stat.S_IFMT(opened.st_mode) != stat.S_IFMT(st.st_mode)
        ):
            os.close(fd)
            raise UnsafePath(f"{path}: replaced while being opened; not read")
        return fd

    def _parent(self, content_dir: str, parent: str) -> int | None:
        """The dir fd of `parent` ("" for the layer root) in `content_dir`, kept; None if it
        cannot be reached without following a symlink (the walk then says why)."""
        key = (content_dir, parent)
        fd = self._dirs.get(key)
        if fd is not None:
            return fd
        root = self._root(content_dir)
        if root is None or not parent:
            return root
        names = parent.split("/")[1:]
        if "" in names or "." in names or ".." in names:
            return None
        fd = self._beneath(root, names)
        if fd is None:
            return None
        if len(self._dirs) >= self.MAX_DIRS:  # the oldest goes
            os.close(self._dirs.pop(next(iter(self._dirs))))
        self._dirs[key] = fd
        return fd

    def _root(self, content_dir: str) -> int | None:
        fd = self._roots.get(content_dir)
        if fd is None:
            try:
                fd = os.open(content_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                return None
            self._roots[content_dir] = fd
        return fd

    def _beneath(self, root: int, names: list[str]) -> int | None:
        """An `O_PATH` fd of the dir `names` below `root`, no symlink followed on the way."""
        if self._openat2 is not None:
            try:
                return self._openat2(root, os.fsencode("/".join(names)), _DIR_PATH_FLAGS)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    return None
                _disable()
                self._openat2 = None
        current = os.dup(root)  # the walk, once per dir: lstat and open each component
        try:
            for name in names:
                st = os.stat(name, dir_fd=current, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    return None
                fd = os.open(name, _DIR_PATH_FLAGS, dir_fd=current)
                os.close(current)
                current = fd
        except OSError:
            os.close(current)
            return None
        return current


def fd_xattr(fd: int, name: str, *, close: bool = False) -> bytes | None:
    """One xattr of an open fd; None when absent or not readable (as `layer_xattr`)."""
    try:
        return os.getxattr(fd, name)
    except OSError as exc:
        if exc.errno in _QUIET_XATTR:
            return None
        raise
    finally:
        if close:
            os.close(fd)
