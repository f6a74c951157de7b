"""Where the disk went: the whole data root by category, with what could be reclaimed.

`disk_usage(host)` measures every byte under the data root once (hard links
once, mount points below the root not crossed) and attributes it:

| category | what |
|---|---|
| `image_layers` | `overlay2/<id>/` of image layers |
| `container_layers` | `overlay2/<id>/` of containers' writable (rw) layers |
| `init_layers` | `overlay2/<id>-init/` of containers' init layers |
| `orphans` | `overlay2/<id>/` that nothing references |
| `container_logs` | `containers/<id>/<id>-json.log*` and `containers/<id>/local-logs/` |
| `volumes` | `volumes/<name>/` (the data in `_data/`, and the volume's own dir) |
| `build_cache` | `buildkit/` |
| `other` | everything else (records, `overlay2/l/`, `containerd/`, `network/` ...) |

Each category has apparent and allocated bytes (`footprint.py`) and
`reclaimable`: the allocated bytes that Docker's own prune commands would give
back — image layers no container uses, layers and logs of containers that are
not running, volumes no container mounts, orphans, the build cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from overlayscope.root.model import Host, Role
from overlayscope.scan import ScanProgress
from overlayscope.scan.cache import cache_for
from overlayscope.usage.copyup import CopyUps, copy_ups_by_container
from overlayscope.usage.df_build import Assemble, Classifier, under
from overlayscope.usage.df_model import (
    ACTIVE_STATES,
    ROLE_CATEGORY,
    Category,
    CategoryUsage,
    Consumer,
    ContainerUsage,
    DiskUsage,
    ImageUsage,
    LayerUsage,
    OtherUsage,
    VolumeUsage,
)
from overlayscope.usage.measure_root import Unit, measure_root
from overlayscope.usage.volumes import find_volumes

Progress = Callable[[ScanProgress], None]

__all__ = [
    "ACTIVE_STATES",
    "Category",
    "CategoryUsage",
    "Consumer",
    "ContainerUsage",
    "DiskUsage",
    "ImageUsage",
    "LayerUsage",
    "OtherUsage",
    "VolumeUsage",
    "disk_usage",
]


def disk_usage(
    host: Host,
    *,
    top: int = 10,
    copy_ups: bool = False,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> DiskUsage:
    """Measure the whole data root of `host` (see the module doc for the categories).

    `top` bounds the top consumers and top files lists (and, with `copy_ups`,
    each container's largest copy-ups and additions). `copy_ups=True` also
    compares every container's rw layer with the layers beneath it, which reads
    all their layers once more. Long work: honours `cancel` (raises
    `Cancelled`) and reports `progress`.
    """
    root = os.path.normpath(host.root)
    volumes = find_volumes(host, root)
    units: dict[str, Unit] = {}
    for layer in host.layers.values():
        if layer.has_diff:
            category = ROLE_CATEGORY[layer.role]
            units["layer/" + layer.id] = Unit(
                under(root, "overlay2", layer.id, "diff"),
                category,
                layer.id,
                cache_key=layer.id if layer.role is Role.IMAGE else None,
                weight=layer.recorded_size or 0,
            )
    for vol in volumes:
        if vol.has_data:
            units["volume/" + vol.name] = Unit(
                under(root, "volumes", vol.name, "_data"), Category.VOLUMES, vol.name
            )
    classify = Classifier(host, {v.name for v in volumes})
    tallies = measure_root(
        root,
        units,
        classify,
        top_files=top,
        cancel=cancel,
        progress=progress,
        workers=workers,
        cache=cache_for(root),
    )
    found: dict[str, CopyUps] = {}
    problems = list(tallies.problems)
    if copy_ups:
        containers = [c for c in host.containers.values() if c.layer is not None]
        found, more = copy_ups_by_container(
            host, containers, top=top, cancel=cancel, progress=progress
        )
        problems.extend(more)
    return Assemble(host, root, tallies, volumes, found).build(top, tuple(problems))
