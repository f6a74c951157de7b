"""Build the `LayerStack` of a container or an image of a `Host`: scan its layers, stack them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from overlayscope.errors import OverlayscopeError
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import ScanProgress, scan_layers
from overlayscope.scan.cache import cache_for
from overlayscope.union.full_trees import as_diffs, copied_from_below
from overlayscope.union.lookup import StackLayer
from overlayscope.union.stack import LayerStack

if TYPE_CHECKING:  # the diff engine loads for the commands that diff
    from overlayscope.union.diff import Change

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
        overlay_xattrs=host.overlay_xattrs,
        cacheable=host.cache_keys(lid for lid, _ in layers),
        cache=cache_for(*host.all_roots),
    )
    return host_stack(host, [StackLayer(lid, role, indexes[lid]) for lid, role in layers])


def host_stack(host: Host, layers: list[StackLayer]) -> LayerStack:
    """Scanned layers of `host` (top → bottom) as a stack: full trees (legacy overlay's
    image layers) become the diffs overlayfs would stack (`full_trees.py`)."""
    full = full_tree_ids(host, layers)
    return LayerStack.of(as_diffs(layers, full) if full else layers)


def full_tree_ids(host: Host, layers: list[StackLayer]) -> set[str]:
    """The ids of those of `layers` that hold full trees (legacy overlay's image layers)."""
    return {layer.id for layer in layers if (hl := host.layers.get(layer.id)) and hl.full_tree}


def starts_as_copy(host: Host, layers: list[StackLayer]) -> bool:
    """Whether the top of `layers` began as a copy of the upper dir beneath it (legacy
    overlay's rw layer, copied from its init layer): its copies are not copy-ups."""
    return copied_from_below(layers, 0, full_tree_ids(host, layers))


def changes_size(stack: LayerStack, found: list[Change]) -> int:
    """moby's `archive.ChangesSize`: lstat sizes of what `found` adds or changes in the
    stack's merged view, directories aside, a multiply-linked inode once."""
    from overlayscope.union.diff import ChangeKind

    total = 0
    seen: set[int] = set()
    for change in found:
        if change.kind is ChangeKind.DELETED:
            continue
        hit = stack.lookup(change.path)
        if hit is None or hit[0].kind.is_dir:
            continue
        entry = hit[0]
        if entry.nlink > 1:
            if entry.ino in seen:
                continue
            seen.add(entry.ino)
        total += entry.size
    return total


def _image_layers(host: Host, container: Container) -> tuple[object, ...]:
    image = host.image_of(container)
    return image.layers if image is not None else ()
