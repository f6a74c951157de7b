"""The assembled graph of one Docker host: layers with roles, images, containers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum

from overlayscope.root.problems import Problem


class Role(StrEnum):
    """What an overlay2 dir is for; part of the JSON contract."""

    IMAGE = "image"  # an image layer (layerdb cache-id)
    RW = "rw"  # a container's writable layer (layerdb mount-id)
    INIT = "init"  # a container's init layer (layerdb init-id)
    ORPHAN = "orphan"  # referenced by no layerdb record and no mount


@dataclass(frozen=True, slots=True)
class Layer:
    """One overlay2 dir with the role the rest of the host gives it."""

    id: str
    path: str
    link: str | None
    lower: tuple[str, ...]  # overlay2 dir ids beneath it, top → bottom, from `lower`
    role: Role
    chain_ids: tuple[str, ...] = ()  # image layers: the layerdb records using this dir
    diff_id: str | None = None
    images: tuple[str, ...] = ()  # image ids whose rootfs includes this layer
    container: str | None = None  # rw / init layers: the owning container id
    recorded_size: int | None = None  # image layers: layerdb `size`, what the daemon reports
    has_diff: bool = True
    committed: bool = False
    merged: bool = False
    problems: tuple[Problem, ...] = ()

    @property
    def diff_dir(self) -> str:
        return os.path.join(self.path, "diff")


@dataclass(frozen=True, slots=True)
class ImageLayer:
    """One layer of an image's rootfs."""

    id: str | None  # overlay2 dir id; None when the layerdb record is missing
    chain_id: str
    diff_id: str
    size: int | None
    created_by: str


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    dangling: bool  # untagged and nobody's parent
    intermediate: bool  # untagged and the parent of another image (a build step)
    parent: str | None
    created: str | None
    layers: tuple[ImageLayer, ...]  # bottom → top
    containers: tuple[str, ...]

    @property
    def size(self) -> int | None:
        """The daemon's image Size: the sum of its layers' recorded sizes."""
        sizes = [layer.size for layer in self.layers]
        if any(s is None for s in sizes):
            return None
        return sum(s for s in sizes if s is not None)

    @property
    def top_chain_id(self) -> str | None:
        return self.layers[-1].chain_id if self.layers else None

    def stack(self) -> list[str]:
        """overlay2 dir ids, top → bottom."""
        return [layer.id for layer in reversed(self.layers) if layer.id is not None]


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    name: str
    image_id: str
    state: str
    created: str | None
    started_at: str | None
    finished_at: str | None
    layer: str | None  # rw overlay2 dir id
    init_layer: str | None
    image_chain_id: str | None  # layerdb mount `parent`
    image_layers: tuple[str, ...]  # overlay2 dir ids of the image, top → bottom
    log_path: str | None
    path: str  # containers/<id>

    def stack(self) -> list[str]:
        """overlay2 dir ids, top → bottom: rw, init, then the image's layers."""
        top = [d for d in (self.layer, self.init_layer) if d is not None]
        return top + list(self.image_layers)


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What a reachable daemon for the same data root says."""

    host: str
    root_dir: str
    driver: str
    server_version: str


@dataclass
class Host:
    """Everything known about one data root."""

    root: str
    driver: str
    layers: dict[str, Layer] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    daemon: DaemonInfo | None = None

    @property
    def orphans(self) -> list[Layer]:
        return [layer for layer in self.layers.values() if layer.role is Role.ORPHAN]

    def role_of(self, layer_id: str) -> Role | None:
        layer = self.layers.get(layer_id)
        return layer.role if layer else None
