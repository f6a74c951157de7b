"""File data by extents: a sparse file costs what its data costs.

A file's logical size can be a terabyte while its data is a few KiB (`truncate -s 1T`,
a `lastlog` written for a uid of 2^32-2). `lseek(2)` with `SEEK_DATA`/`SEEK_HOLE` maps
where the data lies; everything else is a hole, which reads as zeros by definition. So
here a hole is never read: a comparison skips the holes both files share and checks the
other side's data against zeros, and a stream (a hash, `cat`) is fed holes from one
shared buffer of zeros, with no read syscall. Only SHA-256 itself cannot skip a hole:
it must process every byte (about 1.5 GB/s on one core), so callers that hash bound the
bytes of holes they are willing to feed it (`hole_bytes`).

A file whose allocated blocks cover its size is read straight through (no `lseek`), as
it always was: that is every ordinary file, and the common case costs nothing extra.
Everything works on fds the caller opened (through `open_in_layer`'s no-follow walk),
reads with `pread`, and never reads past the size the caller saw at open: a file that
grows while it is read (a live log) cannot make the work unbounded.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from overlayscope.errors import OverlayscopeError

CHUNK = 1 << 20
ZEROS = bytes(CHUNK)  # the one buffer every hole is fed from
_ZERO_VIEW = memoryview(ZEROS)
# lseek errors that mean "this filesystem cannot map data and holes": read it all as data
_NO_MAP = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})

Check = Callable[[], None]  # called between chunks: raises to stop (a cancel)


def is_sparse(st: os.stat_result) -> bool:
    """Whether the file may hold holes: fewer bytes allocated than its size says."""
    return st.st_blocks * 512 < st.st_size


def segments(fd: int, size: int) -> Iterator[tuple[int, int, bool]]:
    """`(start, end, is_data)` runs covering `[0, size)` of the open regular file `fd`.

    Lazily, two `lseek`s a data extent, so a file of millions of extents never becomes a
    list in memory. Where the filesystem cannot say (EINVAL...), the rest is data.
    """
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data at or after pos: a hole to the end
                yield pos, size, False
                return
            if exc.errno in _NO_MAP:
                yield pos, size, True
                return
            raise
        if data >= size:
            yield pos, size, False
            return
        if data > pos:
            yield pos, data, False
        try:
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno not in _NO_MAP and exc.errno != errno.ENXIO:
                raise
            hole = size
        if hole <= data or hole > size:  # a file changing under us: the rest is data
            hole = size
        yield data, hole, True
        pos = hole


def hole_bytes(fd: int, size: int, *, limit: int | None = None, check: Check | None = None) -> int:
    """Bytes of holes in `fd`'s first `size` bytes; counting stops once past `limit`."""
    total = 0
    for n, (start, end, is_data) in enumerate(segments(fd, size)):
        if check is not None and n % 1024 == 1023:
            check()
        if not is_data:
            total += end - start
            if limit is not None and total > limit:
                break
    return total


def _read(fd: int, offset: int, n: int) -> bytes:
    """Up to `n` bytes at `offset`, short only at end of file."""
    data = os.pread(fd, n, offset)
    if 0 < len(data) < n:  # a short read that is not the end: read on
        parts = [data]
        got = len(data)
        while got < n:
            more = os.pread(fd, n - got, offset + got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


def iter_content(
    fd: int, size: int, *, chunk: int = CHUNK, check: Check | None = None
) -> Iterator[bytes | memoryview]:
    """The logical content of `fd`'s first `size` bytes, in pieces of at most `chunk` bytes.

    Data is read with `pread`; a hole is a view of `ZEROS` (no syscall). It ends early
    when the file is shorter than `size` (truncated while read). A piece is only valid
    until the next one is asked for.
    """
    chunk = min(chunk, CHUNK)
    runs: Iterator[tuple[int, int, bool]]
    runs = segments(fd, size) if is_sparse(os.fstat(fd)) else iter(((0, size, True),))
    for start, end, is_data in runs:
        pos = start
        while pos < end:
            if check is not None:
                check()
            n = min(chunk, end - pos)
            if not is_data:
                yield _ZERO_VIEW[:n]
                pos += n
                continue
            data = _read(fd, pos, n)
            if data:
                yield data
            if len(data) < n:
                return  # end of file before `size`: the file shrank
            pos += n


def same_fd_content(a: int, b: int, *, chunk: int = CHUNK, check: Check | None = None) -> bool:
    """Whether two open regular files hold the same bytes: sizes first, then the data.

    Dense files are read side by side. When either is sparse, the holes both share are
    equal without a read, and a data run facing a hole is checked against zeros.
    """
    st_a, st_b = os.fstat(a), os.fstat(b)
    size = st_a.st_size
    if st_b.st_size != size:
        return False
    chunk = min(chunk, CHUNK)
    if not is_sparse(st_a) and not is_sparse(st_b):
        return _same_dense(a, b, size, chunk, check)
    runs_a, runs_b = segments(a, size), segments(b, size)
    run_a, run_b = next(runs_a, None), next(runs_b, None)
    pos = 0
    while run_a is not None and run_b is not None:
        end = min(run_a[1], run_b[1])
        data_a, data_b = run_a[2], run_b[2]
        while (data_a or data_b) and pos < end:
            if check is not None:
                check()
            n = min(chunk, end - pos)
            piece_a = _read(a, pos, n) if data_a else ZEROS[:n]
            piece_b = _read(b, pos, n) if data_b else ZEROS[:n]
            if piece_a != piece_b:
                return False
            if len(piece_a) < n:  # both ended early, alike
                return True
            pos += n
        pos = end
        if run_a[1] == end:
            run_a = next(runs_a, None)
        if run_b[1] == end:
            run_b = next(runs_b, None)
    return True


def _same_dense(a: int, b: int, size: int, chunk: int, check: Check | None) -> bool:
    pos = 0  # a file smaller than `chunk` (most of them) is one read each
    while pos < size:
        if check is not None:
            check()
        n = min(chunk, size - pos)
        piece_a = _read(a, pos, n)
        if piece_a != _read(b, pos, n):
            return False
        if len(piece_a) < n:
            return True
        pos += n
    return True


DEFAULT_MAX_HOLE_BYTES = 16 << 30  # 16 GiB of zeros: about 11 s of SHA-256 on one core


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class TooSparse(OverlayscopeError):
    """A sparse file with more bytes of holes than the caller will hash.

    A digest must process every byte, holes included (no shortcut exists for SHA-256 over
    zeros): a 1 TB `truncate`d file would cost minutes of CPU for a few bytes of data.
    """

    title = "not hashed"

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(
            f"{path}: not hashed: a sparse file of {size} bytes with more than {limit} "
            "bytes of holes, the bound (a digest must process every zero of a hole)",
            hint="raise the bound (--hash-max-holes) to hash it anyway",
        )
        self.size = size
        self.limit = limit


def hash_fd(
    fd: int,
    hashers: Sequence[Hasher],
    *,
    path: str,
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES,
    check: Check | None = None,
) -> int:
    """Feed the logical content of the open regular file `fd` to `hashers`; its size.

    Holes are fed from `ZEROS` without a read. A file with more than `max_hole_bytes`
    bytes of holes (None: no bound) raises `TooSparse` before anything is read.
    """
    st = os.fstat(fd)
    if (
        max_hole_bytes is not None
        and is_sparse(st)
        and hole_bytes(fd, st.st_size, limit=max_hole_bytes, check=check) > max_hole_bytes
    ):
        raise TooSparse(path, st.st_size, max_hole_bytes)
    size = 0
    for piece in iter_content(fd, st.st_size, check=check):
        for hasher in hashers:
            hasher.update(piece)
        size += len(piece)
    return size
