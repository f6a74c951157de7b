"""The merged view marks an entry `unknown` when a layer above it could not be read there
(it may be deleted or replaced), and only then (issue #15, item 4; docs/tui.md).

Stacks built by hand in the exact shape the scanner leaves an unreadable part
(tests/union/test_unread.py); the real scan meeting a real EACCES is
tests/tui/test_unread_banner.py.
"""

from __future__ import annotations

import pytest

from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from tests.union.test_unread import Layer, build

# (case id, layers top → bottom, dir listed, {path: marked unknown})
CASES = [
    (
        "beneath an upper dir whose listing was refused",
        [("rw:rw", ["d /d"], ["/d"]), ("img", ["f /d/a", "d /d/b", "f /e"], [])],
        "/d",
        {"/d/a": True, "/d/b": True},
    ),
    (
        "elsewhere in the same stack",
        [("rw:rw", ["d /d"], ["/d"]), ("img", ["f /d/a", "f /e"], [])],
        "/",
        {"/d": False, "/e": False},
    ),
    (
        "a lower layer's unread dir under a winner that was read",
        [("rw:rw", ["f /d/a"], []), ("img", ["f /d/b"], ["/d"])],
        "/d",
        {"/d/a": False},
    ),
    (
        "nothing unread",
        [("rw:rw", ["f /d/a"], []), ("img", ["f /d/b"], [])],
        "/d",
        {"/d/a": False, "/d/b": False},
    ),
]


@pytest.mark.parametrize(
    ("layers", "listed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_merged_view_marks_unknown_entries(
    layers: list[Layer], listed: str, expected: dict[str, bool]
) -> None:
    tree = MergedTree()
    tree.load(build(*layers), ChangeIndex(()))
    assert sorted(tree.child_paths(listed)) == sorted(expected)
    for path, unknown in expected.items():
        marks = [m.plain for m in tree.label_parts(path).marks]
        assert ("unknown" in marks) is unknown, (path, marks)
