"""The change tree's model: children by directory, bytes per subtree, filters. No Textual."""

from __future__ import annotations

import pytest

from overlayscope.tui.change_index import ALL_KINDS, ChangeIndex, Order
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


@pytest.mark.parametrize(
    ("path", "order", "expected"),
    [
        ("/", Order.NAME, ["/etc", "/srv", "/var"]),
        ("/", Order.SIZE, ["/srv", "/etc", "/var"]),  # 5008 > 110 > 0 (a deletion adds nothing)
        ("/etc", Order.NAME, ["/etc/hosts", "/etc/passwd"]),
        ("/etc", Order.SIZE, ["/etc/passwd", "/etc/hosts"]),
        ("/srv", Order.NAME, ["/srv/\x1b[1mbold", "/srv/big", "/srv/www"]),  # bytes order
        ("/srv", Order.SIZE, ["/srv/big", "/srv/www", "/srv/\x1b[1mbold"]),
        ("/var", Order.NAME, []),  # a deleted dir is one change, nothing beneath
        ("/nowhere", Order.NAME, []),
    ],
)
def test_children(index: ChangeIndex, path: str, order: Order, expected: list[str]) -> None:
    assert index.children(path, order=order) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/", 5118), ("/etc", 110), ("/srv", 5008), ("/srv/www", 7), ("/var", 0), ("/srv/big", 5000)],
)
def test_subtree_bytes(index: ChangeIndex, path: str, expected: int) -> None:
    assert index.subtree_bytes[path] == expected


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
