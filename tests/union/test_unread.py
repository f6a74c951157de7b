"""Parts of layers the scan could not read: lookups say unknown instead of absent.

Table-driven over stacks built by hand (tests/union/builders.py), each with the exact
shape the scanner gives an unreadable part (docs/scanner.md): a dir whose listing could
not be read is an entry with no children and a `permission` problem at its path; an
entry that could not be lstat'ed is missing, with the problem at its path; a layer
whose root could not be opened has no entries and the problem at "/". The same cases on
real trees, through the real scanner and the CLI, are tests/hostile/test_partial_reads.py.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from overlayscope.errors import PathNotFound, UnreadablePath
from overlayscope.scan.entry import LayerIndex, ScanProblem, parent_of
from overlayscope.union import HitState, LayerStack, StackLayer, resolve_merged
from overlayscope.union.unread import unread_in_changes
from tests.union.builders import index

Layer = tuple[str, Iterable[str], Iterable[str]]  # "name:role", spec lines, unread paths


def _unread(idx: LayerIndex, path: str) -> None:
    """Make `path` of `idx` what the scanner leaves of an unreadable part: a dir keeps its
    entry but loses its listing; anything else (and "/") is gone with all beneath it."""
    entries = dict(idx.entries)
    children = dict(idx.children)
    entry = entries.get(path)
    keep_entry = entry is not None and entry.kind.is_dir and path != "/"
    for p in list(entries):
        if p.startswith(path.rstrip("/") + "/") or (p == path and not keep_entry):
            del entries[p]
    for p in list(children):
        if p == path or p.startswith(path.rstrip("/") + "/"):
            del children[p]
    if not keep_entry and path != "/":
        children[parent_of(path)] = [c for c in children[parent_of(path)] if c != path]
    idx.entries, idx.children = entries, children
    idx.problems.append(ScanProblem(path, "permission", "Permission denied"))


def build(*layers: Layer) -> LayerStack:
    built = []
    for name_role, lines, unread in layers:
        name, _, role = name_role.partition(":")
        idx = index(lines, content_dir=f"/host/{name}/diff")
        for path in unread:
            _unread(idx, path)
        built.append(StackLayer(name, role or "image", idx))
    return LayerStack(tuple(built))


# (case id, layers top → bottom, path, known, visible (as provenance says), unknown layers)
LOOKUPS = [
    (
        "upper dir unlisted: a lower file in it may be deleted",
        [("rw:rw", ["d /d", "w /d/f"], ["/d"]), ("img", ["f /d/f"], [])],
        "/d/f", False, False, ["rw"],
    ),
    (
        "propagates down the lower tree",
        [("rw:rw", ["d /d"], ["/d"]), ("img", ["f /d/sub/deep/f"], [])],
        "/d/sub/deep/f", False, False, ["rw"],
    ),
    (
        "an entry the upper could not lstat",
        [("rw:rw", ["d /d", "f /d/f"], ["/d/f"]), ("img", ["f /d/f"], [])],
        "/d/f", False, False, ["rw"],
    ),
    (
        "the upper's root could not be opened",
        [("rw:rw", ["f /a"], ["/"]), ("img", ["f /etc/passwd"], [])],
        "/etc/passwd", False, False, ["rw"],
    ),
    (
        "a winner above the unread layer is known; beneath it, unknown",
        [("rw:rw", ["f /d/f"], []), ("mid", ["d /d"], ["/d"]), ("img", ["f /d/f"], [])],
        "/d/f", True, True, [],
    ),
    (
        "a dir winner above: known, but the merge beneath is not",
        [("rw:rw", ["d /d/e"], []), ("mid", ["d /d"], ["/d"]), ("img", ["d /d/e"], [])],
        "/d/e", True, True, ["mid"],
    ),
    (
        "a whiteout above ends the lookup before the unread layer",
        [("rw:rw", ["w /d"], []), ("mid", ["d /d"], ["/d"]), ("img", ["f /d/f"], [])],
        "/d/f", True, False, [],
    ),
    (
        "an opaque dir above ends the merge before it",
        [("rw:rw", ["o /d"], []), ("mid", ["d /d"], ["/d"]), ("img", ["f /d/f"], [])],
        "/d/f", True, False, [],
    ),
    (
        "an unread part elsewhere decides nothing here",
        [("rw:rw", ["d /d"], ["/d"]), ("img", ["f /e/f", "f /d/g"], [])],
        "/e/f", True, True, [],
    ),
    (
        "a lower layer's unread part: the lower file may be hidden by it",
        [("rw:rw", ["d /x"], []), ("mid", ["d /d"], ["/d"]), ("img", ["f /d/f"], [])],
        "/d/f", False, False, ["mid"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layers", "path", "known", "visible", "unknown"),
    [case[1:] for case in LOOKUPS],
    ids=[case[0] for case in LOOKUPS],
)
def test_provenance(
    layers: list[Layer], path: str, known: bool, visible: bool, unknown: list[str]
) -> None:
    stack = build(*layers)
    prov = stack.provenance(path)
    assert prov.known is known
    assert prov.visible is visible
    assert [part.layer_id for part in prov.unknown] == unknown
    if unknown:
        first = prov.unknown[0].position
        assert all(h.state is HitState.UNKNOWN for h in prov.stack if h.position > first)
        assert all(h.state is not HitState.UNKNOWN for h in prov.stack if h.position < first)
        part = prov.unknown[0]
        assert part.host_path == f"/host/{part.layer_id}/diff" + (
            "" if part.path == "/" else part.path
        )
        assert part.kind == "permission" and part.detail == "Permission denied"
    else:
        assert HitState.UNKNOWN not in {h.state for h in prov.stack}
    if not known:
        assert prov.winner is None
    # `unread_at` says the same; `above_winner` only what makes the winner unsure
    assert [p.layer_id for p in stack.unread_at(path)] == unknown
    assert bool(stack.unread_at(path, above_winner=True)) is (not known)


def test_listdir_marks_what_an_unread_layer_may_hide() -> None:
    stack = build(("rw:rw", ["d /d", "f /d/new"], ["/d"]), ("img", ["f /d/a", "d /d/b"], []))
    listing = {e.path: e.known for e in stack.listdir("/d")}
    assert listing == {"/d/a": False, "/d/b": False}  # /d/new: its listing was not read
    assert [p.path for p in stack.unread_in_listing("/d")] == ["/d"]
    assert stack.unread_in_listing("/") == ()  # /d's entry itself was read
    with pytest.raises(UnreadablePath):
        stack.listdir("/d/new")  # may be there, may not: cannot tell, not "no such dir"
    with pytest.raises(PathNotFound) as plain:
        stack.listdir("/nowhere")
    assert not isinstance(plain.value, UnreadablePath)


def test_walk_carries_known() -> None:
    stack = build(("rw:rw", ["d /d"], ["/d"]), ("img", ["f /d/a", "f /e"], []))
    known = {e.path: e.known for e in stack.walk()}
    assert known == {"/": True, "/d": True, "/d/a": False, "/e": True}


def test_resolve_merged_through_an_unread_layer() -> None:
    stack = build(
        ("rw:rw", ["d /d", "d /e"], ["/d", "/e"]),
        ("img", ["f /d/f", "l /link -> /d/f"], []),
    )
    where = resolve_merged(stack, "/link")
    assert where.path == "/d/f" and [p.path for p in where.unknown] == ["/d"]
    with pytest.raises(UnreadablePath):
        resolve_merged(stack, "/e/missing")
    clean = build(("rw:rw", ["f /a"], []), ("img", ["f /b"], []))
    assert resolve_merged(clean, "/b").unknown == ()


# (case id, layers top → bottom, the unread parts that leave the change list unknown)
CHANGES = [
    ("any part of the top layer", [("rw:rw", ["d /d"], ["/d"]), ("img", ["f /x"], [])], ["/d"]),
    (
        "beneath a deletion: what it deleted is not all known",
        [("rw:rw", ["w /logs"], []), ("img", ["f /logs/2024/b"], ["/logs/2024"])],
        ["/logs/2024"],
    ),
    (
        "beneath an opaque dir the top made",
        [("rw:rw", ["o /t"], []), ("img", ["f /t/a/b"], ["/t/a"])],
        ["/t/a"],
    ),
    (
        "a lower dir the top does not hold: both views the same there",
        [("rw:rw", ["f /app/x"], []), ("img", ["f /app/nested/f"], ["/app/nested"])],
        [],
    ),
    (
        "a lower entry the top's dir holds that could not be lstat'ed",
        [("rw:rw", ["f /app/x"], []), ("img", ["f /app/y"], ["/app/y"])],
        ["/app/y"],
    ),
    (
        "a lower dir the top holds too",
        [("rw:rw", ["f /app/x"], []), ("img", ["f /app/y"], ["/app"])],
        ["/app"],
    ),
    ("nowhere the top holds", [("rw:rw", ["f /a"], []), ("img", ["f /b/c"], ["/b"])], []),
]


@pytest.mark.parametrize(
    ("layers", "expected"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_unread_in_changes(layers: list[Layer], expected: list[str]) -> None:
    stack = build(*layers)
    assert [p.path for p in unread_in_changes(stack.layers)] == expected


def test_nothing_unread_changes_nothing() -> None:
    stack = build(("rw:rw", ["f /a", "w /b"], []), ("img", ["f /b", "f /c"], []))
    assert stack.unread() == [] and unread_in_changes(stack.layers) == []
    assert all(e.known for e in stack.walk())
    assert stack.provenance("/b").known and stack.provenance("/b").unknown == ()
