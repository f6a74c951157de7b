"""`change_totals` on real trees: counts say what they count, hard links count once, and
an opaque dir re-made over an opaque one is no copy-up (docs/union.md, glossary).

Each case writes real diff trees (whiteouts and opaque dirs need root), hard-links files
with `os.link`, scans them with the real scanner and sums the real `changes()`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.scan import scan_tree
from overlayscope.union import LayerStack, StackLayer, changes
from overlayscope.union.summary import change_totals
from tests.union.builders import materialize

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and opaque dirs need root")


def _stack(tmp_path: Path, *layers: tuple[str, str, list[tuple[str, str]]]) -> LayerStack:
    """Layers top first: (name, spec lines, hard links to make as (existing, new))."""
    built = []
    for name, lines, links in layers:
        root = materialize(tmp_path / name, lines, name)
        for old, new in links:
            os.link(root / old.lstrip("/"), root / new.lstrip("/"))
        built.append(StackLayer(name, "rw" if not built else "image", scan_tree(str(root))))
    return LayerStack(tuple(built))


BB = "x" * 1000  # a file's data, hard-linked under a second name


@pytest.mark.parametrize(
    ("top", "links", "below", "want"),
    [
        # a file and its hard link, both added: two lines, one file's bytes (as SizeRw)
        (f"f /bb data={BB}", [("/bb", "/bb2")], "d /bin",
         {"added": 2, "added_bytes": 1000}),
        # a new dir and a file in it: two lines (dirs are counted), bytes of the file only
        ("f /d/f data=12345", [], "d /bin", {"added": 2, "added_bytes": 5}),
        # a deleted dir whose two names of one inode hid 1000 bytes, not 2000
        ("w /x", [], f"f /x/a data={BB}", {"deleted": 1, "deleted_bytes": 1000}),
    ],
)  # fmt: skip
def test_totals_count_lines_and_bytes_once(
    tmp_path: Path, top: str, links: list[tuple[str, str]], below: str, want: dict[str, int]
) -> None:
    below_links = [("/x/a", "/x/b")] if "/x/a" in below else []
    stack = _stack(tmp_path, ("top", top, links), ("base", below, below_links))
    totals = change_totals(stack, changes(stack))
    for key, value in want.items():
        assert getattr(totals, key) == value, (key, totals)


def test_opaque_remade_over_opaque_is_no_copy_up(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        ("top", "o /o mode=700\nf /o/t", []),
        ("mid", "o /o\nf /o/m", []),
        ("base", "d /o\nf /o/old", []),
    )
    found = {c.path: c for c in changes(stack)}
    assert found["/o"].kind == "C" and found["/o"].entry == "opaque-dir"
    assert found["/o"].copy_up is False
    assert found["/o/t"].copy_up is False and found["/o/m"].kind == "D"


def test_file_under_an_opaque_dir_of_the_top_is_no_copy_up(tmp_path: Path) -> None:
    """`rm -rf /o; mkdir /o; echo > /o/f`: the new /o/f is no copy of the /o/f beneath,
    though both views hold a file there."""
    stack = _stack(
        tmp_path,
        ("top", "o /o\nf /o/f data=new", []),
        ("base", "d /o\nf /o/f data=old", []),
    )
    found = {c.path: c for c in changes(stack)}
    assert found["/o/f"].kind == "C" and found["/o/f"].copy_up is False
    assert change_totals(stack, list(found.values())).copied_up == 0


def test_chmod_copy_up_has_the_same_bytes(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        ("top", "f /c mode=600 data=same mtime=5", []),
        ("base", "f /c mode=644 data=same mtime=5", []),
    )
    (change,) = changes(stack)
    assert change.copy_up and change.content == "same" and change.meta == ("mode",)
    totals = change_totals(stack, [change])
    assert (totals.copied_up, totals.metadata_only, totals.metadata_only_bytes) == (1, 1, 4)
