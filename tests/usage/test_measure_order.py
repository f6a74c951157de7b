"""The order `measure_root` hands trees to the scanner: unknown sizes, then biggest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overlayscope.usage import measure_root as mr
from overlayscope.usage.rootwalk import Areas


def test_unknown_sizes_first_then_the_biggest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = {"small-image": 10, "rw": 0, "big-image": 5000, "init": 0, "mid-image": 300}
    units = {}
    for key, weight in weights.items():
        (tmp_path / key / "diff").mkdir(parents=True)
        units[key] = mr.Unit(str(tmp_path / key / "diff"), "image_layers", key, weight=weight)
    seen: list[str] = []
    real = mr.scan_trees

    def spy(layers: dict[str, str], **kwargs: Any) -> Any:
        seen.extend(layers)
        return real(layers, **kwargs)

    monkeypatch.setattr(mr, "scan_trees", spy)
    roots = [str(tmp_path)]
    out = mr.measure_root(roots, units, Areas(roots, {}, "other"), workers=1)
    # a rw layer's size is not recorded: it may be the biggest, so it starts first
    assert seen == ["rw", "init", "big-image", "mid-image", "small-image"]
    assert set(out.units) == set(weights)
