"""Measure overlay2 dirs the way the daemon does (moby `directory.Size`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from overlayscope.root.model import Host, Role
from overlayscope.scan import ScanProgress, docker_size, scan_layers
from overlayscope.scan.cache import cache_for


def measure_layers(
    host: Host,
    layer_ids: Iterable[str],
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
) -> dict[str, int]:
    """Bytes in each layer's diff/, as `SizeRw` and layer sizes count them.

    Image layers use the size the layer store recorded when it is there (that is
    what the daemon reports); other dirs are scanned (image layers through the scan
    cache, `scan/cache.py`). Dirs without diff/ count 0.
    """
    sizes: dict[str, int] = {}
    to_scan: dict[str, str] = {}
    for lid in layer_ids:
        layer = host.layers.get(lid)
        if layer is None or not layer.has_diff:
            sizes[lid] = 0
        elif layer.role is Role.IMAGE and layer.recorded_size is not None:
            sizes[lid] = layer.recorded_size
        else:
            to_scan[lid] = layer.diff_dir
    if to_scan:
        indexes = scan_layers(
            to_scan,
            cancel=cancel,
            progress=progress,
            xattrs=False,
            cacheable={lid for lid in to_scan if host.layers[lid].role is Role.IMAGE},
            cache=cache_for(host.root),
        )
        for lid, index in indexes.items():
            sizes[lid] = docker_size(index)
    return sizes
