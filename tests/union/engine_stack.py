"""A container's layer stack read from the private engine, for the engine tests."""

from __future__ import annotations

from pathlib import Path

from overlayscope.scan import scan_tree
from overlayscope.union import LayerStack, StackLayer
from tests.engine import PrivateEngine


def container_stack(engine: PrivateEngine, container: str) -> LayerStack:
    """The container's layers, top → bottom, from `docker inspect`'s GraphDriver.Data, scanned."""
    [inspected] = engine.inspect(container)
    data = inspected["GraphDriver"]["Data"]
    layers = [StackLayer(_layer_id(data["UpperDir"]), "rw", scan_tree(data["UpperDir"]))]
    for lower in data["LowerDir"].split(":"):
        layer_id = _layer_id(lower)
        role = "init" if layer_id.endswith("-init") else "image"
        layers.append(StackLayer(layer_id, role, scan_tree(lower)))
    return LayerStack(tuple(layers))


def _layer_id(content_dir: str) -> str:
    return Path(content_dir).parent.name
