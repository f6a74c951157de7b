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
from collections.abc import Callable
from typing import Any, TypeVar

from overlayscope.record import field, record
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import MissingRecord, RecordError, read_bytes

_ID = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_RECORDS_BYTES = 64 * 1024 * 1024  # a store with tens of thousands of layers stays far below


@record
class LayerRecord:
    id: str
    parent: str | None
    names: tuple[str, ...]
    created: str | None
    diff_digest: str | None
    diff_size: int | None
    incomplete: bool


@record
class ImageRecord:
    id: str  # the config digest, hex
    digest: str | None  # the manifest digest
    names: tuple[str, ...]
    top_layer: str | None
    created: str | None
    big_data: tuple[tuple[str, int], ...] | None  # (name, size); None: sizes unreadable


@record
class ContainerRecord:
    id: str
    names: tuple[str, ...]
    image: str
    layer: str
    created: str | None
    metadata: dict[str, Any]


@record(frozen=False, slots=False)
class StoreRecords:
    root: str
    layers: dict[str, LayerRecord] = field(default_factory=dict)
    images: dict[str, ImageRecord] = field(default_factory=dict)
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    mounted: dict[str, str] = field(default_factory=dict)  # layer id → mount point (run root)
    problems: list[Problem] = field(default_factory=list)
    layers_readable: bool = True  # False: nobody can say which layer dirs are unreferenced
    # Every image / container record was read: "no image (container) uses it" can be said.
    images_complete: bool = True
    containers_complete: bool = True
    # Ids of records skipped for their shape (wrongly typed fields): their dirs are not
    # unreferenced, only unreadable. Layer ids, and the layers other records name.
    malformed_layers: set[str] = field(default_factory=set)
    named_layers: set[str] = field(default_factory=set)


def read_records(root: str, run_root: str | None) -> StoreRecords:
    """Read the store's records at graph root `root` (and `run_root`'s mounts, if given)."""
    out = StoreRecords(root)
    path = os.path.join(root, "overlay-layers", "layers.json")
    items = _array(path, out)
    out.layers_readable = items is not None
    layers, _ = _parse(items, _layer, _LAYER_FIELDS, "layer", path, out.problems)
    for item, layer in layers:
        if layer is None:
            out.malformed_layers.update(_ids_in(item, ("id", "parent")))
        else:
            out.layers[layer.id] = layer
    path = os.path.join(root, "overlay-images", "images.json")
    items = _array(path, out)
    images, clean = _parse(items, _image, _IMAGE_FIELDS, "image", path, out.problems)
    out.images_complete = items is not None and clean
    for item, image in images:
        out.named_layers.update(_ids_in(item, ("layer",)))
        if image is not None:
            out.images[image.id] = image
    path = os.path.join(root, "overlay-containers", "containers.json")
    items = _array(path, out)
    containers, clean = _parse(
        items, _container, _CONTAINER_FIELDS, "container", path, out.problems
    )
    out.containers_complete = items is not None and clean
    for item, c in containers:
        out.named_layers.update(_ids_in(item, ("layer",)))
        if c is not None:
            out.containers[c.id] = c
    if run_root is not None:
        path = os.path.join(run_root, "overlay-layers", "mountpoints.json")
        for item in _array(path, out) or ():
            if isinstance(item, dict) and _is_id(item.get("id")):
                out.mounted[str(item["id"])] = str(item.get("path") or "")
    return out


_R = TypeVar("_R")


def _parse(
    items: list[Any] | None,
    parse: Callable[[Any], _R | None],
    fields: dict[str, Callable[[Any], bool]],
    what: str,
    path: str,
    problems: list[Problem],
) -> tuple[list[tuple[Any, _R | None]], bool]:
    """Each record with what `parse` made of it (None: skipped), and whether every one was
    as containers/storage writes it. A record skipped, or with fields of another shape
    (read as absent), is a problem."""
    out: list[tuple[Any, _R | None]] = []
    clean = True
    for item in items or ():
        parsed = parse(item)
        wrong = (
            [k for k, ok in fields.items() if item.get(k) is not None and not ok(item[k])]
            if isinstance(item, dict)
            else []
        )
        if parsed is None:
            detail = _bad(item, what) + (f" (wrongly typed: {', '.join(wrong)})" if wrong else "")
            problems.append(Problem(ProblemKind.BAD_METADATA, path, detail))
        elif wrong:
            detail = (
                f"{what} record {repr(item.get('id'))[:80]}: wrongly typed "
                f"{', '.join(wrong)}, read as absent"
            )
            problems.append(Problem(ProblemKind.BAD_METADATA, path, detail))
        clean = clean and parsed is not None and not wrong
        out.append((item, parsed))
    return out, clean


def big_data_path(root: str, image_id: str, name: str) -> str:
    """Where containers/storage keeps an image's big-data item `name`."""
    # containers/storage's makeBigDataBaseName: kept as is only if made of [.0-9a-z].
    plain = bool(name) and all(ch == "." or "0" <= ch <= "9" or "a" <= ch <= "z" for ch in name)
    file = name if plain else "=" + base64.standard_b64encode(name.encode()).decode()
    return os.path.join(root, "overlay-images", image_id, file)


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
    big: tuple[tuple[str, int], ...] | None = ()
    if isinstance(sizes, dict) and _is_sizes(sizes):
        big = tuple(sorted(sizes.items()))
    elif sizes is not None:
        big = None
    digest = item.get("digest")
    return ImageRecord(
        id=item["id"],
        digest=digest if isinstance(digest, str) and _DIGEST.match(digest) else None,
        names=_strings(item.get("names")),
        top_layer=top if _is_id(top) else None,
        created=_str(item.get("created")),
        big_data=big,
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


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_sizes(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and _is_size(v) for k, v in value.items()
    )


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and bool(_DIGEST.match(value))


def _is_metadata(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return isinstance(json.loads(value), dict)
    except (ValueError, RecursionError):
        return False


def _ids_in(item: Any, keys: tuple[str, ...]) -> set[str]:
    """The well-formed layer ids a record names under `keys`, whatever its other fields."""
    if not isinstance(item, dict):
        return set()
    return {str(item[k]) for k in keys if _is_id(item.get(k))}


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


# The optional fields read here, and the shape containers/storage writes them in.
_LAYER_FIELDS: dict[str, Callable[[Any], bool]] = {
    "parent": _is_id,
    "names": _is_strings,
    "diff-digest": _is_digest,
    "diff-size": _is_size,
    "flags": lambda v: isinstance(v, dict),
}
_IMAGE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "layer": _is_id,
    "names": _is_strings,
    "digest": _is_digest,
    "big-data-sizes": _is_sizes,
}
_CONTAINER_FIELDS: dict[str, Callable[[Any], bool]] = {
    "image": lambda v: v == "" or _is_id(v),
    "names": _is_strings,
    "metadata": _is_metadata,
}
