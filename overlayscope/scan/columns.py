"""The compact layout of a scanned layer: one column per field, names in one blob.

A million `Entry` objects, their path strings and a dict keyed by path cost ~650 bytes
an entry; this layout costs ~60 (docs/performance.md has the measurements). Entry `i`
(0 is the diff root) is the i-th value of every column:

- `names` holds every name, fsencoded, back to back; name i is `names[name_at[i]:name_at[i+1]]`.
- `attr[i]` indexes `attrs`, the layer's distinct (kind, mode, uid, gid): a few hundred
  at most, so one byte an entry.
- `size`, `blocks`, `mtime`, `ctime`, `ino`, `nlink`: the lstat facts, each in the
  narrowest array type that holds the layer's values (widened when one does not fit).
- `mtime` and `ctime` hold nanoseconds in 64 bits; a time past that (beyond the year
  2262, which ext4 can store and hostile evidence may use) is `TIME_OVERFLOW` there,
  and exact in `wide_times`.
- rare facts are sparse: `rdev` (non-zero only) and `xattrs` by entry, symlink targets
  as (`link_entry`, `link_at`, `targets`) like the names.
- directories whose listing was read are "slots", in listing order: `dir_entry[s]` is
  the dir, its children are the entries `dir_start[s]` to `dir_start[s] + dir_count[s]`,
  sorted by name bytes, and `dir_parent[s]` is the slot whose children include it. The
  walker lists a dir completely before it descends, so every dir's children are
  contiguous, and a path is found by bisecting its parent's children.

Paths and `Entry` objects are made only when asked for (`path_at`, `entry_at`,
`lookup`). What a lookup needs (each slot's path, and a dict from path to slot) is
built on the first lookup and kept: ~12 bytes an entry more (dirs are ~1 in 10).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any

from overlayscope.scan.entry import Entry, Kind, OverlayXattrs

if TYPE_CHECKING:
    from overlayscope.scan.sizes import LayerSums

ENCODING = sys.getfilesystemencoding()
ERRORS = sys.getfilesystemencodeerrors()

# typecode -> the next wider one; a column starts narrow and is widened when needed
_WIDER = {"B": "H", "H": "I", "I": "Q", "Q": "Q", "q": "q"}
# column name -> initial typecode
COLUMNS: dict[str, str] = {
    "name_at": "I",
    "attr": "B",
    "size": "I",
    "blocks": "I",
    "mtime": "q",
    "ctime": "q",
    "ino": "I",
    "nlink": "H",
    "link_entry": "I",
    "link_at": "I",
    "dir_entry": "I",
    "dir_start": "I",
    "dir_count": "I",
    "dir_parent": "I",
}
_SIGNED_WIDE = {"size", "blocks"}  # widen to 'q' (st_size and st_blocks are signed)

Attr = tuple[Kind, int, int, int]  # kind, mode, uid, gid
TIME_OVERFLOW = -(2**63)  # in mtime/ctime: the exact times are in `wide_times`
_SMALL_DIR = 16  # children bisected in place; a bigger dir's names are listed once
_NAME_LISTS = 4096  # dirs whose name lists are kept (~55 bytes a child)
_SLOT_PATHS = 256  # dir paths kept: a walk down the tree makes each from its parent's


def widened(col: array[int], values: Any, name: str) -> array[int]:
    """`col` extended by `values`, widened to a bigger type first if a value does not fit.

    array.extend appends item by item, so a failed extend is rolled back before the retry.
    """
    n = len(col)
    while True:
        try:
            col.extend(values)
            return col
        except OverflowError:
            del col[n:]
            code = "q" if name in _SIGNED_WIDE and col.typecode in "BHI" else _WIDER[col.typecode]
            if code == col.typecode:
                raise
            col = array(code, col)


class Columns:
    """Every entry of one layer, column by column. Built by `IndexBuilder`; read-only after."""

    __slots__ = (
        "_hash_slots",
        "_names_of",
        "_path_hashes",
        "_slot_of_dir",
        "_slot_paths",
        "attr",
        "attrs",
        "blocks",
        "ctime",
        "dir_count",
        "dir_entry",
        "dir_parent",
        "dir_start",
        "ino",
        "link_at",
        "link_entry",
        "mtime",
        "name_at",
        "names",
        "nlink",
        "rdev",
        "size",
        "sums",
        "targets",
        "wide_times",
        "xattrs",
    )

    def __init__(self) -> None:
        for name, code in COLUMNS.items():
            setattr(self, name, array(code))
        self.name_at.append(0)
        self.link_at.append(0)
        self.names = b""
        self.targets = b""
        self.attrs: list[Attr] = []
        self.rdev: dict[int, int] = {}
        self.xattrs: dict[int, OverlayXattrs] = {}
        self.wide_times: dict[int, tuple[int, int]] = {}  # entry -> (mtime_ns, ctime_ns)
        self.sums: LayerSums | None = None  # once computed (`scan.sizes.layer_sums`)
        self._reset_lookups()

    # typed views of the columns set by name above (mypy cannot see setattr)
    name_at: array[int]
    attr: array[int]
    size: array[int]
    blocks: array[int]
    mtime: array[int]
    ctime: array[int]
    ino: array[int]
    nlink: array[int]
    link_entry: array[int]
    link_at: array[int]
    dir_entry: array[int]
    dir_start: array[int]
    dir_count: array[int]
    dir_parent: array[int]

    def _reset_lookups(self) -> None:
        self._names_of: dict[int, list[bytes]] = {}
        self._path_hashes: list[int] | None = None  # hash of each listed dir's path, sorted
        self._hash_slots: array[int] | None = None  # ... and its slot
        self._slot_of_dir: dict[int, int] | None = None
        self._slot_paths: dict[int, str] = {}  # the last few `slot_path`s

    def __len__(self) -> int:
        return len(self.attr)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if not name.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._reset_lookups()

    # -- building (builder.py; the C walk builds them whole: native_walk.py) ------

    def add_name_ends(self, lengths: Iterable[int]) -> None:
        """Append the end offsets of the next names, of these lengths (the builder keeps
        the blob they index until the index is done)."""
        ends = islice(accumulate(lengths, initial=self.name_at[-1]), 1, None)
        self.name_at = widened(self.name_at, ends, "name_at")

    def add_links(self, entries: list[int], targets: list[bytes], blob: bytearray) -> None:
        """Append the symlink `targets` of `entries` (ascending), their bytes to `blob`."""
        blob += b"".join(targets)
        self.link_entry = widened(self.link_entry, entries, "link_entry")
        ends = islice(accumulate(map(len, targets), initial=self.link_at[-1]), 1, None)
        self.link_at = widened(self.link_at, ends, "link_at")

    def nbytes(self) -> int:
        """Bytes held by the columns and blobs (not the sparse dicts): the layout's cost."""
        total = len(self.names) + len(self.targets)
        for name in COLUMNS:
            col: array[int] = getattr(self, name)
            total += len(col) * col.itemsize
        return total

    # -- one entry ------------------------------------------------------------------

    def name_bytes(self, i: int) -> bytes:
        at = self.name_at
        return self.names[at[i] : at[i + 1]]

    def name(self, i: int) -> str:
        at = self.name_at
        return self.names[at[i] : at[i + 1]].decode(ENCODING, ERRORS)

    def kind(self, i: int) -> Kind:
        return self.attrs[self.attr[i]][0]

    def target(self, i: int) -> str | None:
        """The symlink target of entry i (None if it is not a symlink, or it was unreadable)."""
        j = bisect_left(self.link_entry, i)
        if j == len(self.link_entry) or self.link_entry[j] != i:
            return None
        at = self.link_at
        return self.targets[at[j] : at[j + 1]].decode(ENCODING, ERRORS)

    def entry_at(self, i: int, path: str) -> Entry:
        """Entry i, whose path (`path_at(i)`) the caller already knows."""
        kind, mode, uid, gid = self.attrs[self.attr[i]]
        mtime, ctime = self.mtime[i], self.ctime[i]
        if mtime == TIME_OVERFLOW:
            mtime, ctime = self.wide_times.get(i, (mtime, ctime))
        return Entry(
            path, kind, mode, uid, gid,
            self.size[i], self.blocks[i], mtime, ctime, self.ino[i],
            self.nlink[i], self.rdev.get(i, 0),
            self.target(i) if kind is Kind.SYMLINK else None, self.xattrs.get(i),
        )  # fmt: skip

    def parent_slot(self, i: int) -> int:
        """The slot whose children include entry i (i > 0)."""
        return bisect_right(self.dir_start, i) - 1

    def path_at(self, i: int) -> str:
        if i == 0:
            return "/"
        slot = self.parent_slot(i)
        parts = [self.name(i)]  # walk up the listings: no need to know every dir's path
        while (up := self.dir_entry[slot]) != 0:
            parts.append(self.name(up))
            slot = self.dir_parent[slot]
        return "/" + "/".join(reversed(parts))

    # -- directories ----------------------------------------------------------------

    def dir_paths(self) -> list[str]:
        """Each slot's path, the root's as "" (so a child's path is dir + "/" + name).

        Made afresh on each call (not kept: on deep trees the paths cost more than the
        index); `slot_path` gives one."""
        paths: list[str] = []
        entry, parent = self.dir_entry, self.dir_parent
        for s in range(len(entry)):
            i = entry[s]
            paths.append("" if i == 0 else paths[parent[s]] + "/" + self.name(i))
        return paths

    def slot_path(self, slot: int) -> str:
        """The path of the dir listed in `slot`, "" for the root (as in `dir_paths`).

        The last few are kept, and a path is made from the nearest kept ancestor's: a
        walk down a tree 10,000 dirs deep would otherwise make each path from the root,
        50 million names in all."""
        kept = self._slot_paths
        path = kept.get(slot)
        if path is not None:
            return path
        parts = []
        base, up = "", slot
        while (i := self.dir_entry[up]) != 0:
            parts.append(self.name(i))
            up = self.dir_parent[up]
            if (known := kept.get(up)) is not None:
                base = known
                break
        path = base + "/" + "/".join(reversed(parts)) if parts else ""
        if len(kept) >= _SLOT_PATHS:
            kept.clear()
        kept[slot] = path
        return path

    def slot_of_path(self, path: str) -> int | None:
        """The slot of the dir at `path` ("/" for the root), None if its listing was not read.

        Found by the hash of the path in a sorted list (~44 bytes a dir, where a dict
        of path strings took ~40 bytes an entry on deep trees), and checked by the
        dir's own name: a wrong hit would need a 64-bit collision of Python's keyed
        string hash between two dirs of the same name."""
        if path == "/":
            return self._slot_of_key("")
        return self._slot_of_key(path) if path[:1] == "/" else None

    def _slot_of_key(self, path: str) -> int | None:
        """`slot_of_path` with the root spelled "" (as `dir_paths` spells it)."""
        hashes = self._path_hashes
        if hashes is None:
            hashes = self._path_table()
        h = hash(path)
        k = bisect_left(hashes, h)
        while k < len(hashes) and hashes[k] == h:
            slot: int = self._hash_slots[k]  # type: ignore[index]
            i = self.dir_entry[slot]
            at = self.name_at
            if (
                self.names[at[i] : at[i + 1]]
                == path[path.rfind("/") + 1 :].encode(ENCODING, ERRORS)
                if i
                else not path
            ):
                return slot
            k += 1
        return None

    def _path_table(self) -> list[int]:
        """Build the sorted hashes of the dirs' paths (and their slots); return the former."""
        pairs = sorted(zip(map(hash, self.dir_paths()), range(len(self.dir_entry)), strict=True))
        self._hash_slots = widened(array("B"), [s for _, s in pairs], "dir_entry")
        # a list, not an array: bisecting it compares ints in C without making any
        self._path_hashes = hashes = [h for h, _ in pairs]
        return hashes

    def slot_of_entry(self, i: int) -> int | None:
        """The slot listing dir entry i, None if i is not a dir whose listing was read."""
        if self._slot_of_dir is None:
            self._slot_of_dir = {e: s for s, e in enumerate(self.dir_entry)}
        return self._slot_of_dir.get(i)

    def child_range(self, slot: int) -> range:
        start = self.dir_start[slot]
        return range(start, start + self.dir_count[slot])

    def child_paths(self, slot: int) -> list[str]:
        prefix = self.slot_path(slot) + "/"
        at, names = self.name_at, self.names
        return [
            prefix + names[at[i] : at[i + 1]].decode(ENCODING, ERRORS)
            for i in self.child_range(slot)
        ]

    def lookup(self, path: str) -> int | None:
        """The entry at `path` (absolute, as `Entry.path` spells it), or None."""
        if path == "/":
            return 0 if len(self.attr) else None
        parent, slash, name = path.rpartition("/")
        if not slash or not name:
            return None
        slot = self._slot_of_key(parent)
        if slot is None:
            return None
        start, count = self.dir_start[slot], self.dir_count[slot]
        key = name.encode(ENCODING, ERRORS)
        if count <= _SMALL_DIR:
            k = bisect_left(range(start, start + count), key, key=self.name_bytes)
            found = k < count and self.name_bytes(start + k) == key
        else:  # bisecting a list of names compares in C: ~10x faster than a key function
            names = self._names_of.get(slot)
            if names is None:
                names = self._slot_names(slot)
            k = bisect_left(names, key)
            found = k < count and names[k] == key
        return start + k if found else None

    def _slot_names(self, slot: int) -> list[bytes]:
        """The names of a big dir's children, kept for the next lookups there: a few
        thousand dirs at most (a walk of a stack visits dirs one after another)."""
        if len(self._names_of) >= _NAME_LISTS:
            self._names_of.clear()
        at, blob, start = self.name_at, self.names, self.dir_start[slot]
        names = [blob[at[i] : at[i + 1]] for i in range(start, start + self.dir_count[slot])]
        self._names_of[slot] = names
        return names

    def walk_order(self) -> Iterator[tuple[int, str]]:
        """(entry, path) in index order: the root, then each slot's children."""
        if not len(self.attr):
            return
        yield 0, "/"
        at, names = self.name_at, self.names
        for slot, dir_path in enumerate(self.dir_paths()):
            prefix = dir_path + "/"
            for i in self.child_range(slot):
                yield i, prefix + names[at[i] : at[i + 1]].decode(ENCODING, ERRORS)


class EntryMap(Mapping[str, Entry]):
    """`LayerIndex.entries` of a scanned index: path -> `Entry`, made on each access.

    Iterates in index order (the root, then each listed dir's children); `values()` and
    `items()` walk the columns instead of looking every path up.
    """

    __slots__ = ("_c",)

    def __init__(self, columns: Columns) -> None:
        self._c = columns

    def __getitem__(self, path: str) -> Entry:
        i = self._c.lookup(path) if isinstance(path, str) else None
        if i is None:
            raise KeyError(path)
        return self._c.entry_at(i, path)

    def get(self, path: str, default: Any = None) -> Any:
        i = self._c.lookup(path) if isinstance(path, str) else None
        return default if i is None else self._c.entry_at(i, path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._c.lookup(path) is not None

    def __iter__(self) -> Iterator[str]:
        return (path for _, path in self._c.walk_order())

    def __len__(self) -> int:
        return len(self._c)

    def values(self) -> ValuesView[Entry]:
        return _Values(self, self._c)

    def items(self) -> ItemsView[str, Entry]:
        return _Items(self, self._c)

    def __repr__(self) -> str:
        return f"<EntryMap of {len(self)} entries>"


class _Values(ValuesView[Entry]):
    __slots__ = ("_columns",)

    def __init__(self, mapping: Mapping[str, Entry], columns: Columns) -> None:
        super().__init__(mapping)
        self._columns = columns

    def __iter__(self) -> Iterator[Entry]:
        c = self._columns
        return (c.entry_at(i, path) for i, path in c.walk_order())


class _Items(ItemsView[str, Entry]):
    __slots__ = ("_columns",)

    def __init__(self, mapping: Mapping[str, Entry], columns: Columns) -> None:
        super().__init__(mapping)
        self._columns = columns

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        c = self._columns
        return ((path, c.entry_at(i, path)) for i, path in c.walk_order())


class ChildMap(Mapping[str, list[str]]):
    """`LayerIndex.children` of a scanned index: dir path -> its children's paths, in
    name-byte order; a dir is a key exactly when its listing was read."""

    __slots__ = ("_c",)

    def __init__(self, columns: Columns) -> None:
        self._c = columns

    def __getitem__(self, path: str) -> list[str]:
        slot = self._c.slot_of_path(path) if isinstance(path, str) else None
        if slot is None:
            raise KeyError(path)
        return self._c.child_paths(slot)

    def get(self, path: str, default: Any = None) -> Any:
        slot = self._c.slot_of_path(path) if isinstance(path, str) else None
        return default if slot is None else self._c.child_paths(slot)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._c.slot_of_path(path) is not None

    def __iter__(self) -> Iterator[str]:
        return (path or "/" for path in self._c.dir_paths())

    def __len__(self) -> int:
        return len(self._c.dir_entry)

    def __repr__(self) -> str:
        return f"<ChildMap of {len(self)} dirs>"
