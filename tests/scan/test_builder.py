"""The compact index: what the builder makes of records, read back as entries and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlayscope.record import FrozenRecordError
from overlayscope.scan import LayerIndex, scan_tree
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.columns import Columns
from overlayscope.scan.entry import Entry, Kind, OverlayXattrs
from overlayscope.scan.walker import Record
from tests.scan.conftest import add

# every test here runs under the C listing and the pure-Python one
pytestmark = pytest.mark.usefixtures("each_walk")

FIELDS = (
    Kind.OPAQUE_DIR, 0o40755, 1, 2, 4096, 8, 10, 20, 12345, 3, 0, None, OverlayXattrs(opaque=True),
)  # fmt: skip


def test_an_entry_is_frozen_and_equal_to_its_twin() -> None:
    # entries are made by the million: a record's compiled __init__ fills the slots directly
    entry = Entry("/a/name", *FIELDS)
    twin = Entry(path="/a/name", kind=FIELDS[0], mode=FIELDS[1], uid=1, gid=2, size=4096,
                 blocks=8, mtime_ns=10, ctime_ns=20, ino=12345, nlink=3, rdev=0, target=None,
                 xattrs=OverlayXattrs(opaque=True))  # fmt: skip
    assert entry == twin and hash(entry) == hash(twin) and repr(entry) == repr(twin)
    with pytest.raises(FrozenRecordError):
        entry.size = 1  # type: ignore[misc]


def _rec(name: str, kind: Kind = Kind.FILE, **facts: object) -> Record:
    mode = {Kind.DIR: 0o40755, Kind.SYMLINK: 0o120777, Kind.OTHER: 0o20644}.get(kind, 0o100644)
    values: dict[str, object] = dict(
        mode=mode, uid=0, gid=0, size=1, blocks=8, mtime=5, ctime=6, ino=7, nlink=1, rdev=0,
        target="t" if kind is Kind.SYMLINK else None, xattrs=None,
    )  # fmt: skip
    values.update(facts)
    return (name, kind, *values.values())  # type: ignore[return-value]


def _build(listings: list[tuple[str, list[Record]]]) -> LayerIndex:
    builder = IndexBuilder("/x")
    builder.root(_rec("/", Kind.DIR))
    for dir_path, records in listings:
        builder.entries(dir_path, records)
    return builder.index


def test_a_dir_in_several_batches_is_sorted_whole() -> None:
    first = [_rec("zeta", rdev=9, kind=Kind.OTHER), _rec("mid", Kind.DIR), _rec("b", Kind.SYMLINK)]
    second = [_rec("alpha", xattrs=OverlayXattrs(impure=True)), _rec("c", Kind.SYMLINK,
              target="other")]  # fmt: skip
    index = _build([("/", first), ("/", second), ("/", []), ("/mid", [_rec("inner")])])
    assert index.children["/"] == ["/alpha", "/b", "/c", "/mid", "/zeta"]
    assert index.entries["/zeta"].rdev == 9 and index.entries["/zeta"].kind is Kind.OTHER
    assert index.entries["/alpha"].xattrs == OverlayXattrs(impure=True)
    assert index.entries["/b"].target == "t" and index.entries["/c"].target == "other"
    assert index.children["/mid"] == ["/mid/inner"]  # the subdir found after the re-sort
    assert [e.path for e in index] == ["/", "/alpha", "/b", "/c", "/mid", "/mid/inner", "/zeta"]


def test_columns_widen_for_big_values() -> None:
    big = [
        _rec("huge", size=2**40, blocks=2**34, ino=2**40, nlink=70_000, mtime=-(2**40)),
        *(_rec(f"u{i}", uid=i) for i in range(300)),  # 300 (kind, mode, uid, gid): > 1 byte
    ]
    index = _build([("/", big)])
    huge = index.entries["/huge"]
    assert (huge.size, huge.blocks, huge.ino, huge.nlink, huge.mtime_ns) == (
        2**40, 2**34, 2**40, 70_000, -(2**40),
    )  # fmt: skip
    assert index.entries["/u299"].uid == 299 and index.entries["/u0"].uid == 0


def test_lookups_are_exact() -> None:
    index = _build([("/", [_rec("a", Kind.DIR), _rec("b")]), ("/a", [_rec("c")])])
    for path in ("", "a", "//a", "/a/", "/a//c", "/b/c", "/zz", "/a/c/d"):
        assert path not in index.entries and index.get(path) is None, path
    assert "/a/c" in index.entries and index.get("/") is not None
    assert index.children.get("/b") is None and "/a" in index.children
    assert dict(index.children) == {"/": ["/a", "/b"], "/a": ["/a/c"]}
    assert index.listdir("/a") == [index.entries["/a/c"]] and index.listdir("/nope") == []


def test_views_equal_a_dict_built_index(tmp_path: Path) -> None:
    add(tmp_path, "etc/passwd", "file", b"root")
    add(tmp_path, "etc/alt", "symlink", "passwd")
    add(tmp_path, "bin/sh", "file", b"\x7fELF")
    add(tmp_path, "bin/ash", "hardlink", "bin/sh")
    index = scan_tree(tmp_path)
    plain = LayerIndex(index.content_dir, dict(index.entries.items()), dict(index.children))
    assert index.entries == plain.entries and plain.entries == index.entries
    assert index.children == plain.children
    assert list(index) == list(plain) and len(index) == len(plain) == 7
    assert list(index.entries.values()) == list(plain.entries.values())


def test_lookups_in_a_big_dir() -> None:
    names = [f"n{i:05d}" for i in range(0, 400, 2)]  # even numbers only
    index = _build([("/", [_rec(name) for name in reversed(names)])])
    assert index.children["/"] == ["/" + name for name in names]
    for i in range(400):
        entry = index.get(f"/n{i:05d}")
        assert (entry is not None) == (i % 2 == 0)
        assert entry is None or entry.path == f"/n{i:05d}"
    assert index.get("/") is not None and index.get("/m") is None and index.get("/z") is None


def test_slot_paths_in_any_order_and_down_a_deep_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """`slot_path` keeps the last few paths and makes a path from its nearest kept
    ancestor's: right in any order, and a walk down N levels reads O(N) names, not O(N²)."""
    depth, wide = 600, 700  # dirs down a chain, and beside it: past the 256 paths kept
    root = [_rec("d", Kind.DIR), _rec("f")] + [_rec(f"w{i}", Kind.DIR) for i in range(wide)]
    listings = [("/", root)]
    for level in range(1, depth):
        listings.append(("/d" * level, [_rec("d", Kind.DIR), _rec("f")]))
    listings.append(("/d" * depth, []))
    listings += [(f"/w{i}", []) for i in range(wide)]
    c = _build(listings).columns
    assert c is not None
    expected = c.dir_paths()
    order = list(range(len(expected)))
    for shuffled in (order, order[::-1], order[::7] + order[3::7] + order):
        c._slot_paths.clear()
        assert [c.slot_path(s) for s in shuffled] == [expected[s] for s in shuffled]
    reads = 0
    name = Columns.name

    def counted(self: Columns, i: int) -> str:
        nonlocal reads
        reads += 1
        return name(self, i)

    monkeypatch.setattr(Columns, "name", counted)
    c._slot_paths.clear()
    slot: int | None = 0
    for level in range(depth):  # down the chain, as a walk of the tree goes
        assert slot is not None
        assert c.child_paths(slot)[0] == "/d" * (level + 1)
        slot = c.slot_of_entry(c.child_range(slot)[0])  # "d" sorts first
    assert reads <= 2 * depth  # one name a level (from the root: depth² / 2)
