"""dive's efficiency rules, and overlayscope's hidden bytes, on small in-memory images.

Layers are listed bottom first here (as dive reads an image) and stacked top first.
Every expectation is worked out by hand from dive's definition (overlayscope.usage.efficiency).
"""

from __future__ import annotations

import pytest

from overlayscope.usage.efficiency import WastedPath, stack_efficiency
from tests.union.builders import stack
from tests.usage.helpers import image_for


def _eff(*bottom_first: str):  # type: ignore[no-untyped-def]
    layers = [(f"L{i}", lines) for i, lines in enumerate(bottom_first)]
    s = stack(*reversed(layers))
    return stack_efficiency(s, image_for(s))


CASES = [
    pytest.param(
        ["f /a size=300", "f /a size=200"],
        # /a seen twice: cumulative 500, smallest 200
        dict(score=200 / 500, wasted=500, paths=[("/a", 2, 500)], user=200, hidden=300),
        id="overwrite",
    ),
    pytest.param(
        ["f /a size=10", "f /a size=20", "f /a size=30"],
        dict(score=10 / 60, wasted=60, paths=[("/a", 3, 60)], user=50, hidden=30),
        id="three-copies",
    ),
    pytest.param(
        ["f /a size=70 mode=644", "f /a size=70 mode=600"],
        # a chmod copies the whole file up: a second sighting of the same size
        dict(score=0.5, wasted=140, paths=[("/a", 2, 140)], user=70, hidden=70),
        id="chmod-copy-up",
    ),
    pytest.param(
        ["f /a size=100\nf /b size=50", "w /a"],
        # a file's whiteout is a sighting of size 0: /a is 100 + 0, smallest 0
        dict(score=50 / 150, wasted=100, paths=[("/a", 2, 100)], user=0, hidden=100),
        id="delete-file",
    ),
    pytest.param(
        ["f /d/x size=10\nf /d/y size=20", "w /d"],
        # dive's blind spot: /d was never a leaf below, so its whiteout (sized 30, the
        # dir's contents) is its only sighting: nothing wasted; overlayfs hides 30 bytes
        dict(score=1.0, wasted=0, paths=[], user=0, hidden=30),
        id="delete-dir",
    ),
    pytest.param(
        ["d /d", "f /d/x size=10", "w /d"],
        # /d was an empty dir (a leaf, size 0) in L0: its whiteout makes it a 2nd sighting
        dict(score=10 / 20, wasted=10, paths=[("/d", 2, 10)], user=10, hidden=10),
        id="delete-dir-seen-empty",
    ),
    pytest.param(
        ["f /c/old size=40", "o /c\nf /c/new size=5"],
        # dive ignores opaque dirs: nothing it sees is wasted; overlayfs hides /c/old
        dict(score=1.0, wasted=0, paths=[], user=5, hidden=40),
        id="opaque-dir",
    ),
    pytest.param(
        ["f /a size=10", "w /nothing\nf /a size=10"],
        # a whiteout of a path no lower layer holds is skipped (dive would stop the layer)
        dict(score=0.5, wasted=20, paths=[("/a", 2, 20)], user=10, hidden=10),
        id="dangling-whiteout",
    ),
    pytest.param(
        ["l /s -> one", "l /s -> three"],
        # tar sizes: a symlink is 0 bytes, so a twice-seen symlink wastes 0
        dict(score=1.0, wasted=0, paths=[("/s", 2, 0)], user=0, hidden=0),
        id="symlinks",
    ),
    pytest.param(
        ["f /a size=5\nf /b size=7"],
        dict(score=1.0, wasted=0, paths=[], user=0, hidden=0),
        id="one-layer",
    ),
]


@pytest.mark.parametrize(("layers", "want"), CASES)
def test_dive_rules(layers: list[str], want: dict[str, object]) -> None:
    eff = _eff(*layers)
    assert eff.score == pytest.approx(want["score"])
    assert eff.wasted_bytes == want["wasted"]
    assert [(p.path, p.count, p.cumulative_size) for p in eff.paths] == want["paths"]
    assert eff.user_size == want["user"]
    assert eff.hidden_bytes == want["hidden"]
    assert eff.user_wasted_bytes == eff.wasted_bytes


def test_user_ratio_and_its_edges() -> None:
    eff = _eff("f /a size=300", "f /a size=200\nf /b size=100")
    assert eff.user_size == 300
    assert eff.user_wasted_percent == pytest.approx(500 / 300)
    # nothing above the base layer and nothing wasted: 0; waste but no user bytes: None
    assert _eff("f /a size=1").user_wasted_percent == 0.0
    assert _eff("f /a size=100", "w /a").user_wasted_percent is None


def test_paths_largest_first_and_per_layer_hidden() -> None:
    eff = _eff(
        "f /small size=1\nf /big size=1000",
        "f /small size=2\nf /big size=10",
        "f /other size=3",
    )
    assert eff.paths == (WastedPath("/big", 2, 1010), WastedPath("/small", 2, 3))
    assert [layer.id for layer in eff.layers] == ["L0", "L1", "L2"]
    assert [layer.hidden_bytes for layer in eff.layers] == [1001, 0, 0]
    assert [layer.content_size for layer in eff.layers] == [1001, 12, 3]
    assert [layer.created_by for layer in eff.layers] == ["step 0", "step 1", "step 2"]
