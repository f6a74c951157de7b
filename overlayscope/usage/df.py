"""Where the disk went: the host's whole storage by category, with what could be reclaimed.

`disk_usage(host)` measures every byte under the host's roots once (hard links
once, mount points below a root not crossed) and attributes it:

| category | what |
|---|---|
| `image_layers` | the dirs of image layers (`overlay2/<id>/`, `snapshots/<N>/`) |
| `container_layers` | the dirs of containers' writable (rw) layers |
| `init_layers` | the dirs of containers' init layers |
| `orphans` | layer dirs that nothing references |
| `container_logs` | containers' log files (`containers/<id>/<id>-json.log*`, `local-logs/`) |
| `volumes` | `volumes/<name>/` (the data in `_data/`, and the volume's own dir) |
| `build_cache` | `buildkit/` |
| `content_store` | blobs a store keeps beside its layers (containerd's compressed layers) |
| `other` | everything else (records, `overlay2/l/`, metadata DBs, `network/` ...) |

Which path belongs to what comes from the host model (each store's reader names its
layer dirs, logs, volumes, blobs), never from a store's layout here. Each category has
apparent and allocated bytes (`footprint.py`) and `reclaimable`: the allocated bytes
that the engine's own prune or garbage collection would give back — image layers no
container uses, layers and logs of containers that are not running, volumes no
container mounts, orphans, the build cache, blobs nothing references.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from overlayscope.root.model import Host, Layer, Role, SizeRule
from overlayscope.scan import ScanProgress
from overlayscope.scan.cache import cache_for
from overlayscope.usage.df_build import Assemble, areas_of
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
from overlayscope.usage.sizes import measure_layers

if TYPE_CHECKING:
    from overlayscope.usage.copyup import CopyUps

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
    roots = _roots(host)
    allocated = host.size_rule is SizeRule.ALLOCATED
    units: dict[str, Unit] = {}
    # Lowest layers first: an inode several layers hold (legacy overlay hard-links each image
    # layer's tree from the one beneath) is counted in the first, the one that brought it.
    for layer in sorted(host.layers.values(), key=_depth_order(host)):
        if layer.has_content:
            units["layer/" + layer.id] = Unit(
                os.path.normpath(layer.content_dir),
                ROLE_CATEGORY[layer.role],
                layer.id,
                cache_key=layer.cache_key,
                weight=layer.recorded_size or 0,
                allocated=allocated,
            )
    for vol in host.volumes.values():
        if vol.data_dir is not None:
            units["volume/" + vol.name] = Unit(
                os.path.normpath(vol.data_dir), Category.VOLUMES, vol.name
            )
    tallies = measure_root(
        roots,
        units,
        areas_of(host, roots),
        top_files=top,
        cancel=cancel,
        progress=progress,
        workers=workers,
        cache=cache_for(*roots),
        overlay_xattrs=host.overlay_xattrs,
    )
    tallies.unit_sizes.update(_engine_sizes(host, cancel=cancel, progress=progress))
    found: dict[str, CopyUps] = {}
    problems = list(tallies.problems)
    if copy_ups:
        from overlayscope.usage.copyup import copy_ups_by_container  # only when asked for

        containers = [c for c in host.containers.values() if c.layer is not None]
        found, more = copy_ups_by_container(
            host, containers, top=top, cancel=cancel, progress=progress
        )
        problems.extend(more)
    return Assemble(host, roots, tallies, found).build(top, tuple(problems))


def _depth_order(host: Host) -> Callable[[Layer], tuple[int, str]]:
    """A sort key: how far down an image a layer sits (its lowest place in any image),
    layers no image holds last."""
    depth: dict[str, int] = {}
    for image in host.images.values():
        for i, il in enumerate(image.layers):
            if il.id is not None:
                depth[il.id] = min(depth.get(il.id, i), i)
    return lambda layer: (depth.get(layer.id, len(depth) + 1), layer.id)


def _engine_sizes(
    host: Host, *, cancel: threading.Event | None, progress: Progress | None
) -> dict[str, int]:
    """Layer sizes a scan of the layer's own tree cannot give: a full tree's (legacy overlay
    image layers: the recorded size), and a container layer's under `SizeRule.CHANGES`
    (what the diff adds or changes)."""
    out = {
        "layer/" + lid: layer.recorded_size
        for lid, layer in host.layers.items()
        if layer.full_tree and layer.recorded_size is not None
    }
    if host.size_rule is SizeRule.CHANGES:
        ids = [lid for lid, layer in host.layers.items() if layer.role in (Role.RW, Role.INIT)]
        sizes = measure_layers(host, ids, cancel=cancel, progress=progress)
        out.update(("layer/" + lid, size) for lid, size in sizes.items())
    return out


def _roots(host: Host) -> list[str]:
    """The host's roots, normalised, each once; a root inside another is walked with it."""
    out: list[str] = []
    for root in (os.path.normpath(r) for r in host.all_roots):
        if not any(root == o or root.startswith(o.rstrip("/") + "/") for o in out):
            out.append(root)
    return out
