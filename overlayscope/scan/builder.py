"""Turning the walker's `Record` batches into a `LayerIndex` in the compact layout (`columns.py`).

This is the pure-Python walk's builder; with the C helper, the walk builds the columns
itself and the builder only `adopt`s them (native_walk.py). Listings are sorted by
name as they arrive and their records buffered; every few thousand records the buffer
is transposed with `zip(*records)` and each field appended to its column in one
`array.extend`. The per-entry work stays in C, so building costs about a microsecond
an entry, even for dirs of a few entries (building `Entry` objects cost ~1.5 µs, and
~10x the memory).
"""

from __future__ import annotations

from array import array
from itertools import compress
from operator import itemgetter, methodcaller
from typing import Any

from overlayscope.scan.columns import ENCODING, ERRORS, TIME_OVERFLOW, Attr, Columns, widened
from overlayscope.scan.entry import Kind, LayerIndex, ScanProblem
from overlayscope.scan.walker import Record

_ENCODE = methodcaller("encode", ENCODING, ERRORS)
_NAME, _KIND = itemgetter(0), itemgetter(1)
# Kind is an Enum, whose __hash__ is Python code: hot paths key on id(kind) instead
_IS_DIR = frozenset({id(Kind.DIR), id(Kind.OPAQUE_DIR)}).__contains__
_KIND_OF_ID = {id(kind): kind for kind in Kind}
# the per-entry numeric columns, and the Record field each comes from
_NUMERIC = (("size", 5), ("blocks", 6), ("mtime", 7), ("ctime", 8), ("ino", 9), ("nlink", 10))
_PER_ENTRY = ("attr", "size", "blocks", "mtime", "ctime", "ino", "nlink")
_SLOT_COLUMNS = ("dir_entry", "dir_start", "dir_count", "dir_parent")
_FLUSH = 4096  # records buffered before they go into the columns
_TIME_MAX = 2**63 - 1


class IndexBuilder:
    """Collects one layer's records into a `LayerIndex` (a walker `ColumnSink`, minus `tick`).

    Relies on the walker's order: the root first, then each dir's listing in one run of
    `entries` calls, a dir only after the listing that holds it. Children are sorted
    by name bytes as they arrive (a dir listed in several batches is re-sorted once
    complete), so a lookup bisects. `index` finishes the build and returns the result.
    """

    def __init__(self, content_dir: str) -> None:
        self.content_dir = content_dir
        self.columns = Columns()
        self.problems: list[ScanProblem] = []
        self._blob = bytearray()  # the names, and the symlink targets, as they grow
        self._targets = bytearray()
        self._attr_ids: dict[tuple[int, int, int, int], int] = {}  # (id(kind), mode, uid, gid)
        self._adopted = False  # the C walk built the columns (`adopt`)
        self._count = 0  # entries so far, buffered ones included
        self._records: list[Record] = []  # buffered, in index order
        self._names: list[bytes] = []  # their encoded names
        self._slots: list[list[int]] = []  # buffered [entry, start, count, parent]
        self._slot_count = 0  # slots so far, buffered ones included
        # dirs listed but not yet entered: path -> (entry, slot of the listing holding it)
        self._pending: dict[str, tuple[int, int]] = {}
        self._dir: str | None = None  # the dir whose listing is being received
        self._slot: list[int] | None = None  # its [entry, start, count, parent] while buffered
        self._slot_no = -1
        self._batches = 0
        self._index: LayerIndex | None = None

    @property
    def index(self) -> LayerIndex:
        """The finished index (building stops here)."""
        if self._index is None and self._adopted:
            self._index = LayerIndex.from_columns(self.content_dir, self.columns, self.problems)
        if self._index is None:
            self._close_dir()
            self._flush()
            self._pending.clear()
            self.columns.names = bytes(self._blob)
            self.columns.targets = bytes(self._targets)
            self._blob = self._targets = bytearray()
            self._index = LayerIndex.from_columns(self.content_dir, self.columns, self.problems)
        return self._index

    def adopt(self, columns: Columns) -> None:
        """Take the whole layer, built by the C walk (native_walk.py): `index` is over it."""
        self.columns = columns
        self._adopted = True

    def root(self, record: Record) -> None:
        self._records.append(record)
        self._names.append(b"")
        self._pending["/"] = (self._count, 0)
        self._count += 1

    def _listing(self, dir_path: str, n: int) -> bool:
        """Account for `n` more children of `dir_path` in its slot; are there any?"""
        if dir_path != self._dir:
            if self._batches > 1:
                self._close_dir()
            found = self._pending.pop(dir_path, None)
            if found is None:
                raise ValueError(f"a listing of {dir_path!r} that no listing announced")
            self._slot = slot = [found[0], self._count, n, found[1]]
            self._slots.append(slot)
            self._slot_no = self._slot_count
            self._slot_count += 1
            self._dir = dir_path
            self._batches = 1 if n else 0
            return n > 0
        if not n:
            return False
        self._batches += 1
        if self._slot is not None:
            self._slot[2] += n
        else:  # already flushed: a dir listed in several batches
            self.columns.dir_count[self._slot_no] += n
        return True

    def entries(self, dir_path: str, records: list[Record]) -> None:
        # per directory, so kept lean: most dirs hold a handful of entries
        n = len(records)
        if not self._listing(dir_path, n):
            return
        encoded = list(map(_ENCODE, map(_NAME, records)))
        if n > 1:
            order = sorted(range(n), key=encoded.__getitem__)
            records = list(map(records.__getitem__, order))
            encoded = list(map(encoded.__getitem__, order))
        first = self._count
        prefix = "/" if dir_path == "/" else dir_path + "/"
        pending, slot_no = self._pending, self._slot_no
        for j in compress(range(n), map(_IS_DIR, map(id, map(_KIND, records)))):
            pending[prefix + records[j][0]] = (first + j, slot_no)
        self._records += records
        self._names += encoded
        self._count = first + n
        if len(self._records) >= _FLUSH:
            self._flush()

    def problem(self, problem: ScanProblem) -> None:
        self.problems.append(problem)

    def attr_id(self, attr: Attr) -> int:
        """The index of `attr` in the layer's table, added if new."""
        kind, mode, uid, gid = attr
        key = (id(kind), mode, uid, gid)
        found = self._attr_ids.get(key)
        if found is None:
            found = self._attr_ids[key] = len(self.columns.attrs)
            self.columns.attrs.append(attr)
        return found

    def _flush(self) -> None:
        """Move the buffered records and slots into the columns."""
        c = self.columns
        if self._slots:
            for name, values in zip(_SLOT_COLUMNS, zip(*self._slots, strict=True), strict=True):
                setattr(c, name, widened(getattr(c, name), values, name))
            self._slots = []
            self._slot = None
        records, encoded = self._records, self._names
        if not records:
            return
        self._records, self._names = [], []
        first = len(c)
        fields = list(zip(*records, strict=True))
        self._blob += b"".join(encoded)
        c.add_name_ends(map(len, encoded))
        keys = list(zip(map(id, fields[1]), *fields[2:5], strict=True))
        ids = self._attr_ids
        for key in dict.fromkeys(keys):
            if key not in ids:
                self.attr_id((_KIND_OF_ID[key[0]], key[1], key[2], key[3]))
        c.attr = widened(c.attr, list(map(ids.__getitem__, keys)), "attr")
        _fit_times(c, fields, first)
        for name, field in _NUMERIC:
            setattr(c, name, widened(getattr(c, name), fields[field], name))
        rdevs, targets, xattrs = fields[11], fields[12], fields[13]
        for j in compress(range(len(records)), rdevs):
            c.rdev[first + j] = rdevs[j]
        for j in compress(range(len(records)), xattrs):
            c.xattrs[first + j] = xattrs[j]
        linked = list(compress(range(len(records)), targets))
        if linked:
            blobs = [targets[j].encode(ENCODING, ERRORS) for j in linked]
            c.add_links([first + j for j in linked], blobs, self._targets)

    def _close_dir(self) -> None:
        """A dir received in several batches is sorted batch by batch: sort it whole."""
        if self._dir is not None and self._batches > 1:
            self._flush()
            self._resort_tail(self.columns.dir_start[self._slot_no])
        self._dir = None

    def _resort_tail(self, start: int) -> None:
        """Sort entries [start, end) by name; they are the last ones, so only tails move."""
        c = self.columns
        count = len(c) - start
        at, blob = c.name_at, self._blob
        names = [bytes(blob[at[i] : at[i + 1]]) for i in range(start, start + count)]
        order = sorted(range(count), key=names.__getitem__)
        if order == list(range(count)):
            return
        new_of = [0] * count
        for new, old in enumerate(order):
            new_of[old] = new
        for name in _PER_ENTRY:
            col: array[int] = getattr(c, name)
            tail = col[start:]
            col[start:] = array(col.typecode, [tail[j] for j in order])
        del blob[at[start] :]
        blob += b"".join(names[j] for j in order)
        del c.name_at[start + 1 :]
        c.add_name_ends(len(names[j]) for j in order)

        def moved(i: int) -> int:
            return start + new_of[i - start] if i >= start else i

        tail_rdev = [(i, v) for i, v in c.rdev.items() if i >= start]
        for i, _ in tail_rdev:
            del c.rdev[i]
        c.rdev.update((moved(i), v) for i, v in tail_rdev)
        tail_xattrs = [(i, x) for i, x in c.xattrs.items() if i >= start]
        for i, _ in tail_xattrs:
            del c.xattrs[i]
        c.xattrs.update((moved(i), x) for i, x in tail_xattrs)
        tail_times = [(i, t) for i, t in c.wide_times.items() if i >= start]
        for i, _ in tail_times:
            del c.wide_times[i]
        c.wide_times.update((moved(i), t) for i, t in tail_times)
        k = len(c.link_entry)
        while k and c.link_entry[k - 1] >= start:
            k -= 1
        if k < len(c.link_entry):
            at = c.link_at
            links = sorted(
                (moved(c.link_entry[j]), bytes(self._targets[at[j] : at[j + 1]]))
                for j in range(k, len(c.link_entry))
            )
            del self._targets[at[k] :]
            del c.link_entry[k:]
            del c.link_at[k + 1 :]
            c.add_links([entry for entry, _ in links], [t for _, t in links], self._targets)
        self._pending = {p: (moved(e), s) for p, (e, s) in self._pending.items()}


def _fit_times(c: Columns, fields: list[tuple[Any, ...]], first: int) -> None:
    """Times that do not fit the 64-bit columns go to `wide_times`, TIME_OVERFLOW in their place.

    A file can carry a time past the year 2262 (ext4 stores up to 2446); checked
    per flush with min/max, so the common case costs next to nothing."""
    mtimes, ctimes = fields[7], fields[8]
    if (
        max(mtimes) <= _TIME_MAX and min(mtimes) > TIME_OVERFLOW
        and max(ctimes) <= _TIME_MAX and min(ctimes) > TIME_OVERFLOW
    ):  # fmt: skip
        return
    fitted_m, fitted_c = list(mtimes), list(ctimes)
    for j, (mtime, ctime) in enumerate(zip(mtimes, ctimes, strict=True)):
        if not (TIME_OVERFLOW < mtime <= _TIME_MAX and TIME_OVERFLOW < ctime <= _TIME_MAX):
            c.wide_times[first + j] = (mtime, ctime)
            fitted_m[j] = fitted_c[j] = TIME_OVERFLOW
    fields[7], fields[8] = tuple(fitted_m), tuple(fitted_c)
