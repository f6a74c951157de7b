"""The scanner: a read-only, parallel `os.scandir` walk over overlay2 `diff/` trees.

`scan_tree` indexes one tree in this process; `scan_layers` indexes many in
parallel, this process and worker processes sharing the layers. `docker_size`
and `allocated_size` sum an index the way Docker and `du` do. Nothing here
prints, formats, or imports a UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overlayscope.lazy import lazy_exports

if TYPE_CHECKING:
    from overlayscope.scan.entry import (
        Entry,
        Kind,
        LayerIndex,
        OverlayXattrs,
        ScanProblem,
        ScanProgress,
        join,
        parent_of,
    )
    from overlayscope.scan.parallel import default_workers, scan_layers
    from overlayscope.scan.process import ScanWorkerError
    from overlayscope.scan.sizes import allocated_size, docker_size
    from overlayscope.scan.tree import scan_tree

__getattr__ = lazy_exports(
    __name__,
    {
        "Entry": "entry",
        "Kind": "entry",
        "LayerIndex": "entry",
        "OverlayXattrs": "entry",
        "ScanProblem": "entry",
        "ScanProgress": "entry",
        "join": "entry",
        "parent_of": "entry",
        "default_workers": "parallel",
        "scan_layers": "parallel",
        "ScanWorkerError": "process",
        "allocated_size": "sizes",
        "docker_size": "sizes",
        "scan_tree": "tree",
    },
)

__all__ = [
    "Entry",
    "Kind",
    "LayerIndex",
    "OverlayXattrs",
    "ScanProblem",
    "ScanProgress",
    "ScanWorkerError",
    "allocated_size",
    "default_workers",
    "docker_size",
    "join",
    "parent_of",
    "scan_layers",
    "scan_tree",
]
