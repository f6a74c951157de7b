"""One layer walked by several processes: pieces, and their exact merge.

A C walk (native_walk.py) can hand subtrees it has not entered yet to another walk
(`Walk.delegate`): half of the pending subdirs of its shallowest dir that has two or
more. It then skips them, noting for each a `Splice`: the entry and slot counts at the
point where it would have entered the subtree, and where in its problems. Each subtree is
walked on its own (a `Piece`, rooted at that dir, in this process or a worker; it may hand
subtrees on in turn), and `merge` puts the pieces back together: entries, slots, names,
targets, the attribute table, the sparse dicts, the sums and the problems come out exactly
as one walk of the whole layer makes them, in the same order, each column of the same
typecode (tests/scan/test_split.py holds it to that, hard links across pieces included).

A piece's own root entry (the subtree's dir, as its walk read it) is dropped: the dir's
entry is the one its parent's listing holds, in the piece that listed it.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate

from overlayscope.record import field, record
from overlayscope.scan import native
from overlayscope.scan.columns import COLUMNS, Attr, Columns
from overlayscope.scan.entry import ScanProblem
from overlayscope.scan.sizes import LARGEST_KEPT, LayerSums, layer_sums

# typecodes in the order a column is widened (columns.widened)
_CHAIN = {"B": 0, "H": 1, "I": 2, "Q": 3, "q": 3}
_UNSIGNED = ("B", "H", "I", "Q")
_PER_ENTRY = ("size", "blocks", "mtime", "ctime", "ino", "nlink")

# (path of the subtree's dir relative to the layer root, no leading '/'): a part to walk,
# with the (dev, ino) its parent's listing gave
Part = tuple[bytes, int, int]


@record
class Splice:
    """Where a delegated subtree's entries go in the walk that delegated it."""

    rel: bytes  # the subtree's dir, relative to the layer root
    entry: int  # the dir's own entry in this walk
    at_entry: int  # entries this walk had made when it would have entered the subtree
    at_slot: int  # ... and slots
    parent_slot: int  # the slot listing the dir
    at_problem: int  # problems this walk had reported by then


@record(frozen=False, slots=False)
class Piece:
    """What one walk made: a whole layer (rel b"") or a subtree of it."""

    rel: bytes
    columns: Columns | None = None  # None when the subtree could not be opened at all
    problems: list[ScanProblem] = field(default_factory=list)
    splices: list[Splice] = field(default_factory=list)


def merge(pieces: dict[bytes, Piece]) -> tuple[Columns | None, list[ScanProblem]]:
    """The layer's columns and problems from its pieces (`pieces[b""]`: the layer's own
    walk). Pieces no walk spliced in (a subtree its walk could not reach in the end)
    are left out, as a single walk would not have read them."""
    return _merged(pieces, pieces[b""])


def _merged(pieces: dict[bytes, Piece], piece: Piece) -> tuple[Columns | None, list[ScanProblem]]:
    if not piece.splices or piece.columns is None:
        return piece.columns, piece.problems
    children = []
    for sp in piece.splices:
        child = pieces.get(sp.rel)
        if child is None:
            raise ValueError(f"no piece for the delegated subtree {sp.rel!r}")
        children.append(_merged(pieces, child))
    return _splice(piece.columns, piece.problems, piece.splices, children)


def _code_for(values_max: int, start: str) -> str:
    """The narrowest unsigned typecode from `start` on that holds `values_max`."""
    for code in _UNSIGNED[_CHAIN[start] :]:
        if values_max < 1 << (8 * array(code).itemsize):
            return code
    raise OverflowError(values_max)


def _remap(
    src: array[int], lo: int, hi: int, add: int, bounds: Sequence[int], shifts: Sequence[int],
    code: str,
) -> array[int]:  # fmt: skip
    assert native.listdir is not None
    try:
        out: array[int] = native.listdir.remap(src, lo, hi, add, bounds, shifts, code)
    except OverflowError:
        out = native.listdir.remap(src, lo, hi, add, bounds, shifts, "Q")
    return out


class _Out:
    """The merged columns, appended segment by segment."""

    def __init__(self, parts: list[Columns]) -> None:
        self.c = Columns()
        for name in _PER_ENTRY:  # the widest any piece needed: what one walk would have
            codes = [getattr(p, name).typecode for p in parts]
            setattr(self.c, name, array(max(codes, key=_CHAIN.__getitem__)))
        self.names: list[bytes] = []
        self.targets: list[bytes] = []
        self.name_end = 0
        self.target_end = 0
        self.index_cols: dict[str, list[array[int]]] = {
            k: [] for k in ("name_at", "link_entry", "link_at", "dir_entry", "dir_start",
                            "dir_count", "dir_parent")
        }  # fmt: skip
        self.attr_parts: list[array[int]] = []

    def entries(self, c: Columns, lo: int, hi: int, to: int, attr_map: bytes | list[int]) -> None:
        """Entries lo..hi of piece `c`, becoming entries to.. of the merged index."""
        if hi <= lo:
            return
        out = self.c
        for name in _PER_ENTRY:
            col: array[int] = getattr(out, name)
            src: array[int] = getattr(c, name)
            part = src[lo:hi]
            col.extend(part if part.typecode == col.typecode else array(col.typecode, part))
        at = c.name_at
        self.names.append(c.names[at[lo] : at[hi]])
        self.index_cols["name_at"].append(
            _remap(at, lo + 1, hi + 1, self.name_end - at[lo], (), (0,), "I")
        )
        self.name_end += at[hi] - at[lo]
        attrs = c.attr[lo:hi]
        if isinstance(attr_map, bytes) and attrs.typecode == "B":
            self.attr_parts.append(array("B", attrs.tobytes().translate(attr_map)))
        else:
            self.attr_parts.append(array("Q", [attr_map[a] for a in attrs]))
        # symlinks among them: link_entry ascends
        le = c.link_entry
        j0, j1 = _bisect_left(le, lo), _bisect_left(le, hi)
        if j1 > j0:
            self.index_cols["link_entry"].append(_remap(le, j0, j1, to - lo, (), (0,), "I"))
            la = c.link_at
            self.targets.append(c.targets[la[j0] : la[j1]])
            self.index_cols["link_at"].append(
                _remap(la, j0 + 1, j1 + 1, self.target_end - la[j0], (), (0,), "I")
            )
            self.target_end += la[j1] - la[j0]
        shift = to - lo
        out.rdev.update((i + shift, v) for i, v in c.rdev.items() if lo <= i < hi)
        out.xattrs.update((i + shift, x) for i, x in c.xattrs.items() if lo <= i < hi)
        out.wide_times.update((i + shift, t) for i, t in c.wide_times.items() if lo <= i < hi)

    def slots(
        self, c: Columns, lo: int, hi: int, entry_bounds: Sequence[int],
        entry_shifts: Sequence[int], start_add: int, slot_bounds: Sequence[int],
        slot_shifts: Sequence[int],
    ) -> None:  # fmt: skip
        """Slots lo..hi of piece `c`: their dir entries moved by the entry shifts, their
        first children by `start_add`, their parents by the slot shifts."""
        if hi <= lo:
            return
        cols = self.index_cols
        cols["dir_entry"].append(_remap(c.dir_entry, lo, hi, 0, entry_bounds, entry_shifts, "I"))
        cols["dir_start"].append(_remap(c.dir_start, lo, hi, start_add, (), (0,), "I"))
        cols["dir_count"].append(c.dir_count[lo:hi])
        cols["dir_parent"].append(_remap(c.dir_parent, lo, hi, 0, slot_bounds, slot_shifts, "I"))

    def finish(self, attrs: list[Attr]) -> Columns:
        out = self.c
        out.names = b"".join(self.names)
        out.targets = b"".join(self.targets)
        out.attrs = attrs
        for name, parts in self.index_cols.items():
            if name in ("name_at", "link_at"):
                parts = [array("I", [0]), *parts]
            # each part is in the column's first code, or widened where a value needed it
            code = max((p.typecode for p in parts), key=_CHAIN.__getitem__, default=COLUMNS[name])
            code = max(code, COLUMNS[name], key=_CHAIN.__getitem__)
            col = array(code)
            for p in parts:
                col.extend(array(code, p) if p.typecode != code else p)
            setattr(out, name, col)
        attr = array(_code_for(max(len(attrs) - 1, 0), "B"))
        for p in self.attr_parts:
            attr.extend(array(attr.typecode, p) if p.typecode != attr.typecode else p)
        out.attr = attr
        out.rdev = dict(sorted(out.rdev.items()))
        out.xattrs = dict(sorted(out.xattrs.items()))
        out.wide_times = dict(sorted(out.wide_times.items()))
        return out


def _bisect_left(col: array[int], x: int) -> int:
    lo, hi = 0, len(col)
    while lo < hi:
        mid = (lo + hi) // 2
        if col[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _first_uses(c: Columns, lo: int) -> list[int]:
    """For each attr id of `c`, its first entry at or after `lo` (len(c) if none)."""
    n = len(c)
    if c.attr.typecode == "B":
        raw = c.attr.tobytes()
        return [i if (i := raw.find(bytes((k,)), lo)) >= 0 else n for k in range(len(c.attrs))]
    first = [n] * len(c.attrs)
    for i in range(lo, n):
        a = c.attr[i]
        if first[a] == n:
            first[a] = i
    return first


def _splice(
    main: Columns,
    main_problems: list[ScanProblem],
    splices: list[Splice],
    children: list[tuple[Columns | None, list[ScanProblem]]],
) -> tuple[Columns, list[ScanProblem]]:
    """`main` with each child's entries (but its root) and slots put where its splice says."""
    sizes = [len(c) - 1 if c is not None else 0 for c, _ in children]
    slot_counts = [len(c.dir_entry) if c is not None else 0 for c, _ in children]
    at_entries = [sp.at_entry for sp in splices]
    at_slots = [sp.at_slot for sp in splices]
    entry_shift = [0, *accumulate(sizes)]  # main entry i moves by entry_shift[#splices at <= i]
    slot_shift = [0, *accumulate(slot_counts)]

    def main_entry(i: int) -> int:
        return i + entry_shift[bisect_right(at_entries, i)]

    def main_slot(s: int) -> int:
        return s + slot_shift[bisect_right(at_slots, s)]

    # the attribute table: in the order of first use, as one walk numbers it
    firsts: dict[Attr, int] = {}
    pieces: list[tuple[Columns, int, list[int]]] = [(main, 0, [])]
    for j, (c, _) in enumerate(children):
        if c is not None:
            pieces.append((c, j, []))
    for k, at in enumerate(_first_uses(main, 0)):
        if at < len(main):
            where = main_entry(at)
            attr = main.attrs[k]
            if firsts.get(attr, where + 1) > where:
                firsts[attr] = where
    for j, (c, _) in enumerate(children):
        if c is None:
            continue
        base = splices[j].at_entry + entry_shift[j]
        for k, at in enumerate(_first_uses(c, 1)):
            if at < len(c):
                where = base + at - 1
                attr = c.attrs[k]
                if firsts.get(attr, where + 1) > where:
                    firsts[attr] = where
    attrs = sorted(firsts, key=firsts.__getitem__)
    final = {attr: i for i, attr in enumerate(attrs)}

    def attr_map(c: Columns) -> bytes | list[int]:
        ids = [final.get(a, 0) for a in c.attrs]
        if len(attrs) <= 256 and len(ids) <= 256:
            return bytes(ids) + bytes(256 - len(ids))
        return ids

    parts = [main] + [c for c, _ in children if c is not None]
    out = _Out(parts)
    main_map = attr_map(main)
    problems: list[ScanProblem] = []
    lo, slot_lo, problem_lo = 0, 0, 0
    for j, sp in enumerate(splices):
        # main's entries, slots and problems before the splice
        out.entries(main, lo, sp.at_entry, main_entry(lo), main_map)
        out.slots(main, slot_lo, sp.at_slot, at_entries, entry_shift,
                  entry_shift[j], at_slots, slot_shift)  # fmt: skip
        problems += main_problems[problem_lo : sp.at_problem]
        lo, slot_lo, problem_lo = sp.at_entry, sp.at_slot, sp.at_problem
        c, child_problems = children[j]
        problems += child_problems
        if c is None:
            continue
        base = sp.at_entry + entry_shift[j]  # where its entry 1 goes
        slot_base = sp.at_slot + slot_shift[j]
        out.entries(c, 1, len(c), base, attr_map(c))
        first = len(out.index_cols["dir_entry"])
        out.slots(c, 0, len(c.dir_entry), (1,), (main_entry(sp.entry), base - 1),
                  base - 1, (), (slot_base,))  # fmt: skip
        if len(c.dir_entry):  # its root's listing: the parent is the slot listing the dir
            parent = out.index_cols["dir_parent"][first]
            parent[0] = main_slot(sp.parent_slot)
    out.entries(main, lo, len(main), main_entry(lo), main_map)
    out.slots(main, slot_lo, len(main.dir_entry), at_entries, entry_shift,
              entry_shift[len(splices)], at_slots, slot_shift)  # fmt: skip
    problems += main_problems[problem_lo:]
    merged = out.finish(attrs)
    merged.sums = _sums(main, splices, children, main_entry, entry_shift)
    return merged, problems


def _sums(
    main: Columns,
    splices: list[Splice],
    children: list[tuple[Columns | None, list[ScanProblem]]],
    main_entry: Callable[[int], int],
    entry_shift: list[int],
) -> LayerSums:
    """The merged layer's `LayerSums` from the pieces': sums add up, but an inode linked
    from two pieces counts once in Docker's size (the first sighting's, as one walk's)."""
    ms = layer_sums(main)
    blocks, apparent, docker = ms.blocks, ms.apparent, ms.docker
    linked = [main_entry(i) for i in ms.linked]
    largest = [(main.blocks[i], main.size[i], -main_entry(i)) for i in ms.largest]
    seen = {main.ino[i] for i in ms.linked if main.size[i]}
    for j, (c, _) in enumerate(children):
        if c is None:
            continue
        cs = layer_sums(c)
        base = splices[j].at_entry + entry_shift[j] - 1  # child entry k goes to base + k
        blocks += cs.blocks - c.blocks[0]  # its root's entry is main's
        apparent += cs.apparent
        docker += cs.docker
        here: dict[int, int] = {}  # its linked inodes with bytes: counted once in its docker
        for i in cs.linked:
            linked.append(base + i)
            if c.size[i]:
                here.setdefault(c.ino[i], c.size[i])
        for ino, size in here.items():
            if ino in seen:
                docker -= size  # an earlier piece counted it
            else:
                seen.add(ino)
        largest += [(c.blocks[i], c.size[i], -(base + i)) for i in cs.largest]
    linked.sort()
    top = [-neg for _, _, neg in heapq.nlargest(LARGEST_KEPT, largest)]
    return LayerSums(blocks, apparent, docker, tuple(linked), tuple(top))
