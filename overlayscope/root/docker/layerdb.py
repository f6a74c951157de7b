"""`image/overlay2/layerdb`: the layer store's records of image layers and container mounts."""

from __future__ import annotations

import os
import re

from overlayscope.record import field, record
from overlayscope.root.oci import chain_id_of
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import (
    MissingRecord,
    RecordError,
    list_record_dir,
    read_optional_text,
    read_text,
    record_dir_problem,
)

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_SIZE = 2**63 - 1  # the daemon writes sizes as int64


@record
class LayerRecord:
    """`layerdb/sha256/<chainID>/`: one image layer of the layer store."""

    chain_id: str  # "sha256:…"
    diff_id: str
    cache_id: str  # the overlay2 dir id holding its content
    parent: str | None  # parent chain id; None for a base layer
    size: int | None  # bytes, as the daemon measured the diff dir
    path: str


@record
class MountRecord:
    """`layerdb/mounts/<containerID>/`: a container's read-write layer."""

    container_id: str
    mount_id: str  # the rw overlay2 dir id
    init_id: str | None  # "<mount-id>-init"
    parent: str | None  # chain id of the image's top layer
    path: str


@record(frozen=False, slots=False)
class LayerDB:
    layers: dict[str, LayerRecord] = field(default_factory=dict)  # by chain id
    mounts: dict[str, MountRecord] = field(default_factory=dict)  # by container id
    problems: list[Problem] = field(default_factory=list)


def read_layerdb(path: str) -> LayerDB:
    """Read `<root>/image/overlay2/layerdb`, checking every chain id."""
    db = LayerDB()
    sha_dir = os.path.join(path, "sha256")
    for name in list_record_dir(sha_dir, db.problems):
        record = _read_layer(os.path.join(sha_dir, name), name, db.problems)
        if record is not None:
            db.layers[record.chain_id] = record
    for record in db.layers.values():
        if record.parent is not None and record.parent not in db.layers:
            db.problems.append(
                Problem(
                    ProblemKind.MISSING_PARENT,
                    os.path.join(record.path, "parent"),
                    f"parent {record.parent} has no layerdb record",
                )
            )
    mounts_dir = os.path.join(path, "mounts")
    for name in list_record_dir(mounts_dir, db.problems):
        mount = _read_mount(os.path.join(mounts_dir, name), name, db.problems)
        if mount is not None:
            db.mounts[mount.container_id] = mount
    return db


def _read_layer(layer_path: str, name: str, problems: list[Problem]) -> LayerRecord | None:
    if not _HEX64.match(name):
        problems.append(Problem(ProblemKind.BAD_METADATA, layer_path, "name is not a sha256 hex"))
        return None
    chain_id = "sha256:" + name
    bad_dir = record_dir_problem(layer_path)
    if bad_dir is not None:
        problems.append(bad_dir)
        return None
    try:
        cache_id = read_text(os.path.join(layer_path, "cache-id"))
        diff_id = read_text(os.path.join(layer_path, "diff"))
        parent = read_optional_text(os.path.join(layer_path, "parent")) or None
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    for label, value in (("diff", diff_id), ("parent", parent)):
        if value is not None and not _DIGEST.match(value):
            problems.append(
                Problem(
                    ProblemKind.BAD_METADATA,
                    os.path.join(layer_path, label),
                    f"not a sha256 digest: {value[:80]!r}",
                )
            )
            return None
    if not cache_id or "/" in cache_id or cache_id in (".", ".."):
        problems.append(
            Problem(ProblemKind.BAD_METADATA, os.path.join(layer_path, "cache-id"), "invalid id")
        )
        return None
    size: int | None = None
    try:
        size_text = read_text(os.path.join(layer_path, "size"))
        # Plain decimal digits only (int() would also take "-1", "+5", "1_000").
        if not size_text.isdigit() or int(size_text) > _MAX_SIZE:
            raise ValueError(size_text)
        size = int(size_text)
    except MissingRecord:
        pass  # older engines wrote no size file
    except RecordError as exc:
        problems.append(exc.problem)
    except ValueError:
        problems.append(
            Problem(ProblemKind.BAD_METADATA, os.path.join(layer_path, "size"), "not a byte count")
        )
    expected = chain_id_of(parent, diff_id)
    if expected != chain_id:
        problems.append(
            Problem(
                ProblemKind.CHAIN_ID_MISMATCH,
                layer_path,
                f"chain id should be {expected} for parent {parent} and diff {diff_id}",
            )
        )
    return LayerRecord(chain_id, diff_id, cache_id, parent, size, layer_path)


def _read_mount(mount_path: str, name: str, problems: list[Problem]) -> MountRecord | None:
    bad_dir = record_dir_problem(mount_path)
    if bad_dir is not None:
        problems.append(bad_dir)
        return None
    try:
        mount_id = read_text(os.path.join(mount_path, "mount-id"))
        init_id = read_optional_text(os.path.join(mount_path, "init-id")) or None
        parent = read_optional_text(os.path.join(mount_path, "parent")) or None
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    for label, value in (("mount-id", mount_id), ("init-id", init_id)):
        if value is not None and (not value or "/" in value or value in (".", "..")):
            problems.append(
                Problem(ProblemKind.BAD_METADATA, os.path.join(mount_path, label), "invalid id")
            )
            return None
    return MountRecord(name, mount_id, init_id, parent, mount_path)
