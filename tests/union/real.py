"""Real layer trees on disk, scanned with the real scanner, stacked for the union tests."""

from __future__ import annotations

from pathlib import Path

from overlayscope.scan import scan_tree
from overlayscope.union import LayerStack, StackLayer
from tests.union.builders import materialize


def real_stack(tmp_path: Path, *layers: tuple[str, str]) -> LayerStack:
    """Write `(id[:role], lines)` layers under `tmp_path`, scan them, stack them top first."""
    built = []
    for layer_id, lines in layers:
        name, _, role = layer_id.partition(":")
        diff = materialize(tmp_path / name / "diff", lines, layer_id=name)
        built.append(StackLayer(name, role or "image", scan_tree(diff)))
    return LayerStack(tuple(built))
