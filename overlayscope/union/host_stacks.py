"""Build the `LayerStack` of a container or an image of a `Host`: scan its layers, stack them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from overlayscope.errors import OverlayscopeError
from overlayscope.root.model import Container, Host, Image, SizeRule
from overlayscope.scan import LayerIndex, ScanProgress, allocated_size, docker_size, scan_layers
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
        checkable = obj.init_layer is not None or not obj.init_expected
        if checkable and len(obj.image_layers) < len(_image_layers(host, obj)):
            raise IncompleteStack(
                f"the layer chain of container {obj.id[:12]} is broken",
                hint="run `overlayscope check` to see what is damaged",
            )
    else:
        if any(layer.id is None for layer in obj.layers):
            raise IncompleteStack(
                f"image {obj.id.removeprefix('sha256:')[:12]} has layers without a layer record",
                hint="run `overlayscope check` to see what is damaged",
            )
        ids = obj.stack()
    out = []
    for lid in ids:
        layer = host.layers.get(lid)
        if layer is None or not layer.has_content:
            raise IncompleteStack(
                f"layer {lid} is missing"
                + (f" ({layer.content_dir} is not there)" if layer is not None else ""),
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
        {lid: host.layers[lid].content_dir for lid, _ in layers},
        cancel=cancel,
        progress=progress,
        cacheable=host.cache_keys(lid for lid, _ in layers),
        cache=cache_for(*host.all_roots),
    )
    return LayerStack.of(StackLayer(lid, role, indexes[lid]) for lid, role in layers)


def engine_size(host: Host, index: LayerIndex) -> int:
    """A scanned layer's size as its engine reports it (`Host.size_rule`): apparent bytes
    of non-directories (Docker's `SizeRw`), or allocated bytes of every inode, the layer's
    root included (`ctr snapshots usage`, Docker 29's `SizeRw`)."""
    return allocated_size(index) if host.size_rule is SizeRule.ALLOCATED else docker_size(index)


def _image_layers(host: Host, container: Container) -> tuple[object, ...]:
    image = host.image_of(container)
    return image.layers if image is not None else ()
