"""Image sizes as the daemon reports them: Size, and `docker system df -v` shared/unique."""

from __future__ import annotations

from collections import Counter

from overlayscope.record import record
from overlayscope.root.model import Host, Image, ImageLayer


@record
class ImageSizes:
    size: int | None  # the image's Size: all its layers
    shared: int | None  # bytes in layers that another listed image also uses
    unique: int | None  # size - shared


def image_sizes(host: Host) -> dict[str, ImageSizes]:
    """Shared and unique bytes per image, with `docker system df -v`'s rules.

    The daemon counts layer references only over the images `docker images`
    lists (intermediate build images are left out), and a layer is shared when
    more than one of those images holds it. Intermediate images are given the
    same arithmetic against that count, for completeness.
    """
    refs = layer_refs(host)
    return {image.key: _sizes(image, refs) for image in host.images.values()}


def layer_ref(image: Image, layer: ImageLayer) -> str:
    """What identifies one layer on disk for reference counting: its chain id, within the
    image's namespace (one chain id in two containerd namespaces is two snapshots)."""
    return f"{image.namespace}/{layer.chain_id}" if image.namespace else layer.chain_id


def layer_refs(host: Host) -> Counter[str]:
    """How many of the images `docker images` lists (not intermediate ones) hold each layer."""
    refs: Counter[str] = Counter()
    for image in host.images.values():
        if not image.intermediate:
            refs.update(layer_ref(image, layer) for layer in image.layers)
    return refs


def _sizes(image: Image, refs: Counter[str]) -> ImageSizes:
    size = image.size
    if size is None:
        return ImageSizes(None, None, None)
    shared = sum(layer.size or 0 for layer in image.layers if refs[layer_ref(image, layer)] > 1)
    return ImageSizes(size, shared, size - shared)
