"""The answer types of `disk_usage`: categories, per-object detail, top consumers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from overlayscope.record import record
from overlayscope.root.model import Role
from overlayscope.usage.footprint import FileUsage, Footprint, UsageProblem

if TYPE_CHECKING:  # a type only: df without --containers loads no copy-up code
    from overlayscope.usage.copyup import CopyUps

# As `docker system df` counts; and "unknown": a store whose records do not say whether a
# container runs (containerd read offline) — never call what may be in use reclaimable.
ACTIVE_STATES = frozenset({"running", "paused", "restarting", "unknown"})


class Category(StrEnum):
    """Where a byte of the data root belongs; part of the JSON contract."""

    IMAGE_LAYERS = "image_layers"
    CONTAINER_LAYERS = "container_layers"
    INIT_LAYERS = "init_layers"
    ORPHANS = "orphans"
    UNRESOLVED = "unresolved_layers"
    CONTAINER_LOGS = "container_logs"
    VOLUMES = "volumes"
    BUILD_CACHE = "build_cache"
    CONTENT_STORE = "content_store"
    OTHER = "other"


ROLE_CATEGORY = {
    Role.IMAGE: Category.IMAGE_LAYERS,
    Role.RW: Category.CONTAINER_LAYERS,
    Role.INIT: Category.INIT_LAYERS,
    Role.ORPHAN: Category.ORPHANS,
    Role.UNRESOLVED: Category.UNRESOLVED,
}


@record
class CategoryUsage:
    category: Category
    apparent: int
    allocated: int
    reclaimable: int  # allocated bytes a prune would give back
    count: int  # layers, containers with logs, volumes, buckets...


@record
class LayerUsage:
    """One overlay2 dir: its `diff/` as the daemon sizes it, and the whole dir on disk."""

    id: str
    role: Role
    size: int | None  # apparent bytes of diff/ (moby directory.Size); None without diff/
    apparent: int  # the whole overlay2/<id>/ dir
    allocated: int
    owners: tuple[str, ...]  # image ids, or the container id
    reclaimable: bool
    # Why its content could not be (wholly) read, e.g. "permission denied — run as root";
    # then `size` is None: unknown, never the 0 bytes a refused look would count.
    unread: str | None = None


@record
class ImageUsage:
    id: str
    tags: tuple[str, ...]
    size: int | None  # the daemon's Size
    shared_size: int | None  # as `docker system df -v`
    unique_size: int | None
    allocated: int  # its layers' dirs on disk
    unique_allocated: int  # of those, the layers no other listed image holds
    containers: tuple[str, ...]


@record
class ContainerUsage:
    id: str
    name: str
    image: str
    state: str
    active: bool  # running, paused or restarting: `docker container prune` keeps it
    layer: str | None
    init_layer: str | None
    size: int | None  # bytes in the rw layer's diff/, = `SizeRw`
    writable: Footprint  # the rw layer's whole overlay2 dir
    init: Footprint
    logs: Footprint
    copy_ups: CopyUps | None  # only when asked for (it reads every layer of the container)


@record
class VolumeUsage:
    name: str
    size: int | None  # apparent bytes of _data/, as `docker system df -v` sizes volumes
    apparent: int  # the whole volumes/<name>/ dir
    allocated: int
    containers: tuple[str, ...] | None  # containers mounting it; None if unknown

    @property
    def reclaimable(self) -> bool:
        return self.containers == ()


@record
class BlobUsage:
    """One blob of a content store (containerd's compressed layers, manifests, configs)."""

    digest: str
    size: int | None  # the size its record gives; None for a file with no record
    apparent: int
    allocated: int
    namespaces: tuple[str, ...]  # the namespaces whose records hold it
    reclaimable: bool  # nothing keeps it: the store's garbage collector would remove it


@record
class OtherUsage:
    name: str  # first path component under the root ("." for the root dir itself)
    apparent: int
    allocated: int


@record
class Consumer:
    """One thing that can be removed as a whole, for the top consumers list."""

    kind: str  # image_layer, container_layer, container_log, volume, orphan, build_cache, blob
    id: str
    name: str
    apparent: int
    allocated: int
    reclaimable: bool


@record
class DiskUsage:
    root: str
    total: Footprint
    categories: tuple[CategoryUsage, ...]  # in Category order, every category present
    layers_size: int | None  # the daemon's `LayersSize` (system df): image layers' sizes
    images: tuple[ImageUsage, ...]
    containers: tuple[ContainerUsage, ...]
    volumes: tuple[VolumeUsage, ...]
    layers: tuple[LayerUsage, ...]
    other: tuple[OtherUsage, ...]
    top: tuple[Consumer, ...]  # the largest removable things, by allocated bytes
    top_files: tuple[FileUsage, ...]  # the largest regular files anywhere under the root
    skipped_mounts: tuple[str, ...]  # mount points below the root, not crossed
    problems: tuple[UsageProblem, ...]
    blobs: tuple[BlobUsage, ...] = ()  # the content store's blobs, largest first
    roots: tuple[str, ...] = ()  # every root measured (the first is `root`)

    @property
    def unread_layers(self) -> tuple[LayerUsage, ...]:
        """The layers whose content could not be read: their sizes are unknown."""
        return tuple(u for u in self.layers if u.unread is not None)

    def category(self, category: Category) -> CategoryUsage:
        return next(c for c in self.categories if c.category is category)
