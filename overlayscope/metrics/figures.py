"""A host's figures, measured once: the numbers every metric series is made of.

Plain data, from the library alone (`disk_usage` for bytes on disk and per container,
`image_sizes` through it for images, the host model for names, labels and problems): no
new way of measuring, and nothing here imports prometheus_client. `measure` is what one
scan of `overlayscope metrics` or of the exporter's background thread does.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from overlayscope.metrics.filesystems import Filesystem, filesystem_of
from overlayscope.record import record
from overlayscope.root.model import Container, Host, Role
from overlayscope.scan import ScanProgress
from overlayscope.usage.df import ContainerUsage, DiskUsage, disk_usage
from overlayscope.usage.footprint import Footprint
from overlayscope.usage.images import image_sizes

Progress = Callable[[ScanProgress], None]


@record
class ContainerFigures:
    id: str
    name: str
    image: str  # the image's first tag, else the name it was created from, else its id
    store: str
    namespace: str  # containerd's namespace; "" elsewhere
    pod: str  # Kubernetes (the CRI plugin's labels); "" elsewhere
    pod_namespace: str
    container: str  # its name in the pod spec; "" for a sandbox and off Kubernetes
    state: str
    writable_bytes: int | None  # = `containers --json` size (SizeRw); None without a rw layer
    copy_up_bytes: int | None  # None when copy-ups were not measured
    metadata_only_copy_up_bytes: int | None
    log_bytes: int  # allocated bytes of its log files
    disk_bytes: int  # allocated bytes of its rw and init layer dirs and logs (its rank)


@record
class ImageFigures:
    id: str
    name: str  # its first tag, "" for an untagged image
    store: str
    namespace: str
    size: int | None  # the engine's image size
    shared_bytes: int | None  # `docker system df -v` SharedSize
    unique_bytes: int | None  # size - shared


@record
class CategoryFigures:
    name: str  # df's category (`image_layers`, `orphans`...)
    apparent: int
    allocated: int
    reclaimable: int
    count: int


@record
class Figures:
    """Everything one scan of a host found, for every series of docs/metrics.md."""

    root: str  # the root as named, absolute
    store: str
    driver: str
    engine: str
    engine_version: str  # the live daemon's, when one was consulted; "" offline
    filesystems: tuple[Filesystem, ...]  # the mount of each dir measured
    categories: tuple[CategoryFigures, ...]
    image_layers_shared: Footprint  # image layer dirs two or more listed images hold
    image_layers_unique: Footprint  # the other image layer dirs
    containers: tuple[ContainerFigures, ...]
    images: tuple[ImageFigures, ...]  # the images `docker images` lists (no intermediate)
    orphans: int
    orphan_bytes: int  # their content dirs as the engine counts them (= `orphans --json`)
    problems: Mapping[str, int]  # the store's problems by kind (= `check`)
    unreadable: Mapping[str, int]  # paths the walk could not read, by df's kind
    container_states: Mapping[str, int]
    copy_ups: bool  # copy-ups were measured
    finished: float  # Unix time the scan ended
    duration: float  # seconds it took, opening the host included


def measure(
    open_host: Callable[[], Host],
    *,
    copy_ups: bool = True,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Figures:
    """Open the host and measure it once (`disk_usage`, with copy-ups when asked).

    Raises what opening the host or `disk_usage` raise (`OverlayscopeError`, `Cancelled`).
    """
    started = time.monotonic()
    host = open_host()
    du = disk_usage(host, top=0, copy_ups=copy_ups, cancel=cancel, progress=progress)
    return figures_of(host, du, copy_ups=copy_ups, duration=time.monotonic() - started)


def figures_of(host: Host, du: DiskUsage, *, copy_ups: bool, duration: float) -> Figures:
    """The figures of a host and its measured disk usage."""
    orphans = [u for u in du.layers if u.role is Role.ORPHAN]
    shared, unique = _image_layers(host, du)
    return Figures(
        root=os.path.abspath(host.root),
        store=str(host.store),
        driver=host.driver,
        engine=host.engine,
        engine_version=host.daemon.server_version if host.daemon is not None else "",
        filesystems=tuple(filesystem_of(os.path.abspath(r)) for r in (du.roots or (du.root,))),
        categories=tuple(
            CategoryFigures(str(c.category), c.apparent, c.allocated, c.reclaimable, c.count)
            for c in du.categories
        ),
        image_layers_shared=shared,
        image_layers_unique=unique,
        containers=_containers(host, du),
        images=_images(host),
        orphans=len(orphans),
        orphan_bytes=sum(u.size or 0 for u in orphans),
        problems=dict(Counter(str(p.kind) for p in host.problems)),
        unreadable=dict(Counter(p.kind for p in du.problems)),
        container_states=dict(Counter(c.state for c in host.containers.values())),
        copy_ups=copy_ups,
        finished=time.time(),
        duration=duration,
    )


def _image_layers(host: Host, du: DiskUsage) -> tuple[Footprint, Footprint]:
    """Image layer dirs held by two or more of the images `docker images` lists (shared, as
    `docker system df -v` counts), and the rest (unique)."""
    shared = unique = Footprint()
    for u in du.layers:
        if u.role is not Role.IMAGE:
            continue
        layer = host.layers.get(u.id)
        holders = layer.images if layer is not None else ()
        listed = sum(1 for key in holders if (i := host.images.get(key)) and not i.intermediate)
        if listed > 1:
            shared += Footprint(u.apparent, u.allocated)
        else:
            unique += Footprint(u.apparent, u.allocated)
    return shared, unique


def _containers(host: Host, du: DiskUsage) -> tuple[ContainerFigures, ...]:
    usage = {(c.id, c.layer): c for c in du.containers}
    out = []
    for c in host.containers.values():
        u = usage.get((c.id, c.layer))
        if u is not None:
            out.append(_container(host, c, u))
    return tuple(sorted(out, key=lambda f: (f.namespace, f.name, f.id)))


def _container(host: Host, c: Container, u: ContainerUsage) -> ContainerFigures:
    image = host.image_of(c)
    k8s = c.kubernetes
    ups = u.copy_ups
    return ContainerFigures(
        id=c.id,
        name=c.name,
        image=(image.tags[0] if image is not None and image.tags else c.image_ref or c.image_id),
        store=str(c.store),
        namespace=c.namespace or "",
        pod=k8s.pod if k8s else "",
        pod_namespace=k8s.pod_namespace if k8s else "",
        container=k8s.container if k8s else "",
        state=c.state,
        writable_bytes=u.size,
        copy_up_bytes=ups.copied_up_bytes if ups is not None else None,
        metadata_only_copy_up_bytes=ups.metadata_only_bytes if ups is not None else None,
        log_bytes=u.logs.allocated,
        disk_bytes=u.writable.allocated + u.init.allocated + u.logs.allocated,
    )


def _images(host: Host) -> tuple[ImageFigures, ...]:
    sizes = image_sizes(host)
    out = []
    for image in host.images.values():
        if image.intermediate:
            continue
        s = sizes[image.key]
        out.append(
            ImageFigures(
                id=image.id,
                name=image.tags[0] if image.tags else "",
                store=str(image.store),
                namespace=image.namespace or "",
                size=s.size,
                shared_bytes=s.shared,
                unique_bytes=s.unique,
            )
        )
    return tuple(sorted(out, key=lambda f: (f.namespace, f.name, f.id)))
