"""The change tree's model: children by directory, ncdu's figures and sorts, filters. No
Textual."""

from __future__ import annotations

import pytest

from overlayscope.tui.change_index import ALL_KINDS, ChangeIndex
from overlayscope.tui.tree_model import NodeStats, Sort, SortKey
from overlayscope.union import Change, ChangeKind

A, C, D = ChangeKind.ADDED, ChangeKind.CHANGED, ChangeKind.DELETED


def ch(kind: ChangeKind, path: str, entry: str = "file", size: int = 0, **kw: object) -> Change:
    return Change(path=path, kind=kind, entry=entry, size=size, **kw)  # type: ignore[arg-type]


# `docker diff` of a container that appended to a file, deleted a dir and added a tree.
CHANGES = [
    ch(C, "/etc", "dir", 4096, copy_up=True),
    ch(C, "/etc/passwd", "file", 100, copy_up=True, content="changed", meta=("size",)),
    ch(C, "/etc/hosts", "file", 10, copy_up=True, content="same", meta=("mode",)),
    ch(D, "/var", "dir", 4096),
    ch(A, "/srv", "dir", 4096),
    ch(A, "/srv/big", "file", 5000),
    ch(A, "/srv/www", "opaque-dir", 4096),
    ch(A, "/srv/www/index.html", "file", 7),
    ch(A, "/srv/\x1b[1mbold", "file", 1),
]


@pytest.fixture
def index() -> ChangeIndex:
    return ChangeIndex(CHANGES)


NAME, NAME_DESC = Sort(SortKey.NAME), Sort(SortKey.NAME, True)
SIZE, SIZE_ASC = Sort(SortKey.SIZE, True), Sort(SortKey.SIZE, False)
COUNT, MTIME = Sort(SortKey.COUNT, True), Sort(SortKey.MTIME, True)


@pytest.mark.parametrize(
    ("path", "sort", "expected"),
    [
        ("/", NAME, ["/etc", "/srv", "/var"]),
        ("/", NAME_DESC, ["/var", "/srv", "/etc"]),
        ("/", SIZE, ["/srv", "/etc", "/var"]),  # 5008 > 110 > 0 (a deletion adds nothing)
        ("/", SIZE_ASC, ["/var", "/etc", "/srv"]),
        ("/", COUNT, ["/srv", "/etc", "/var"]),  # 4 changes beneath, 2, 0
        ("/etc", NAME, ["/etc/hosts", "/etc/passwd"]),
        ("/etc", SIZE, ["/etc/passwd", "/etc/hosts"]),
        ("/srv", NAME, ["/srv/\x1b[1mbold", "/srv/big", "/srv/www"]),  # bytes order
        ("/srv", SIZE, ["/srv/big", "/srv/www", "/srv/\x1b[1mbold"]),
        ("/srv", COUNT, ["/srv/www", "/srv/\x1b[1mbold", "/srv/big"]),  # ties in name order
        ("/var", NAME, []),  # a deleted dir is one change, nothing beneath
        ("/nowhere", NAME, []),
    ],
)
def test_children(index: ChangeIndex, path: str, sort: Sort, expected: list[str]) -> None:
    assert index.children(path, sort=sort) == expected


@pytest.mark.parametrize(
    ("pressed", "expected"),
    [
        ([SortKey.SIZE], Sort(SortKey.SIZE, True)),  # ncdu: the largest first
        ([SortKey.SIZE, SortKey.SIZE], Sort(SortKey.SIZE, False)),  # again: turned round
        ([SortKey.NAME], Sort(SortKey.NAME, True)),  # already by name: turned round
        ([SortKey.MTIME, SortKey.NAME], Sort(SortKey.NAME, False)),  # A→Z first
        ([SortKey.COUNT], Sort(SortKey.COUNT, True)),
    ],
)
def test_sort_keys(pressed: list[SortKey], expected: Sort) -> None:
    sort = Sort()
    for key in pressed:
        sort = sort.pressed(key)
    assert sort == expected


def test_mtimes_sort_by_the_newest_beneath(index: ChangeIndex) -> None:
    # A change's mtime comes from its entry in the stack; here, a table of them.
    mtimes = {"/etc/passwd": 50, "/etc/hosts": 10, "/srv/big": 20, "/srv/www/index.html": 40}
    index.load_mtimes(lambda change: mtimes.get(change.path))
    assert index.stats("/srv") == NodeStats(5008, 4, 40)  # the newest beneath
    assert index.children("/", sort=MTIME) == ["/etc", "/srv", "/var"]  # 50 > 40 > none
    assert index.children("/srv", sort=MTIME) == ["/srv/www", "/srv/big", "/srv/\x1b[1mbold"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/", 5118), ("/etc", 110), ("/srv", 5008), ("/srv/www", 7), ("/var", 0), ("/srv/big", 5000)],
)
def test_subtree_bytes(index: ChangeIndex, path: str, expected: int) -> None:
    assert index.subtree_bytes[path] == expected


@pytest.mark.parametrize(
    ("path", "expected"), [("/", 9), ("/etc", 2), ("/srv", 4), ("/srv/www", 1), ("/var", 0)]
)
def test_items_beneath(index: ChangeIndex, path: str, expected: int) -> None:
    assert index.stats(path).items == expected


@pytest.mark.parametrize(
    ("kinds", "text", "expected"),
    [
        (ALL_KINDS, "", None),  # no filter: keep everything, build nothing
        (frozenset({D}), "", {"/var"}),
        (frozenset({C}), "", {"/etc", "/etc/passwd", "/etc/hosts"}),
        (frozenset({A}), "INDEX", {"/srv", "/srv/www", "/srv/www/index.html"}),  # case-folded
        (ALL_KINDS, "\\x1b", {"/srv", "/srv/\x1b[1mbold"}),  # matches what the user sees
        (ALL_KINDS, "nothing-matches", set()),
    ],
)
def test_matching(
    index: ChangeIndex, kinds: frozenset[ChangeKind], text: str, expected: set[str] | None
) -> None:
    assert index.matching(kinds, text) == expected


def test_filtered_names_its_matches(index: ChangeIndex) -> None:
    kept = index.filtered(ALL_KINDS, "s")
    assert kept is not None
    # Matches themselves (in name order), not the dirs that only hold them.
    assert kept.matched == (
        "/etc/hosts",
        "/etc/passwd",
        "/srv",
        "/srv/\x1b[1mbold",
        "/srv/big",
        "/srv/www",
        "/srv/www/index.html",
    )
    assert len(kept) == 7 and "/etc" in kept.keep


def test_children_keep_only_what_the_filter_keeps(index: ChangeIndex) -> None:
    keep = index.matching(frozenset({A}), "index")
    assert index.children("/", keep=keep) == ["/srv"]
    assert index.children("/srv", keep=keep) == ["/srv/www"]


def test_missing_ancestors_are_linked(index: ChangeIndex) -> None:
    # docker diff lists every ancestor of a change; an index given less still links them.
    lone = ChangeIndex([ch(A, "/a/b/c", "file", 3)])
    assert lone.children("/") == ["/a"]
    assert lone.children("/a") == ["/a/b"]
    assert lone.get("/a") is None and lone.has_children("/a/b")
    assert lone.subtree_bytes["/a"] == 3


def test_summary(index: ChangeIndex) -> None:
    s = index.summary()
    assert (s.total, s.added, s.changed, s.deleted) == (9, 5, 3, 1)
    assert (s.copy_ups, s.content_same, s.opaque_dirs, s.bytes) == (2, 1, 1, 5118)
