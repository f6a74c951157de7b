"""Measure layers the way their store's engine does (`Host.size_rule`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from overlayscope.root.model import Host, Role
from overlayscope.scan import ScanProgress, scan_layers
from overlayscope.scan.cache import cache_for
from overlayscope.union.host_stacks import engine_size


def measure_layers(
    host: Host,
    layer_ids: Iterable[str],
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
) -> dict[str, int]:
    """Bytes in each layer's content dir, as `SizeRw` and layer sizes count them.

    Image layers use the size the store recorded when it is there (that is what the
    engine reports); other layers are scanned (image layers through the scan cache,
    `scan/cache.py`). Layers without a content dir count 0.
    """
    sizes: dict[str, int] = {}
    to_scan: dict[str, str] = {}
    for lid in layer_ids:
        layer = host.layers.get(lid)
        if layer is None or not layer.has_content:
            sizes[lid] = 0
        elif layer.role is Role.IMAGE and layer.recorded_size is not None:
            sizes[lid] = layer.recorded_size
        else:
            to_scan[lid] = layer.content_dir
    if to_scan:
        indexes = scan_layers(
            to_scan,
            cancel=cancel,
            progress=progress,
            xattrs=False,
            cacheable=host.cache_keys(to_scan),
            cache=cache_for(*host.all_roots),
        )
        for lid, index in indexes.items():
            sizes[lid] = engine_size(host, index)
    return sizes
