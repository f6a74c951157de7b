"""`image/overlay2/imagedb` (image configs) and `repositories.json` (tags)."""

from __future__ import annotations

import os
import re
from typing import Any

from overlayscope.digest import sha256
from overlayscope.record import field, record
from overlayscope.root.oci import HistoryEntry, layer_history, parse_history
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import (
    RecordError,
    list_record_dir,
    lstat_or_none,
    read_bytes,
    read_json,
    read_optional_text,
    record_dir_problem,
)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@record
class ImageRecord:
    """An image config from `imagedb/content/sha256/<id>`."""

    id: str  # "sha256:…" — the digest of the config itself
    diff_ids: tuple[str, ...]  # bottom → top
    history: tuple[HistoryEntry, ...]
    created: str | None
    parent: str | None  # from imagedb/metadata: the image this one was built on
    os: str
    architecture: str
    path: str


@record(frozen=False, slots=False)
class ImageDB:
    images: dict[str, ImageRecord] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)  # image id → "repo:tag"
    digests: dict[str, list[str]] = field(default_factory=dict)  # image id → "repo@sha256:…"
    problems: list[Problem] = field(default_factory=list)


def read_imagedb(image_dir: str) -> ImageDB:
    """Read image configs and tags under `<root>/image/overlay2`."""
    db = ImageDB()
    content = os.path.join(image_dir, "imagedb", "content", "sha256")
    names = list_record_dir(content, db.problems)
    metadata = os.path.join(image_dir, "imagedb", "metadata", "sha256")
    for name in names:
        record = _read_image(os.path.join(content, name), name, metadata, db.problems)
        if record is not None:
            db.images[record.id] = record
    _read_repositories(os.path.join(image_dir, "repositories.json"), db)
    return db


def _read_image(
    path: str, name: str, metadata_dir: str, problems: list[Problem]
) -> ImageRecord | None:
    if not _HEX64.match(name):
        problems.append(Problem(ProblemKind.BAD_METADATA, path, "name is not a sha256 hex"))
        return None
    try:
        raw = read_bytes(path)
        config = read_json(path)
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    if sha256(raw).hexdigest() != name:
        problems.append(
            Problem(ProblemKind.IMAGE_DIGEST_MISMATCH, path, "content's sha256 is not its name")
        )
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and _DIGEST.match(d) for d in diff_ids
    ):
        problems.append(
            Problem(ProblemKind.BAD_METADATA, path, "rootfs.diff_ids is not a list of digests")
        )
        return None
    parent = None
    meta = os.path.join(metadata_dir, name)
    meta_st = lstat_or_none(meta)
    bad_meta = record_dir_problem(meta) if meta_st is not None else None
    try:
        if bad_meta is not None:
            raise RecordError(bad_meta)
        parent = read_optional_text(os.path.join(meta, "parent")) or None
        if parent is not None and not _DIGEST.match(parent):
            raise RecordError(
                Problem(
                    ProblemKind.BAD_METADATA,
                    os.path.join(meta, "parent"),
                    f"not a sha256 digest: {parent[:80]!r}",
                )
            )
    except RecordError as exc:
        parent = None
        problems.append(exc.problem)
    return ImageRecord(
        id="sha256:" + name,
        diff_ids=tuple(diff_ids),
        history=parse_history(config.get("history"), path, problems),
        created=_str_or_none(config.get("created")),
        parent=parent,
        os=_str_or_none(config.get("os")) or "",
        architecture=_str_or_none(config.get("architecture")) or "",
        path=path,
    )


def _read_repositories(path: str, db: ImageDB) -> None:
    if lstat_or_none(path) is None:
        return
    try:
        data = read_json(path)
    except RecordError as exc:
        db.problems.append(exc.problem)
        return
    repos = data.get("Repositories")
    if not isinstance(repos, dict):
        db.problems.append(Problem(ProblemKind.BAD_METADATA, path, "no Repositories object"))
        return
    for refs in repos.values():
        if not isinstance(refs, dict):
            db.problems.append(
                Problem(ProblemKind.BAD_METADATA, path, "repository is not an object")
            )
            continue
        for ref, image_id in refs.items():
            if not isinstance(ref, str) or not isinstance(image_id, str):
                db.problems.append(Problem(ProblemKind.BAD_METADATA, path, f"bad entry {ref!r}"))
                continue
            target = db.digests if "@" in ref else db.tags
            target.setdefault(image_id, []).append(ref)
    for image_id in sorted(set(db.tags) | set(db.digests)):
        if image_id not in db.images:
            refs = db.tags.get(image_id, []) + db.digests.get(image_id, [])
            db.problems.append(
                Problem(
                    ProblemKind.MISSING_IMAGE,
                    path,
                    f"{', '.join(sorted(refs))} → {image_id}, which is not in imagedb",
                )
            )
    for refs in (*db.tags.values(), *db.digests.values()):
        refs.sort()


def history_for_layers(image: ImageRecord) -> list[str]:
    """`created_by` for each layer of the image, bottom → top ('' when history is short)."""
    return layer_history(image.history, len(image.diff_ids))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
