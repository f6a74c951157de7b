"""Measure layers the way their store's engine does (`Host.size_rule`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from overlayscope.root.model import Host, Role, SizeRule
from overlayscope.scan import LayerIndex, ScanProgress, allocated_size, docker_size, scan_layers
from overlayscope.scan.cache import cache_for
from overlayscope.union.unread import UnreadPart, layer_unread, unread_in_changes


def measure_layers(
    host: Host,
    layer_ids: Iterable[str],
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
    unread: dict[str, list[UnreadPart]] | None = None,
) -> dict[str, int]:
    """Bytes in each layer's content dir, as `SizeRw` and layer sizes count them.

    Image layers use the size the store recorded when it is there (that is what the
    engine reports); other layers are scanned (image layers through the scan cache,
    `scan/cache.py`). Layers without a content dir count 0. The parts of the layers
    scanned that could not be read (`union/unread.py`) are left out of the sizes; when
    `unread` is given, it gets, by layer id, those that leave that layer's size short.
    """
    sizes: dict[str, int] = {}
    to_scan: dict[str, str] = {}
    by_changes: dict[str, list[str]] = {}  # layer id → its stack, itself first
    for lid in layer_ids:
        layer = host.layers.get(lid)
        if layer is None or not layer.has_content:
            sizes[lid] = 0
        elif layer.role is Role.IMAGE and layer.recorded_size is not None:
            sizes[lid] = layer.recorded_size
        elif (stack := _changes_stack(host, lid)) is not None:
            by_changes[lid] = stack
        else:
            to_scan[lid] = layer.content_dir
    if by_changes:
        sizes.update(
            _sizes_by_changes(host, by_changes, cancel=cancel, progress=progress, unread=unread)
        )
    if to_scan:
        cacheable = host.cache_keys(to_scan)
        indexes = scan_layers(
            to_scan,
            cancel=cancel,
            progress=progress,
            xattrs=False,
            overlay_xattrs=host.overlay_xattrs,  # empty files' still tell whiteouts
            cacheable=cacheable,
            cache=cache_for(*host.all_roots),
            # containers' own layers alone (`containers`): small as a rule, walked here
            # first, workers joining only for big ones (~15 ms saved on each small host)
            eager=bool(cacheable),
        )
        for lid, index in indexes.items():
            sizes[lid] = engine_size(host, index)
            if unread is not None and (
                parts := layer_unread(lid, str(host.layers[lid].role), index)
            ):
                unread[lid] = parts
    return sizes


def engine_size(host: Host, index: LayerIndex) -> int:
    """A scanned layer's size as its engine reports it (`Host.size_rule`): apparent bytes
    of non-directories (Docker's `SizeRw`), or allocated bytes of every inode, the layer's
    root included (`ctr snapshots usage`, Docker 29's `SizeRw`). For `SizeRule.CHANGES`
    the layer alone cannot say: see `_sizes_by_changes`; this gives its apparent bytes."""
    return allocated_size(index) if host.size_rule is SizeRule.ALLOCATED else docker_size(index)


def _changes_stack(host: Host, layer_id: str) -> list[str] | None:
    """For `SizeRule.CHANGES`, the stack a container's rw or init layer is measured with
    (the layer and what lies beneath it); None when its size is its own."""
    layer = host.layers[layer_id]
    if host.size_rule is not SizeRule.CHANGES or layer.role not in (Role.RW, Role.INIT):
        return None
    container = host.containers.get(layer.container or "")
    if container is None:
        return None
    stack = container.stack()
    if layer_id not in stack or any(
        lid not in host.layers or not host.layers[lid].has_content for lid in stack
    ):
        return None
    return stack[stack.index(layer_id) :]


def _sizes_by_changes(
    host: Host,
    stacks: dict[str, list[str]],
    *,
    cancel: threading.Event | None,
    progress: Callable[[ScanProgress], None] | None,
    unread: dict[str, list[UnreadPart]] | None = None,
) -> dict[str, int]:
    """moby's naive `DiffSize` of each layer: what the diff over the layers beneath it adds
    or changes (every layer scanned once, whatever the stacks share)."""
    # the diff engine and the stacks, for these sizes only (Podman's rule)
    from overlayscope.union.diff import changes
    from overlayscope.union.host_stacks import changes_size, host_stack
    from overlayscope.union.lookup import StackLayer

    needed = {lid for stack in stacks.values() for lid in stack}
    indexes = scan_layers(
        {lid: host.layers[lid].content_dir for lid in needed},
        cancel=cancel,
        progress=progress,
        overlay_xattrs=host.overlay_xattrs,
        cacheable=host.cache_keys(needed),
        cache=cache_for(*host.all_roots),
    )
    out = {}
    for lid, ids in stacks.items():
        stack = host_stack(host, [StackLayer(i, str(host.layers[i].role), indexes[i]) for i in ids])
        found = changes(stack, rule=host.change_rule, compare_content=False)
        out[lid] = changes_size(stack, found)
        if unread is not None and (parts := unread_in_changes(stack.layers)):
            unread[lid] = parts
    return out
