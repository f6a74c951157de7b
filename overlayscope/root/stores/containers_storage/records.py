"""containers/storage's JSON records: layers, images, containers, and the run root's mounts.

`overlay-layers/layers.json` (id, parent, names, created, diff-digest/-size,
compressed-diff-*, uidset/gidset, flags with `incomplete`), `overlay-images/images.json`
(id = the config digest, digest, names, layer = the top layer, big-data names and sizes;
the big data itself in `overlay-images/<id>/`, a name that is not a plain file name stored
as `=` + base64 of it), `overlay-containers/containers.json` (id, names, image, layer,
metadata: a JSON string), and `overlay-layers/mountpoints.json` in the run root.
A record of the wrong shape is a problem, never an exception.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import MissingRecord, RecordError, read_bytes

_ID = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_RECORDS_BYTES = 64 * 1024 * 1024  # a store with tens of thousands of layers stays far below


@dataclass(frozen=True, slots=True)
class LayerRecord:
    id: str
    parent: str | None
    names: tuple[str, ...]
    created: str | None
    diff_digest: str | None
    diff_size: int | None
    incomplete: bool


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: str  # the config digest, hex
    digest: str | None  # the manifest digest
    names: tuple[str, ...]
    top_layer: str | None
    created: str | None
    big_data: tuple[tuple[str, int], ...]  # (name, size)


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    id: str
    names: tuple[str, ...]
    image: str
    layer: str
    created: str | None
    metadata: dict[str, Any]


@dataclass
class StoreRecords:
    root: str
    layers: dict[str, LayerRecord] = field(default_factory=dict)
    images: dict[str, ImageRecord] = field(default_factory=dict)
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    mounted: dict[str, str] = field(default_factory=dict)  # layer id → mount point (run root)
    problems: list[Problem] = field(default_factory=list)
    layers_readable: bool = True  # False: nobody can say which layer dirs are unreferenced


def read_records(root: str, run_root: str | None) -> StoreRecords:
    """Read the store's records at graph root `root` (and `run_root`'s mounts, if given)."""
    out = StoreRecords(root)
    path = os.path.join(root, "overlay-layers", "layers.json")
    items = _array(path, out)
    if items is None:
        out.layers_readable = False
    for item in items or ():
        rec = _layer(item)
        if rec is None:
            out.problems.append(Problem(ProblemKind.BAD_METADATA, path, _bad(item, "layer")))
        else:
            out.layers[rec.id] = rec
    path = os.path.join(root, "overlay-images", "images.json")
    for item in _array(path, out) or ():
        image = _image(item)
        if image is None:
            out.problems.append(Problem(ProblemKind.BAD_METADATA, path, _bad(item, "image")))
        else:
            out.images[image.id] = image
    path = os.path.join(root, "overlay-containers", "containers.json")
    for item in _array(path, out) or ():
        c = _container(item)
        if c is None:
            out.problems.append(Problem(ProblemKind.BAD_METADATA, path, _bad(item, "container")))
        else:
            out.containers[c.id] = c
    if run_root is not None:
        path = os.path.join(run_root, "overlay-layers", "mountpoints.json")
        for item in _array(path, out) or ():
            if isinstance(item, dict) and _is_id(item.get("id")):
                out.mounted[str(item["id"])] = str(item.get("path") or "")
    return out


def big_data_path(root: str, image_id: str, name: str) -> str:
    """Where containers/storage keeps an image's big-data item `name`."""
    # containers/storage's makeBigDataBaseName: kept as is only if made of [.0-9a-z].
    plain = bool(name) and all(ch == "." or "0" <= ch <= "9" or "a" <= ch <= "z" for ch in name)
    file = name if plain else "=" + base64.standard_b64encode(name.encode()).decode()
    return os.path.join(root, "overlay-images", image_id, file)


def read_json_file(path: str, problems: list[Problem], limit: int = 8 << 20) -> Any:
    """A JSON document from a record file; None (and a problem) when it cannot be read."""
    try:
        raw = read_bytes(path, limit)
    except MissingRecord:
        problems.append(Problem(ProblemKind.BAD_METADATA, path, "missing"))
        return None
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        problems.append(Problem(ProblemKind.BAD_METADATA, path, f"invalid JSON: {exc}"))
        return None


def _array(path: str, out: StoreRecords) -> list[Any] | None:
    try:
        raw = read_bytes(path, MAX_RECORDS_BYTES)
    except MissingRecord:
        return []  # a store that never had an image or container has none
    except RecordError as exc:
        out.problems.append(exc.problem)
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        out.problems.append(Problem(ProblemKind.BAD_METADATA, path, f"invalid JSON: {exc}"))
        return None
    if not isinstance(value, list):
        out.problems.append(Problem(ProblemKind.BAD_METADATA, path, "not a JSON array"))
        return None
    return value


def _layer(item: Any) -> LayerRecord | None:
    if not isinstance(item, dict) or not _is_id(item.get("id")):
        return None
    parent = item.get("parent")
    if parent is not None and not _is_id(parent):
        return None
    flags = item.get("flags")
    size = item.get("diff-size")
    digest = item.get("diff-digest")
    return LayerRecord(
        id=item["id"],
        parent=parent,
        names=_strings(item.get("names")),
        created=_str(item.get("created")),
        diff_digest=digest if isinstance(digest, str) and _DIGEST.match(digest) else None,
        diff_size=size
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0
        else None,
        incomplete=isinstance(flags, dict) and flags.get("incomplete") is True,
    )


def _image(item: Any) -> ImageRecord | None:
    if not isinstance(item, dict) or not _is_id(item.get("id")):
        return None
    top = item.get("layer")
    sizes = item.get("big-data-sizes")
    big: list[tuple[str, int]] = []
    if isinstance(sizes, dict):
        big = [
            (k, v)
            for k, v in sizes.items()
            if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        ]
    digest = item.get("digest")
    return ImageRecord(
        id=item["id"],
        digest=digest if isinstance(digest, str) and _DIGEST.match(digest) else None,
        names=_strings(item.get("names")),
        top_layer=top if _is_id(top) else None,
        created=_str(item.get("created")),
        big_data=tuple(sorted(big)),
    )


def _container(item: Any) -> ContainerRecord | None:
    if not isinstance(item, dict) or not _is_id(item.get("id")) or not _is_id(item.get("layer")):
        return None
    meta: dict[str, Any] = {}
    raw = item.get("metadata")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            parsed = None
        meta = parsed if isinstance(parsed, dict) else {}
    image = item.get("image")
    return ContainerRecord(
        id=item["id"],
        names=_strings(item.get("names")),
        image=image if isinstance(image, str) else "",
        layer=item["layer"],
        created=_str(item.get("created")),
        metadata=meta,
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bad(item: Any, what: str) -> str:
    ident = item.get("id") if isinstance(item, dict) else None
    shown = repr(ident)[:80] if ident is not None else f"a {type(item).__name__}"
    return f"{what} record {shown} is not what containers/storage writes; skipped"
