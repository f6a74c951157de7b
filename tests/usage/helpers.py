"""Building small images for the usage tests."""

from __future__ import annotations

from overlayscope.root.model import Image, ImageLayer
from overlayscope.union import LayerStack


def image_for(stack: LayerStack, created_by: list[str] | None = None) -> Image:
    """An `Image` whose layers are `stack`'s (top first), with no recorded sizes."""
    ids = [layer.id for layer in reversed(stack.layers)]
    steps = created_by or [f"step {i}" for i in range(len(ids))]
    return Image(
        id="sha256:" + "ab" * 32,
        tags=("test:1",),
        digests=(),
        dangling=False,
        intermediate=False,
        parent=None,
        created=None,
        layers=tuple(
            ImageLayer(
                id=lid,
                chain_id=f"sha256:{i}",
                diff_id=f"sha256:{i}",
                size=None,
                created_by=steps[i],
            )
            for i, lid in enumerate(ids)
        ),
        containers=(),
    )
