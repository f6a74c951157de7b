"""Files the user names on the command line (`--ioc FILE`, `--root ARCHIVE`): opened so
that nothing can hang or talk to a device.

A path the user gives may still be a FIFO (an open for reading waits for a writer), a
device (opening one can rewind a tape or read `/dev/zero` forever), a socket or a dir.
Each is refused with one line before it is opened, and checked again by `fstat` on the
fd, opened `O_NONBLOCK | O_NOCTTY`, should the path have changed in between. Symlinks are
followed: the user named the file (evidence never is read this way; see `root/records`).
"""

from __future__ import annotations

import os
import stat

from overlayscope.errors import OverlayscopeError

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotARegularFile(OverlayscopeError):
    """The user named a FIFO, a device, a socket or a dir where a file was wanted."""

    title = "not a regular file"


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (`a FIFO`, `a directory`...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular_file(path: str, hint: str | None = None) -> int:
    """An fd (O_RDONLY, O_NONBLOCK) of the regular file `path`.

    `NotARegularFile` (with `hint`) for anything else, found before it is opened;
    OSError as `os.stat`/`os.open` raise it (missing, permission denied).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(f"{path} is {kind_of(st.st_mode)}, not a file", hint=hint)
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise NotARegularFile(f"{path} is {kind_of(st.st_mode)}, not a file", hint=hint)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_file(path: str, limit: int, hint: str | None = None) -> bytes:
    """At most `limit` + 1 bytes of the regular file `path` (one more: the caller tells a
    file past its limit); errors as `open_regular_file`."""
    fd = open_regular_file(path, hint)
    try:
        return read_at_most(fd, limit + 1)
    finally:
        os.close(fd)


def read_at_most(fd: int, n: int, chunk: int = 1 << 20) -> bytes:
    """The next `n` bytes of `fd`, or fewer at its end: `chunk` bytes a read at most."""
    chunks = []
    while n > 0:
        data = os.read(fd, min(n, chunk))
        if not data:
            break
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)
