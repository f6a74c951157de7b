"""Turning the raw byte counts of a data root into `DiskUsage`: attribution and reclaimability."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from overlayscope.root.model import Container, Host, Role
from overlayscope.root.problems import PERMISSION_DETAIL, ProblemKind
from overlayscope.usage.df_model import (
    ACTIVE_STATES,
    ROLE_CATEGORY,
    BlobUsage,
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
from overlayscope.usage.footprint import Footprint, UsageProblem
from overlayscope.usage.images import image_sizes, layer_ref, layer_refs
from overlayscope.usage.measure_root import RootTallies
from overlayscope.usage.rootwalk import Areas, Key

if TYPE_CHECKING:
    from overlayscope.usage.copyup import CopyUps

_ROLE_ORDER = {Role.IMAGE: 0, Role.RW: 1, Role.INIT: 2, Role.ORPHAN: 3, Role.UNRESOLVED: 4}
_NONE = Footprint()


def areas_of(host: Host, roots: list[str]) -> Areas:
    """Where each layer dir, volume, log, build cache and blob of `host` lies, as keys."""
    areas: dict[str, Key] = {}
    for lid, layer in host.layers.items():
        areas[os.path.normpath(layer.path)] = (ROLE_CATEGORY[layer.role], lid)
    for vol in host.volumes.values():
        areas[os.path.normpath(vol.path)] = (Category.VOLUMES, vol.name)
    for c in host.containers.values():
        for log in c.logs:
            areas[os.path.normpath(log)] = (Category.CONTAINER_LOGS, c.key)
    for path in host.build_cache:
        areas[os.path.normpath(path)] = (Category.BUILD_CACHE, os.path.basename(path))
    for blob in host.blobs.values():
        areas[os.path.normpath(blob.path)] = (Category.CONTENT_STORE, blob.digest)
    for path, holder in host.elsewhere.items():
        areas[os.path.normpath(path)] = (Category.OTHER, holder)
    return Areas(roots, areas, Category.OTHER)


def unread_layers(host: Host, problems: tuple[UsageProblem, ...]) -> dict[str, str]:
    """Why each layer whose content could not be wholly read was not, by layer id: a
    refused look at its dir (the reader's problem) or at a path in its content dir."""
    out: dict[str, str] = {}
    tops: dict[str, str] = {}
    for lid, layer in host.layers.items():
        denied = [p for p in layer.problems if p.kind is ProblemKind.PERMISSION_DENIED]
        if denied:
            out[lid] = denied[0].detail
        elif layer.has_content:
            tops[os.path.normpath(layer.content_dir)] = lid
    for p in problems:
        if p.kind == "vanished":
            continue  # gone while measured: not unread
        path = p.path
        while path not in tops and path != os.path.dirname(path):
            path = os.path.dirname(path)  # up to the layer's content dir, if in one
        if path in tops and tops[path] not in out:
            out[tops[path]] = PERMISSION_DETAIL if p.kind == "permission" else p.detail
    return out


class Assemble:
    """Everything `DiskUsage` says, computed from the host's graph and the byte counts."""

    def __init__(
        self,
        host: Host,
        roots: list[str],
        tallies: RootTallies,
        copy_ups: dict[str, CopyUps],
    ) -> None:
        self.host = host
        self.roots = roots
        self.root = roots[0]
        self.t = tallies
        self.found_copy_ups = copy_ups
        self.active = {c.key for c in host.containers.values() if c.state in ACTIVE_STATES}
        self.used_layers = self._layers_in_use()
        self.unread = unread_layers(host, tallies.problems)

    def _layers_in_use(self) -> set[str]:
        """Image layers some container stands on (`docker image prune -a` keeps them)."""
        used: set[str] = set()
        for c in self.host.containers.values():
            used.update(c.image_layers)
            image = self.host.image_of(c)
            if image is not None:
                used.update(image.stack())
        return used

    def _rest(self, category: Category, owner: str) -> Footprint:
        return self.t.rest.get((category, owner), _NONE)

    def layer_footprint(self, lid: str) -> Footprint:
        layer = self.host.layers[lid]
        return self.t.units.get("layer/" + lid, _NONE) + self._rest(ROLE_CATEGORY[layer.role], lid)

    def _layer_reclaimable(self, lid: str) -> bool:
        layer = self.host.layers[lid]
        if layer.role is Role.UNRESOLVED:
            return False  # maybe in use: nothing says it is not
        if layer.role is Role.ORPHAN or layer.collectable:
            return True
        if not self.host.owners_known:
            return False  # its users' records are damaged: it may be in use
        if layer.role is Role.IMAGE:
            return lid not in self.used_layers
        return layer.container not in self.active

    def layers(self) -> tuple[LayerUsage, ...]:
        out = []
        for lid, layer in self.host.layers.items():
            fp = self.layer_footprint(lid)
            owners = self._owner_ids(
                layer.images if layer.role is Role.IMAGE else (layer.container,)
            )
            out.append(
                LayerUsage(
                    id=lid,
                    role=layer.role,
                    size=None if lid in self.unread else self.t.unit_sizes.get("layer/" + lid),
                    unread=self.unread.get(lid),
                    apparent=fp.apparent,
                    allocated=fp.allocated,
                    owners=tuple(o for o in owners if o),
                    reclaimable=self._layer_reclaimable(lid),
                )
            )
        return tuple(sorted(out, key=lambda u: (_ROLE_ORDER[u.role], u.id)))

    def _owner_ids(self, keys: tuple[str | None, ...]) -> tuple[str, ...]:
        """The ids of the images or container (given by key) that own a layer."""
        out = []
        for key in keys:
            if key is None:
                continue
            found = self.host.images.get(key) or self.host.containers.get(key)
            out.append(found.id if found is not None else key)
        return tuple(out)

    def containers(self) -> tuple[ContainerUsage, ...]:
        out = [self._container(c) for c in self.host.containers.values()]
        return tuple(sorted(out, key=lambda c: (c.name, c.id)))

    def _container(self, c: Container) -> ContainerUsage:
        def dir_footprint(lid: str | None) -> Footprint:
            return self.layer_footprint(lid) if lid in self.host.layers else _NONE

        return ContainerUsage(
            id=c.id,
            name=c.name,
            image=c.image_id,
            state=c.state,
            active=c.key in self.active,
            layer=c.layer,
            init_layer=c.init_layer,
            size=(
                self.t.unit_sizes.get("layer/" + c.layer)
                if c.layer and c.layer not in self.unread
                else None
            ),
            writable=dir_footprint(c.layer),
            init=dir_footprint(c.init_layer),
            logs=self._rest(Category.CONTAINER_LOGS, c.key),
            copy_ups=self.found_copy_ups.get(c.key),
        )

    def volumes(self) -> tuple[VolumeUsage, ...]:
        out = []
        for v in self.host.volumes.values():
            fp = self.t.units.get("volume/" + v.name, _NONE) + self._rest(Category.VOLUMES, v.name)
            size = self.t.unit_sizes.get("volume/" + v.name)
            out.append(VolumeUsage(v.name, size, fp.apparent, fp.allocated, v.containers))
        return tuple(out)

    def images(self) -> tuple[ImageUsage, ...]:
        sizes = image_sizes(self.host)
        refs = layer_refs(self.host)
        out = []
        for image in self.host.images.values():
            allocated = unique = 0
            for il in image.layers:
                if il.id is None or il.id not in self.host.layers:
                    continue
                fp = self.layer_footprint(il.id)
                allocated += fp.allocated
                if refs[layer_ref(image, il)] <= 1:
                    unique += fp.allocated
            s = sizes[image.key]
            out.append(
                ImageUsage(
                    image.id,
                    image.tags,
                    s.size,
                    s.shared,
                    s.unique,
                    allocated,
                    unique,
                    self._owner_ids(image.containers),
                )
            )
        return tuple(sorted(out, key=lambda i: (not i.tags, i.tags, i.id)))

    def layers_size(self) -> int | None:
        """The daemon's `LayersSize`: each layer of a non-intermediate image once."""
        sizes: dict[str, int | None] = {}
        for image in self.host.images.values():
            if not image.intermediate:
                sizes.update((layer_ref(image, il), il.size) for il in image.layers)
        if any(s is None for s in sizes.values()):
            return None
        return sum(s for s in sizes.values() if s is not None)

    def build(self, top: int, problems: tuple[UsageProblem, ...]) -> DiskUsage:
        layers = self.layers()
        containers = self.containers()
        volumes = self.volumes()
        other = tuple(
            sorted(
                (
                    OtherUsage(owner, fp.apparent, fp.allocated)
                    for (cat, owner), fp in self.t.rest.items()
                    if cat == Category.OTHER
                ),
                key=lambda o: (-o.allocated, o.name),
            )
        )
        categories = self._categories(layers, volumes, other)
        total = Footprint(sum(c.apparent for c in categories), sum(c.allocated for c in categories))
        return DiskUsage(
            root=self.root,
            total=total,
            categories=categories,
            layers_size=self.layers_size(),
            images=self.images(),
            containers=containers,
            volumes=volumes,
            layers=layers,
            other=other,
            top=self._top(layers, volumes, top),
            blobs=self.blobs(),
            roots=tuple(self.roots),
            top_files=self.t.files,
            skipped_mounts=self.t.skipped_mounts,
            problems=problems,
        )

    def _in(self, category: Category) -> dict[str, Footprint]:
        """Owner → footprint of the walked paths attributed to `category`."""
        return {owner: fp for (cat, owner), fp in self.t.rest.items() if cat == category}

    def _logs(self) -> dict[str, Footprint]:
        return self._in(Category.CONTAINER_LOGS)

    def blobs(self) -> tuple[BlobUsage, ...]:
        """The content store's blobs, largest first, each once."""
        by_digest = {b.digest: b for b in self.host.blobs.values()}
        out = []
        for digest, fp in self._in(Category.CONTENT_STORE).items():
            blob = by_digest.get(digest)
            out.append(
                BlobUsage(
                    digest,
                    blob.size if blob else None,
                    fp.apparent,
                    fp.allocated,
                    blob.namespaces if blob else (),
                    blob is not None and blob.collectable,
                )
            )
        return tuple(sorted(out, key=lambda b: (-b.allocated, b.digest)))

    def _categories(
        self,
        layers: tuple[LayerUsage, ...],
        volumes: tuple[VolumeUsage, ...],
        other: tuple[OtherUsage, ...],
    ) -> tuple[CategoryUsage, ...]:
        out = []
        for role, category in ROLE_CATEGORY.items():
            mine = [u for u in layers if u.role is role]
            out.append(
                CategoryUsage(
                    category,
                    sum(u.apparent for u in mine),
                    sum(u.allocated for u in mine),
                    sum(u.allocated for u in mine if u.reclaimable),
                    len(mine),
                )
            )
        logs = self._logs()
        out.append(
            CategoryUsage(
                Category.CONTAINER_LOGS,
                sum(fp.apparent for fp in logs.values()),
                sum(fp.allocated for fp in logs.values()),
                sum(fp.allocated for cid, fp in logs.items() if cid not in self.active),
                len(logs),
            )
        )
        out.append(
            CategoryUsage(
                Category.VOLUMES,
                sum(v.apparent for v in volumes),
                sum(v.allocated for v in volumes),
                sum(v.allocated for v in volumes if v.reclaimable),
                len(volumes),
            )
        )
        caches = self._in(Category.BUILD_CACHE)
        out.append(
            CategoryUsage(
                Category.BUILD_CACHE,
                sum(fp.apparent for fp in caches.values()),
                sum(fp.allocated for fp in caches.values()),
                sum(fp.allocated for fp in caches.values()),
                len(caches),
            )
        )
        blobs = self.blobs()
        out.append(
            CategoryUsage(
                Category.CONTENT_STORE,
                sum(b.apparent for b in blobs),
                sum(b.allocated for b in blobs),
                sum(b.allocated for b in blobs if b.reclaimable),
                len(blobs),
            )
        )
        out.append(
            CategoryUsage(
                Category.OTHER,
                sum(o.apparent for o in other),
                sum(o.allocated for o in other),
                0,
                len(other),
            )
        )
        order = list(Category)
        return tuple(sorted(out, key=lambda c: order.index(c.category)))

    def _top(
        self, layers: tuple[LayerUsage, ...], volumes: tuple[VolumeUsage, ...], top: int
    ) -> tuple[Consumer, ...]:
        host = self.host
        tags = {i.key: i.tags for i in host.images.values()}
        items: list[Consumer] = []
        for u in layers:
            if u.role is Role.IMAGE:
                keys = host.layers[u.id].images
                label = _label(sorted(t for o in keys for t in tags.get(o, ())))
                items.append(
                    Consumer("image_layer", u.id, label, u.apparent, u.allocated, u.reclaimable)
                )
            elif u.role is Role.ORPHAN:
                items.append(Consumer("orphan", u.id, "", u.apparent, u.allocated, True))
        for c in host.containers.values():
            fp = _NONE
            for lid in (c.layer, c.init_layer):
                if lid in host.layers:
                    fp = fp + self.layer_footprint(lid)
            active = c.key in self.active
            items.append(
                Consumer("container_layer", c.id, c.name, fp.apparent, fp.allocated, not active)
            )
        for key, fp in self._logs().items():
            owner = host.containers.get(key)
            items.append(
                Consumer(
                    "container_log",
                    owner.id if owner else key,
                    owner.name if owner else "",
                    fp.apparent,
                    fp.allocated,
                    key not in self.active,
                )
            )
        for v in volumes:
            items.append(Consumer("volume", v.name, v.name, v.apparent, v.allocated, v.reclaimable))
        paths = {os.path.basename(p): p for p in host.build_cache}
        for cache, fp in self._in(Category.BUILD_CACHE).items():
            where = paths.get(cache, cache)
            items.append(Consumer("build_cache", cache, where, fp.apparent, fp.allocated, True))
        for b in self.blobs():
            if b.reclaimable:
                items.append(Consumer("blob", b.digest, "", b.apparent, b.allocated, True))
        items.sort(key=lambda i: (-i.allocated, -i.apparent, i.kind, i.id))
        return tuple(items[: max(top, 0)])


def _label(tags: list[str], shown: int = 2) -> str:
    """The tags of the images holding a layer, for a human: a few, and how many more."""
    more = len(tags) - shown
    return ", ".join(tags[:shown]) + (f" +{more}" if more > 0 else "")
