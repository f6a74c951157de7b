"""Build the `LayerStack` of a container or an image of a `Host`: scan its layers, stack them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from overlayscope.errors import OverlayscopeError
from overlayscope.root.model import Container, Host, Image, Role
from overlayscope.scan import ScanProgress, scan_layers
from overlayscope.scan.cache import cache_for
from overlayscope.union.lookup import StackLayer
from overlayscope.union.stack import LayerStack

Progress = Callable[[ScanProgress], None]


class IncompleteStack(OverlayscopeError):
    title = "incomplete layer stack"


def stack_layers(host: Host, obj: Container | Image) -> list[tuple[str, str]]:
    """(layer id, role) top → bottom: rw, init, image layers for a container; image layers."""
    if isinstance(obj, Container):
        if obj.layer is None:
            raise IncompleteStack(
                f"container {obj.id[:12]} has no writable layer record",
                hint="run `overlayscope check` to see what is damaged",
            )
        ids = obj.stack()
        expected = 2 + len(_image_layers(host, obj.image_id)) if obj.init_layer else None
        if expected is not None and len(ids) < expected:
            raise IncompleteStack(
                f"the layer chain of container {obj.id[:12]} is broken",
                hint="run `overlayscope check` to see what is damaged",
            )
    else:
        if any(layer.id is None for layer in obj.layers):
            raise IncompleteStack(
                f"image {obj.id.removeprefix('sha256:')[:12]} has layers without a layerdb record",
                hint="run `overlayscope check` to see what is damaged",
            )
        ids = obj.stack()
    out = []
    for lid in ids:
        layer = host.layers.get(lid)
        if layer is None or not layer.has_diff:
            raise IncompleteStack(
                f"layer {lid} is missing from overlay2/",
                hint="run `overlayscope check` to see what is damaged",
            )
        out.append((lid, str(layer.role)))
    return out


def build_stack(
    host: Host,
    obj: Container | Image,
    *,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> LayerStack:
    """Scan every layer of `obj` (in parallel) and stack them top → bottom.

    Image layers come from the scan cache when it holds them (`scan/cache.py`).
    """
    layers = stack_layers(host, obj)
    indexes = scan_layers(
        {lid: host.layers[lid].diff_dir for lid, _ in layers},
        cancel=cancel,
        progress=progress,
        cacheable={lid for lid, role in layers if role == Role.IMAGE},
        cache=cache_for(host.root),
    )
    return LayerStack.of(StackLayer(lid, role, indexes[lid]) for lid, role in layers)


def _image_layers(host: Host, image_id: str) -> tuple[object, ...]:
    image = host.images.get(image_id)
    return image.layers if image is not None else ()
