"""The JSON shapes of the inventory commands; a documented, versioned contract (docs/json.md)."""

from __future__ import annotations

from typing import Any

from overlayscope.root.model import Container, Host, Image, Layer, Role
from overlayscope.root.problems import Problem
from overlayscope.usage.images import ImageSizes


def problem(p: Problem) -> dict[str, Any]:
    return {"kind": str(p.kind), "path": p.path, "detail": p.detail}


def container(c: Container, size: int | None) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "image": c.image_id,
        "state": c.state,
        "layer": c.layer,
        "init_layer": c.init_layer,
        "size": size,
    }


def image(host: Host, i: Image, sizes: ImageSizes) -> dict[str, Any]:
    return {
        "id": i.id,
        "tags": list(i.tags),
        "dangling": i.dangling,
        "intermediate": i.intermediate,
        "layers": [
            {
                "id": layer.id,
                "diff_id": layer.diff_id,
                "chain_id": layer.chain_id,
                "size": layer.size,
                "created_by": layer.created_by,
            }
            for layer in i.layers
        ],
        "size": sizes.size,
        "shared_size": sizes.shared,
        "unique_size": sizes.unique,
        "containers": list(i.containers),
    }


def owners(layer: Layer) -> list[str]:
    if layer.role is Role.IMAGE:
        return list(layer.images)
    return [layer.container] if layer.container else []


def layer(layer: Layer, size: int | None) -> dict[str, Any]:
    return {
        "id": layer.id,
        "link": layer.link,
        "lower": list(layer.lower),
        "role": str(layer.role),
        "owners": owners(layer),
        "size": size,
        "problems": [problem(p) for p in layer.problems],
    }


def orphan(layer: Layer, size: int | None) -> dict[str, Any]:
    return {"id": layer.id, "path": layer.path, "size": size}
