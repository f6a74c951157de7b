"""The dir-at-a-time walk of `efficiency_walk.py` against the path-by-path oracle.

Both compute dive's sums (tar sizes per layer, every sighting, each path's smallest, the
paths seen twice or more) and the bytes overlayfs never shows, on the same stacks: random
ones (files replaced in later layers, files and dirs whited out, opaque dirs, symlinks,
a file where a dir was and back), as indexes built by hand and as real trees on disk
scanned by the real scanner, hard links included; and named ones that pin each rule.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayscope.scan import scan_tree
from overlayscope.union import LayerStack, StackLayer
from overlayscope.usage.efficiency import stack_efficiency
from overlayscope.usage.efficiency_walk import image_figures, tar_sizes
from tests.union.builders import materialize, stack
from tests.usage import dive_reference
from tests.usage.helpers import image_for

NAMES = ("a", "b", "c")
MAX_DEPTH = 3
LINK_NAMES = ("0", "a0", "zz")  # beside the root's a, b, c: first, between, last in a tar


@st.composite
def layer_lines(draw: st.DrawFn, layer: int) -> list[str]:
    """Spec lines for one random layer; files of a few sizes (dive compares sizes)."""

    def subtree(prefix: str, depth: int) -> list[str]:
        lines: list[str] = []
        for name in NAMES:
            path = f"{prefix}/{name}"
            kind = draw(st.sampled_from("--fffdowl" if depth < MAX_DEPTH else "--ffwl"))
            if kind == "f":
                size = draw(st.sampled_from((0, 1, 7, 300)))
                lines.append(f"f {path} size={size} data={'x' * size}")
            elif kind == "w":
                lines.append(f"w {path}")
            elif kind == "l":
                lines.append(f"l {path} -> L{layer}")
            elif kind in "do":
                lines.append(f"{kind} {path}")
                lines.extend(subtree(path, depth + 1))
        return lines

    return subtree("", 1)


stacks = st.integers(min_value=1, max_value=4).flatmap(
    lambda n: st.tuples(*(layer_lines(i) for i in range(n)))
)
# per layer: which of its files (by number, modulo their count) gets a hard link, and its name
links = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(LINK_NAMES)), max_size=3)


def assert_walk_is_the_oracle(s: LayerStack) -> None:
    want = dive_reference.figures(s)
    got, hidden = image_figures(s)
    assert got.content == want.content
    assert [tar_sizes(layer.index) for layer in reversed(s.layers)] == list(want.tar_sizes)
    assert (got.cumulative, got.minimum) == (want.cumulative, want.minimum)
    assert sorted(got.wasted) == list(want.wasted)
    assert _nonzero(hidden) == _nonzero(want.hidden)
    eff = stack_efficiency(s, image_for(s))
    assert eff.hidden_bytes == sum(want.hidden.values())
    assert eff.wasted_bytes == sum(total for _, _, total in want.wasted)


def _nonzero(sizes: dict[str, int]) -> dict[str, int]:
    return {layer: size for layer, size in sizes.items() if size}


def _by_hand(layers: tuple[list[str], ...]) -> LayerStack:
    return stack(*((f"L{i}", lines) for i, lines in reversed(list(enumerate(layers)))))


def _on_disk(
    work: Path, layers: tuple[list[str], ...], linked: list[list[tuple[int, str]]]
) -> LayerStack:
    built = []
    for i, lines in enumerate(layers):
        diff = materialize(work / f"L{i}" / "diff", lines, layer_id=f"L{i}")
        files = sorted(p for p in diff.rglob("*") if p.is_file() and not p.is_symlink())
        for n, name in linked[i] if i < len(linked) else ():
            target = diff / name
            if files and not target.exists():
                os.link(files[n % len(files)], target)
        built.append(StackLayer(f"L{i}", "image", scan_tree(diff)))
    return LayerStack(tuple(reversed(built)))


@settings(max_examples=150, deadline=None)
@given(layers=stacks)
def test_walk_matches_the_oracle_on_indexes_built_by_hand(layers: tuple[list[str], ...]) -> None:
    assert_walk_is_the_oracle(_by_hand(layers))


@pytest.mark.root
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(layers=stacks, linked=st.lists(links, max_size=4))
def test_walk_matches_the_oracle_on_scanned_trees(
    layers: tuple[list[str], ...], linked: list[list[tuple[int, str]]]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteouts (char devices) and opaque dirs (trusted.* xattrs) need root")
    work = Path(tempfile.mkdtemp(prefix="overlayscope-efficiency-"))
    try:
        assert_walk_is_the_oracle(_on_disk(work, layers, linked))
    finally:
        shutil.rmtree(work)


NAMED = [
    pytest.param(
        [
            "f /d/x size=5\nf /d/y size=6\nd /d/sub\nf /d/sub/z size=7",
            "w /d",
            "d /d\nf /d/x size=2",
        ],
        id="dir-deleted-then-made-again",
    ),
    pytest.param(
        ["f /d/x size=5\nf /d/sub/z size=7", "w /d/sub\nf /d/y size=1", "w /d"],
        id="whiteout-inside-a-dir-whited-out-later",
    ),
    pytest.param(
        ["f /d/x size=5\nf /d/y size=3", "o /d\nf /d/x size=4", "f /d/y size=9"],
        id="opaque-dir-then-a-file-above-it",
    ),
    pytest.param(
        ["d /p/q\nf /p/q/r size=8", "f /p/q size=2", "d /p/q\nf /p/q/s size=1"],
        id="dir-file-dir",
    ),
    pytest.param(
        ["f /a size=3\nf /b/c size=4", "w /a\nw /nothing\nw /b/none"],
        id="whiteouts-of-missing-paths",
    ),
    pytest.param(["d /empty", "w /empty", "d /empty"], id="empty-dirs"),
]


@pytest.mark.parametrize("layers", NAMED)
def test_named_stacks_by_hand(layers: list[str]) -> None:
    assert_walk_is_the_oracle(_by_hand(tuple(layer.splitlines() for layer in layers)))


@pytest.mark.root
@pytest.mark.parametrize("layers", NAMED)
def test_named_stacks_on_disk(tmp_path: Path, layers: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteouts (char devices) and opaque dirs (trusted.* xattrs) need root")
    s = _on_disk(tmp_path, tuple(layer.splitlines() for layer in layers), [[(0, "0"), (1, "zz")]])
    assert_walk_is_the_oracle(s)


@pytest.mark.root
def test_hard_links_in_a_replaced_file(tmp_path: Path) -> None:
    """A multiply-linked inode is one tar member with bytes, the rest links: a copy above
    of one of its names hides that name only, and the inode stays shown."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    s = _on_disk(
        tmp_path,
        (
            ["f /a size=300 data=" + "x" * 300, "f /m/n size=7 data=abcdefg"],
            ["f /a size=5 data=12345"],
        ),
        [[(0, "0"), (0, "zz")]],  # /0 and /zz link /a (sorted first); /0 carries the bytes
    )
    bottom = s.layers[1].index
    assert bottom.entries["/0"].ino == bottom.entries["/a"].ino == bottom.entries["/zz"].ino
    assert tar_sizes(bottom) == {"/0": 300, "/m/n": 7}
    assert_walk_is_the_oracle(s)
    eff = stack_efficiency(s, image_for(s))
    assert [layer.hidden_bytes for layer in eff.layers] == [0, 0]  # /0 and /zz still show it
    assert [(p.path, p.count, p.cumulative_size) for p in eff.paths] == [("/a", 2, 5)]
