"""A small read-only reader for bbolt (etcd-io/bbolt) database files: containerd's metadata.

containerd keeps its metadata in two bbolt files, and overlayscope reads them offline, from a
copied snapshot or beside a running containerd that holds an exclusive flock on them. So this
reader never locks, never writes, never creates a file: it opens the path O_RDONLY without
following a symlink, refuses anything but a regular file, and maps it PROT_READ.

Damage is data. Only "this is not a readable bbolt file at all" raises (`BoltError`); a corrupt
page, an unknown page flag or a reference out of range is recorded in `BoltDB.problems` and
its subtree skipped, so iteration yields everything else that is readable and always ends: every
page reference is bounds-checked, a walk visits each page once, a page belongs to one bucket
tree and a bucket root to one bucket entry, and an inline bucket holds no nested bucket (bbolt
never writes one).

A live containerd may commit while we read and reuse pages our meta still references. bbolt
overwrites such a page only in the commit after the one that freed it, and it writes that
earlier commit's meta page first; so if `BoltDB.changed()` is False after a full read, the
read saw one consistent transaction. `read_settled` retries a read until it does.

Format notes (bbolt's `page.go`, `meta.go`, `bucket.go`): pages of `page_size` bytes; pages 0
and 1 are meta pages; a page header is `<QHHI` (id, flags, count, overflow) and a page spans
1 + overflow pages; leaf elements `<IIII` (flags, pos, ksize, vsize), branch elements `<IIQ`
(pos, ksize, child), `pos` counted from the element itself; a bucket's value is `<QQ` (root
page, sequence), and root 0 means an inline bucket whose leaf page follows in the value.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import struct
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Generic, TypeVar

from overlayscope.errors import OverlayscopeError
from overlayscope.names import plural
from overlayscope.record import record

MAGIC = 0xED0CDAED
VERSION = 2
MIN_PAGE_SIZE = 1024
MAX_PAGE_SIZE = 64 * 1024
# A B+tree whose pages hold at least two keys is never this deep; deeper is a loop or damage.
MAX_DEPTH = 64

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01
NO_FREELIST = 0xFFFF_FFFF_FFFF_FFFF

_PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
_LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize
_BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, ksize, child page id
_BUCKET_HEADER = struct.Struct("<QQ")  # root page id, sequence
# magic, version, page size, flags, root, sequence, freelist, pgid (high-water mark), txid, checksum
_META = struct.Struct("<IIIIQQQQQQ")
_META_CHECKED = _META.size - 8  # the checksum covers the meta's bytes before it
_META_END = _PAGE_HEADER.size + _META.size

_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
_U64 = (1 << 64) - 1

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_O_NOATIME = getattr(os, "O_NOATIME", 0)

_Buffer = mmap.mmap | bytes
T = TypeVar("T")


class BoltError(OverlayscopeError):
    """The file is not a readable bbolt database at all; `str()` is one line saying why.

    `errno` is set when the operating system refused the file (EACCES: not root).
    """

    title = "not a readable bbolt database"

    def __init__(self, message: str, hint: str | None = None, errno: int | None = None) -> None:
        super().__init__(message, hint)
        self.errno = errno


@record
class BoltProblem:
    """Damage met while reading: the page it is on (None: the file as a whole) and a sentence."""

    page: int | None
    detail: str


@record
class _Meta:
    page: int
    page_size: int
    root: int
    sequence: int
    hwm: int  # bbolt's `pgid`: pages 0..hwm-1 are in use
    txid: int


@record
class _Page:
    """A branch or leaf page checked against the map: `buf[start:end]` is its whole span."""

    pgid: int  # for an inline bucket's page: the page holding the bucket's entry
    buf: _Buffer
    start: int
    end: int
    flags: int
    count: int


@record
class _Entry:
    index: int
    key: bytes
    flags: int  # leaf elements; 0 on a branch
    start: int  # leaf: the value's span in the page's buffer
    end: int
    child: int  # branch: the child page id


def _fnv1a64(data: bytes) -> int:
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV64_PRIME) & _U64
    return h


def _parse_meta(raw: bytes, page: int, size: int) -> _Meta | str:
    """The meta in `raw` (a page's first bytes), or why it is not a valid one."""
    if len(raw) < _META_END:
        return "it lies beyond the end of the file"
    magic, version, page_size, _flags, root, seq, freelist, hwm, txid, checksum = _META.unpack_from(
        raw, _PAGE_HEADER.size
    )
    if magic != MAGIC:
        return "no bbolt magic"
    if version != VERSION:
        return f"format version {version}, not {VERSION}"
    if checksum != _fnv1a64(raw[_PAGE_HEADER.size : _PAGE_HEADER.size + _META_CHECKED]):
        return "bad checksum"
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE or page_size & (page_size - 1):
        return f"page size {page_size} is not a power of two from 1 KiB to 64 KiB"
    if hwm < 3 or not 2 <= root < hwm:
        return f"root page {root} is outside the {hwm} pages in use"
    if freelist != NO_FREELIST and not 2 <= freelist < hwm:
        return f"freelist page {freelist} is outside the {hwm} pages in use"
    return _Meta(page, page_size, root, seq, hwm, txid)


def _choose_meta(
    read_at: Callable[[int, int], bytes], size: int
) -> tuple[_Meta, list[BoltProblem]]:
    """The valid meta page with the highest txid, and a problem for an invalid one.

    Page 1 sits one page size in; when page 0 cannot say how big a page is, try every size
    bbolt can use, as bbolt itself does, and trust a meta only if it names the size it sits at.
    """
    if size == 0:
        raise BoltError("the file is empty")
    if size < _META_END:
        raise BoltError(f"the file is {plural(size, 'byte')}, too small to hold a bbolt meta page")
    meta0 = _parse_meta(read_at(0, _META_END), 0, size)
    meta1: _Meta | str = "not found at any page size"
    if isinstance(meta0, _Meta):
        offsets = [meta0.page_size]
    else:
        offsets = [MIN_PAGE_SIZE << i for i in range(7)]
    for offset in offsets:
        if offset + _META_END > size:
            if len(offsets) == 1:
                meta1 = "it lies beyond the end of the file"
            break
        found = _parse_meta(read_at(offset, _META_END), 1, size)
        if isinstance(found, _Meta) and found.page_size != offset:
            found = f"it names page size {found.page_size} but sits at offset {offset}"
        if isinstance(found, _Meta) or len(offsets) == 1:
            meta1 = found
            break
    valid = [m for m in (meta0, meta1) if isinstance(m, _Meta)]
    if not valid:
        if meta0 == "no bbolt magic" and meta1 in ("no bbolt magic", "not found at any page size"):
            raise BoltError("not a bbolt database: no bbolt magic number in its meta pages")
        raise BoltError(f"no valid bbolt meta page (page 0: {meta0}; page 1: {meta1})")
    best = max(valid, key=lambda m: (m.txid, -m.page))
    problems = [
        BoltProblem(
            page,
            f"invalid meta page ({reason}); using meta page {best.page} (txid {best.txid})",
        )
        for page, reason in ((0, meta0), (1, meta1))
        if isinstance(reason, str)
    ]
    return best, problems


def _open_fd(path: str) -> int:
    """`path` opened read-only: no symlink followed, no terminal taken, no atime where allowed."""
    try:
        try:
            fd = os.open(path, _OPEN_FLAGS | _O_NOATIME)
        except PermissionError as exc:
            if exc.errno != errno.EPERM or not _O_NOATIME:
                raise
            fd = os.open(path, _OPEN_FLAGS)  # O_NOATIME needs ownership or CAP_FOWNER
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BoltError(f"{path} is a symlink; not followed", errno=exc.errno) from None
        hint = "reading containerd's metadata needs root" if exc.errno == errno.EACCES else None
        raise BoltError(f"cannot open {path}: {exc.strerror}", hint, exc.errno) from None
    return fd


def _map(fd: int, size: int) -> _Buffer:
    """The file mapped PROT_READ; read into memory where the filesystem cannot map it."""
    try:
        return mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        chunks = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(1 << 20, size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)


class BoltDB:
    """A bbolt file opened read-only, as of one transaction (`txid`). A context manager.

    `problems` holds the meta fallbacks and every corrupt page met so far, each once.
    Values returned are copies: closing the database never invalidates them, but it ends
    every `Bucket` taken from it.
    """

    def __init__(
        self, path: str, fd: int, data: _Buffer, size: int, meta: _Meta, problems: list[BoltProblem]
    ) -> None:
        self.path = path
        self.page_size = meta.page_size
        self.txid = meta.txid
        self.problems = problems
        self._fd: int | None = fd
        self._data: _Buffer | None = data
        self._size = size
        self._meta = meta
        self._noted = {(p.page, p.detail) for p in problems}
        self._owner: dict[int, int] = {}  # page id -> root page of the bucket tree it belongs to
        self._roots: dict[int, tuple[int, int]] = {meta.root: (-1, -1)}  # root -> entry's place
        needed = meta.hwm * meta.page_size
        if size < needed:
            self._problem(
                None,
                f"the file is {plural(size, 'byte')} but its {meta.hwm} pages need "
                f"{needed}: a truncated copy?",
            )

    @classmethod
    def open(cls, path: str) -> BoltDB:
        """Open `path` read-only; raise `BoltError` when it is not a readable bbolt file."""
        fd = _open_fd(path)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = "directory" if stat.S_ISDIR(st.st_mode) else "special file"
                raise BoltError(f"{path} is a {kind}, not a regular file")
            size = st.st_size
            data = _map(fd, size) if size >= _META_END else b""
            try:
                meta, problems = _choose_meta(lambda off, n: data[off : off + n], size)
            except BoltError:
                if isinstance(data, mmap.mmap):
                    data.close()
                raise
        except BoltError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise BoltError(f"cannot read {path}: {exc.strerror}", errno=exc.errno) from None
        return cls(path, fd, data, size, meta, problems)

    def close(self) -> None:
        """Unmap the file and close it. Buckets taken from this database stop working."""
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._data = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BoltDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def root(self) -> Bucket:
        """The root bucket, whose keys are the top-level buckets."""
        return Bucket(self, self._meta.root, self._meta.sequence, None)

    def bucket(self, *path: bytes) -> Bucket | None:
        """The bucket at `path` (root().bucket(a).bucket(b)…), None if any step is missing."""
        found: Bucket | None = self.root()
        for name in path:
            if found is None:
                return None
            found = found.bucket(name)
        return found

    def changed(self) -> bool:
        """True when the file now holds another transaction or has another size.

        Re-reads both meta pages from the file (not the map), so it is cheap; on an
        unchanged answer after a full read, everything read came from transaction `txid`.
        """
        if self._fd is None:
            raise ValueError("the bbolt database is closed")
        fd = self._fd
        try:
            size = os.fstat(fd).st_size
            meta, _ = _choose_meta(lambda off, n: os.pread(fd, n, off), size)
        except (OSError, BoltError):
            return True
        return meta.txid != self.txid or size != self._size

    # Reading pages, with every check; None (and a problem) where a page cannot be used.

    def _problem(self, page: int | None, detail: str) -> None:
        if (page, detail) not in self._noted:
            self._noted.add((page, detail))
            self.problems.append(BoltProblem(page, detail))

    def _buffer(self) -> _Buffer:
        if self._data is None:
            raise ValueError("the bbolt database is closed")
        return self._data

    def _page(self, pgid: int, tree: int) -> _Page | None:
        """Page `pgid` of the bucket tree rooted at `tree`, checked; None if it is unusable."""
        buf = self._buffer()
        ps, hwm = self.page_size, self._meta.hwm
        if pgid < 2:
            self._problem(pgid, "a meta page, referenced where a branch or leaf belongs")
            return None
        if pgid >= hwm:
            self._problem(pgid, f"referenced, but beyond the {hwm} pages in use")
            return None
        if (pgid + 1) * ps > len(buf):
            self._problem(pgid, "referenced, but beyond the end of the file")
            return None
        owner = self._owner.setdefault(pgid, tree)
        if owner != tree:
            self._problem(
                pgid,
                f"reached from the bucket at page {tree} but belongs to the one at page {owner}",
            )
            return None
        start = pgid * ps
        header_id, flags, count, overflow = _PAGE_HEADER.unpack_from(buf, start)
        if header_id != pgid:
            self._problem(pgid, f"calls itself page {header_id}")
            return None
        if flags not in (BRANCH_PAGE, LEAF_PAGE):
            what = {META_PAGE: "a meta page", FREELIST_PAGE: "a freelist page"}.get(
                flags, f"a page of unknown type (flags {flags:#x})"
            )
            self._problem(pgid, f"{what}, where a branch or leaf belongs")
            return None
        if pgid + overflow >= hwm or (pgid + 1 + overflow) * ps > len(buf):
            self._problem(pgid, f"claims {overflow} overflow pages, past the end")
            return None
        return self._checked(_Page(pgid, buf, start, start + (1 + overflow) * ps, flags, count))

    def _checked(self, page: _Page) -> _Page | None:
        if _PAGE_HEADER.size + page.count * _LEAF_ELEMENT.size > page.end - page.start:
            self._problem(page.pgid, f"claims {page.count} elements, more than fit in it")
            return None
        if page.flags == BRANCH_PAGE and page.count == 0:
            self._problem(page.pgid, "a branch page with no elements")
            return None
        return page

    def _entries(self, page: _Page) -> list[_Entry]:
        """The page's elements, each inside the page's data area and after the one before.

        bbolt writes element data in element order, so a key or value that overlaps an
        earlier one is damage; refusing it also keeps a crafted page from amplifying work.
        """
        buf, start, leaf = page.buf, page.start, page.flags == LEAF_PAGE
        floor = start + _PAGE_HEADER.size + page.count * _LEAF_ELEMENT.size
        entries: list[_Entry] = []
        for i in range(page.count):
            at = start + _PAGE_HEADER.size + i * _LEAF_ELEMENT.size
            if leaf:
                flags, pos, ksize, vsize = _LEAF_ELEMENT.unpack_from(buf, at)
                child = 0
            else:
                pos, ksize, child = _BRANCH_ELEMENT.unpack_from(buf, at)
                flags = vsize = 0
            key_at = at + pos
            end = key_at + ksize + vsize
            if ksize == 0 or key_at < floor or end > page.end:
                where = f"{key_at - start}..{end - start}"
                self._problem(
                    page.pgid,
                    f"element {i} points at bytes {where}, outside the page or over another one",
                )
                continue
            floor = end
            key = bytes(buf[key_at : key_at + ksize])
            entries.append(_Entry(i, key, flags, key_at + ksize, end, child))
        return entries

    def _walk(self, bucket: Bucket) -> Iterator[tuple[_Page, _Entry]]:
        """Every leaf element of the bucket, depth first in key order, each page once."""
        if bucket._inline is not None:
            for entry in self._entries(bucket._inline):
                yield bucket._inline, entry
            return
        seen: set[int] = set()
        last: bytes | None = None
        stack = [(bucket._root, 0)]
        while stack:
            pgid, depth = stack.pop()
            if pgid in seen:
                self._problem(pgid, "referenced twice in one bucket")
                continue
            seen.add(pgid)
            if depth > MAX_DEPTH:
                self._problem(pgid, f"more than {MAX_DEPTH} levels deep")
                continue
            page = self._page(pgid, bucket._root)
            if page is None:
                continue
            entries = self._entries(page)
            if page.flags == BRANCH_PAGE:
                stack.extend((e.child, depth + 1) for e in reversed(entries))
                continue
            for entry in entries:
                if last is not None and entry.key <= last:
                    self._problem(pgid, f"keys out of order at element {entry.index}")
                last = entry.key
                yield page, entry

    def _find(self, bucket: Bucket, key: bytes) -> tuple[_Page, _Entry] | None:
        """The leaf element for `key`: a binary search down the branch pages, as bbolt does."""
        if bucket._inline is not None:
            page: _Page | None = bucket._inline
        else:
            seen: set[int] = set()
            pgid = bucket._root
            page = None
            while True:
                if pgid in seen:
                    self._problem(pgid, "reached twice on one path")
                    return None
                if len(seen) > MAX_DEPTH:
                    self._problem(pgid, f"more than {MAX_DEPTH} levels deep")
                    return None
                seen.add(pgid)
                page = self._page(pgid, bucket._root)
                if page is None or page.flags == LEAF_PAGE:
                    break
                entries = self._entries(page)
                if not entries:
                    return None
                # The child whose first key is the last one <= key (the first child if none).
                at = bisect_right([e.key for e in entries], key) - 1
                pgid = entries[max(at, 0)].child
        if page is None:
            return None
        for entry in self._entries(page):
            if entry.key == key:
                return page, entry
        return None

    def _value(self, page: _Page, entry: _Entry) -> bytes:
        return bytes(page.buf[entry.start : entry.end])

    def _open_child(self, parent: Bucket, page: _Page, entry: _Entry) -> Bucket | None:
        """The nested bucket an element with the bucket flag holds; None (a problem) if bad."""
        if entry.end - entry.start < _BUCKET_HEADER.size:
            self._problem(
                page.pgid,
                f"element {entry.index} is a bucket of {plural(entry.end - entry.start, 'byte')}, "
                "shorter than a bucket header",
            )
            return None
        if parent._inline is not None:
            self._problem(
                page.pgid,
                f"element {entry.index} is a bucket inside an inline bucket, "
                "which bbolt never writes",
            )
            return None
        root, sequence = _BUCKET_HEADER.unpack_from(page.buf, entry.start)
        if root != 0:
            place = self._roots.setdefault(root, (page.pgid, entry.index))
            if place != (page.pgid, entry.index):
                self._problem(root, "the root of two buckets")
                return None
            return Bucket(self, root, sequence, None)
        value = self._value(page, entry)
        if len(value) < _BUCKET_HEADER.size + _PAGE_HEADER.size:
            self._problem(
                page.pgid,
                f"element {entry.index} is an inline bucket too short to hold its page",
            )
            return None
        _id, flags, count, _overflow = _PAGE_HEADER.unpack_from(value, _BUCKET_HEADER.size)
        if flags != LEAF_PAGE:
            self._problem(
                page.pgid,
                f"element {entry.index} is an inline bucket whose page has flags {flags:#x}, "
                "not a leaf",
            )
            return None
        inline = self._checked(
            _Page(page.pgid, value, _BUCKET_HEADER.size, len(value), flags, count)
        )
        return None if inline is None else Bucket(self, 0, sequence, inline)


class Bucket:
    """A bucket of a `BoltDB`: keys in order, each holding a value or a nested bucket.

    Valid while its database is open; `sequence` is the bucket's NextSequence counter.
    """

    __slots__ = ("_db", "_inline", "_root", "sequence")

    def __init__(self, db: BoltDB, root: int, sequence: int, inline: _Page | None) -> None:
        self._db = db
        self._root = root
        self._inline = inline
        self.sequence = sequence

    def get(self, key: bytes) -> bytes | None:
        """The plain value at `key`; None if absent or a nested bucket."""
        found = self._db._find(self, key)
        if found is None or found[1].flags & BUCKET_LEAF_FLAG:
            return None
        return self._db._value(*found)

    def bucket(self, key: bytes) -> Bucket | None:
        """The nested bucket at `key`; None if absent, a plain value, or unreadable."""
        found = self._db._find(self, key)
        if found is None or not found[1].flags & BUCKET_LEAF_FLAG:
            return None
        return self._db._open_child(self, *found)

    def items(self) -> Iterator[tuple[bytes, bytes | Bucket]]:
        """Every key in order with its value (a copy) or nested bucket."""
        for page, entry in self._db._walk(self):
            if entry.flags & BUCKET_LEAF_FLAG:
                child = self._db._open_child(self, page, entry)
                if child is not None:
                    yield entry.key, child
            else:
                yield entry.key, self._db._value(page, entry)

    def keys(self) -> Iterator[bytes]:
        """Every key in order, as `items()` yields them."""
        for key, _ in self.items():
            yield key


@record
class Settled(Generic[T]):
    """What `read_settled` read: the value, from transaction `txid` unless a problem says not."""

    value: T
    txid: int
    problems: tuple[BoltProblem, ...]
    attempts: int


def read_settled(
    path: str, read: Callable[[BoltDB], T], attempts: int = 4, pause: float = 0.05
) -> Settled[T]:
    """Run `read` on the database at `path` until the file did not change during it.

    `read` must return plain data (copies), not buckets: each attempt closes its database.
    When the file changed during every attempt, the last value comes back with a problem
    saying it may mix transactions. `BoltError` from opening is not retried.
    """
    if attempts < 1:
        raise ValueError("read_settled needs at least one attempt")
    txids: list[int] = []
    for attempt in range(1, attempts + 1):
        with BoltDB.open(path) as db:
            value = read(db)
            txids.append(db.txid)
            if not db.changed():
                return Settled(value, db.txid, tuple(db.problems), attempt)
            problems = tuple(db.problems)
        if attempt < attempts:
            time.sleep(pause * attempt)  # let the writer's commits pass
    unsettled = BoltProblem(
        None,
        f"the database changed during each of {attempts} reads "
        f"(txids {', '.join(map(str, txids))}); the last may mix transactions",
    )
    return Settled(value, txids[-1], (*problems, unsettled), attempts)


# Go encodings containerd stores in its buckets.


def uvarint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Go's `binary.Uvarint` at `pos`: (value, position after it); ValueError if malformed.

    Like Go, accepts a non-minimal encoding; refuses one that is truncated or overflows 64 bits.
    """
    value = 0
    for i in range(10):
        if pos + i >= len(data):
            raise ValueError(f"truncated uvarint at offset {pos}")
        byte = data[pos + i]
        if i == 9 and byte > 1:
            raise ValueError(f"uvarint at offset {pos} overflows 64 bits")
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    raise ValueError(f"uvarint at offset {pos} overflows 64 bits")  # unreachable: i == 9 ends


def varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Go's `binary.Varint` (zigzag) at `pos`: (value, position after); ValueError if malformed."""
    raw, end = uvarint(data, pos)
    return (~(raw >> 1) if raw & 1 else raw >> 1), end


_GO_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # Go's time.Time counts seconds from year 1
_GO_TIME = struct.Struct(">qih")  # seconds, nanoseconds, zone offset in minutes (-1: UTC)


def go_time(data: bytes) -> datetime | None:
    """A Go `time.Time` encoded by `MarshalBinary`, as an aware datetime (to the microsecond).

    None when the bytes are not such an encoding, for Go's zero time (unset), and for a time
    Python cannot represent (beyond year 9999). An offset Python cannot hold gives UTC.
    """
    if not data or data[0] not in (1, 2) or len(data) != 14 + data[0]:
        return None
    sec, nsec, offset_min = _GO_TIME.unpack_from(data, 1)
    offset = offset_min * 60 + (struct.unpack_from(">b", data, 15)[0] if data[0] == 2 else 0)
    if not 0 <= nsec < 1_000_000_000 or (sec == 0 and nsec == 0):
        return None
    try:
        when = _GO_EPOCH + timedelta(seconds=sec, microseconds=nsec // 1000)
    except OverflowError:
        return None
    if offset == -60:
        return when
    try:
        return when.astimezone(timezone(timedelta(seconds=offset)))
    except (ValueError, OverflowError):
        return when
