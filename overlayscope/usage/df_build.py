"""Turning the raw byte counts of a data root into `DiskUsage`: attribution and reclaimability."""

from __future__ import annotations

import os
from collections import Counter

from overlayscope.root.model import Container, Host, Role
from overlayscope.usage.copyup import CopyUps
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
from overlayscope.usage.footprint import Footprint, UsageProblem
from overlayscope.usage.images import image_sizes
from overlayscope.usage.measure_root import RootTallies
from overlayscope.usage.rootwalk import Key
from overlayscope.usage.volumes import VolumeRecord

ROOT_BUCKET = "."  # the data root dir itself, in `other`
_ROLE_ORDER = {Role.IMAGE: 0, Role.RW: 1, Role.INIT: 2, Role.ORPHAN: 3}
_NONE = Footprint()


def under(root: str, *names: str) -> str:
    """`root/names...` spelled as the root walk spells paths (so skip sets match)."""
    return "/".join([root.rstrip("/"), *names]) if root != "/" else "/" + "/".join(names)


class Classifier:
    """Which category and owner a path outside the scanned trees belongs to."""

    def __init__(self, host: Host, volume_names: set[str]) -> None:
        self.layers = {lid: ROLE_CATEGORY[layer.role] for lid, layer in host.layers.items()}
        self.volumes = volume_names

    def __call__(self, parts: tuple[str, ...]) -> Key:
        if not parts:
            return (Category.OTHER, ROOT_BUCKET)
        top = parts[0]
        if len(parts) >= 2:
            if top == "overlay2" and parts[1] in self.layers:
                return (self.layers[parts[1]], parts[1])
            if top == "volumes" and parts[1] in self.volumes:
                return (Category.VOLUMES, parts[1])
            if top == "containers" and len(parts) >= 3 and _is_log(parts[1], parts[2]):
                return (Category.CONTAINER_LOGS, parts[1])
        if top == "buildkit":
            return (Category.BUILD_CACHE, top)
        return (Category.OTHER, top)


def _is_log(container_id: str, name: str) -> bool:
    # json-file: <id>-json.log, rotated <id>-json.log.1, compressed <id>-json.log.2.gz;
    # the local driver keeps its files in local-logs/.
    return name.startswith(container_id + "-json.log") or name == "local-logs"


class Assemble:
    """Everything `DiskUsage` says, computed from the host's graph and the byte counts."""

    def __init__(
        self,
        host: Host,
        root: str,
        tallies: RootTallies,
        volumes: list[VolumeRecord],
        copy_ups: dict[str, CopyUps],
    ) -> None:
        self.host = host
        self.root = root
        self.t = tallies
        self.volume_records = volumes
        self.found_copy_ups = copy_ups
        self.active = {c.id for c in host.containers.values() if c.state in ACTIVE_STATES}
        self.used_layers = self._layers_in_use()

    def _layers_in_use(self) -> set[str]:
        """Image layers some container stands on (`docker image prune -a` keeps them)."""
        used: set[str] = set()
        for c in self.host.containers.values():
            used.update(c.image_layers)
            image = self.host.images.get(c.image_id)
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
        if layer.role is Role.IMAGE:
            return lid not in self.used_layers
        if layer.role is Role.ORPHAN:
            return True
        return layer.container not in self.active

    def layers(self) -> tuple[LayerUsage, ...]:
        out = []
        for lid, layer in self.host.layers.items():
            fp = self.layer_footprint(lid)
            owners = layer.images if layer.role is Role.IMAGE else (layer.container,)
            out.append(
                LayerUsage(
                    id=lid,
                    role=layer.role,
                    size=self.t.unit_sizes.get("layer/" + lid),
                    apparent=fp.apparent,
                    allocated=fp.allocated,
                    owners=tuple(o for o in owners if o),
                    reclaimable=self._layer_reclaimable(lid),
                )
            )
        return tuple(sorted(out, key=lambda u: (_ROLE_ORDER[u.role], u.id)))

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
            active=c.id in self.active,
            layer=c.layer,
            init_layer=c.init_layer,
            size=self.t.unit_sizes.get("layer/" + c.layer) if c.layer else None,
            writable=dir_footprint(c.layer),
            init=dir_footprint(c.init_layer),
            logs=self._rest(Category.CONTAINER_LOGS, c.id),
            copy_ups=self.found_copy_ups.get(c.id),
        )

    def volumes(self) -> tuple[VolumeUsage, ...]:
        out = []
        for v in self.volume_records:
            fp = self.t.units.get("volume/" + v.name, _NONE) + self._rest(Category.VOLUMES, v.name)
            size = self.t.unit_sizes.get("volume/" + v.name)
            out.append(VolumeUsage(v.name, size, fp.apparent, fp.allocated, v.containers))
        return tuple(out)

    def images(self) -> tuple[ImageUsage, ...]:
        sizes = image_sizes(self.host)
        refs: Counter[str] = Counter()
        for image in self.host.images.values():
            if not image.intermediate:
                refs.update(layer.chain_id for layer in image.layers)
        out = []
        for image in self.host.images.values():
            allocated = unique = 0
            for il in image.layers:
                if il.id is None or il.id not in self.host.layers:
                    continue
                fp = self.layer_footprint(il.id)
                allocated += fp.allocated
                if refs[il.chain_id] <= 1:
                    unique += fp.allocated
            s = sizes[image.id]
            out.append(
                ImageUsage(
                    image.id,
                    image.tags,
                    s.size,
                    s.shared,
                    s.unique,
                    allocated,
                    unique,
                    image.containers,
                )
            )
        return tuple(sorted(out, key=lambda i: (not i.tags, i.tags, i.id)))

    def layers_size(self) -> int | None:
        """The daemon's `LayersSize`: each layer of a non-intermediate image once."""
        sizes: dict[str, int | None] = {}
        for image in self.host.images.values():
            if not image.intermediate:
                sizes.update((il.chain_id, il.size) for il in image.layers)
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
            top_files=self.t.files,
            skipped_mounts=self.t.skipped_mounts,
            problems=problems,
        )

    def _logs(self) -> dict[str, Footprint]:
        return {
            owner: fp for (cat, owner), fp in self.t.rest.items() if cat == Category.CONTAINER_LOGS
        }

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
        cache = self._rest(Category.BUILD_CACHE, "buildkit")
        present = (Category.BUILD_CACHE, "buildkit") in self.t.rest
        out.append(
            CategoryUsage(
                Category.BUILD_CACHE, cache.apparent, cache.allocated, cache.allocated, int(present)
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
        names = {c.id: c.name for c in host.containers.values()}
        tags = {i.id: i.tags for i in host.images.values()}
        items: list[Consumer] = []
        for u in layers:
            if u.role is Role.IMAGE:
                label = _label(sorted(t for o in u.owners for t in tags.get(o, ())))
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
            active = c.id in self.active
            items.append(
                Consumer("container_layer", c.id, c.name, fp.apparent, fp.allocated, not active)
            )
        for cid, fp in self._logs().items():
            items.append(
                Consumer(
                    "container_log",
                    cid,
                    names.get(cid, ""),
                    fp.apparent,
                    fp.allocated,
                    cid not in self.active,
                )
            )
        for v in volumes:
            items.append(Consumer("volume", v.name, v.name, v.apparent, v.allocated, v.reclaimable))
        if (Category.BUILD_CACHE, "buildkit") in self.t.rest:
            fp = self._rest(Category.BUILD_CACHE, "buildkit")
            items.append(
                Consumer(
                    "build_cache",
                    "buildkit",
                    os.path.join(self.root, "buildkit"),
                    fp.apparent,
                    fp.allocated,
                    True,
                )
            )
        items.sort(key=lambda i: (-i.allocated, -i.apparent, i.kind, i.id))
        return tuple(items[: max(top, 0)])


def _label(tags: list[str], shown: int = 2) -> str:
    """The tags of the images holding a layer, for a human: a few, and how many more."""
    more = len(tags) - shown
    return ", ".join(tags[:shown]) + (f" +{more}" if more > 0 else "")
