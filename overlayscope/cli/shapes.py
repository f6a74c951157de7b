"""The JSON shapes of the inventory commands; a documented, versioned contract (docs/json.md)."""

from __future__ import annotations

from typing import Any

from overlayscope.root.model import Container, Host, Image, Layer, Role
from overlayscope.root.problems import Problem
from overlayscope.usage.images import ImageSizes


def problem(p: Problem) -> dict[str, Any]:
    return {"kind": str(p.kind), "path": p.path, "detail": p.detail}


def container(c: Container, size: int | None, root_fs: int | None = None) -> dict[str, Any]:
    k8s = c.kubernetes
    return {
        "id": c.id,
        "name": c.name,
        "image": c.image_id,
        "state": c.state,
        "layer": c.layer,
        "init_layer": c.init_layer,
        "size": size,
        "size_root_fs": root_fs,
        "store": str(c.store),
        "namespace": c.namespace,
        "image_ref": c.image_ref,
        "kubernetes": (
            None
            if k8s is None
            else {
                "pod": k8s.pod,
                "pod_namespace": k8s.pod_namespace,
                "container": k8s.container,
                "sandbox": k8s.sandbox,
            }
        ),
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
        "containers": [_container_id(host, key) for key in i.containers],
        "store": str(i.store),
        "namespace": i.namespace,
    }


def _container_id(host: Host, key: str) -> str:
    found = host.containers.get(key)
    return found.id if found is not None else key


def owners(host: Host, layer: Layer) -> list[str]:
    """The ids (not keys) of the images or the container using a layer."""
    if layer.role is Role.IMAGE:
        return [_image_id(host, key) for key in layer.images]
    return [_container_id(host, layer.container)] if layer.container else []


def _image_id(host: Host, key: str) -> str:
    found = host.images.get(key)
    return found.id if found is not None else key


def layer(host: Host, layer: Layer, size: int | None) -> dict[str, Any]:
    return {
        "id": layer.id,
        "link": layer.link,
        "lower": list(layer.lower),
        "role": str(layer.role),
        "owners": owners(host, layer),
        "size": size,
        "problems": [problem(p) for p in layer.problems],
        "store": str(layer.store),
        "path": layer.content_dir,
        "key": layer.key,
        "namespace": layer.namespace,
        "collectable": layer.collectable,
        "unresolved": layer.unresolved,
    }


def orphan(layer: Layer, size: int | None) -> dict[str, Any]:
    return {"id": layer.id, "path": layer.path, "size": size, "store": str(layer.store)}
