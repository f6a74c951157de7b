"""containerd's images: name → target (index or manifest) → config → rootfs → chain ids.

An index names a manifest per platform; the one unpacked into the overlayfs snapshotter
is the one whose config blob carries the `containerd.io/gc.ref.snapshot.overlayfs` label
(containerd's unpacker sets it), else the one for this machine's platform.
"""

from __future__ import annotations

import platform
import re
from typing import Any

from overlayscope.record import record
from overlayscope.root.oci import HistoryEntry, chain_ids, layer_history, parse_history
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.stores.containerd.content import ContentStore
from overlayscope.root.stores.containerd.meta import ImageRecord, MetaDB
from overlayscope.root.stores.containerd.snapshotter import SNAPSHOTTER

_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
UNPACKED_LABEL = f"containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
_MAX_INDEX_DEPTH = 8  # indexes within indexes: deeper is a loop or a hostile blob


@record
class ResolvedImage:
    """One image record of a namespace, followed down to its rootfs."""

    record: ImageRecord
    manifest: str | None  # the manifest's digest
    config: str | None  # the config's digest
    config_path: str  # the config blob's path ("" when unknown)
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    history: tuple[str, ...]  # created_by per layer, bottom → top
    created: str | None
    steps: tuple[HistoryEntry, ...] = ()  # the config's whole history, empty steps too


def resolve_images(meta: MetaDB, content: ContentStore) -> list[ResolvedImage]:
    """Follow every image record of `meta` through the content store."""
    unpacked = {
        (b.namespace, b.digest) for b in meta.blobs if any(k == UNPACKED_LABEL for k, _ in b.labels)
    }
    return [_resolve(rec, content, unpacked) for rec in meta.images]


def _resolve(
    rec: ImageRecord, content: ContentStore, unpacked: set[tuple[str, str]]
) -> ResolvedImage:
    why = f"image {rec.namespace}/{rec.name}"
    manifest_digest: str | None = rec.target.digest
    doc = content.json(rec.target.digest, why)
    media_type = rec.target.media_type
    # An index may name indexes (an OCI layout's index.json kept by `ctr images import
    # --index-name`, BuildKit's exports): containerd's images.Manifest walks down them all.
    for _ in range(_MAX_INDEX_DEPTH):
        if doc is None or not (media_type in _INDEX_TYPES or _is_index(doc)):
            break
        manifest_digest = _pick_manifest(rec, doc, content, unpacked)
        doc = content.json(manifest_digest, why) if manifest_digest else None
        media_type = ""
    config = doc.get("config") if isinstance(doc, dict) else None
    config_digest = config.get("digest") if isinstance(config, dict) else None
    if not isinstance(config_digest, str):
        if doc is not None or manifest_digest is None:  # else: content.json said why
            content.problems.append(
                Problem(
                    ProblemKind.BAD_METADATA,
                    content.blob_path(manifest_digest or rec.target.digest),
                    f"{why}: no image manifest with a config found for this platform",
                )
            )
        return ResolvedImage(rec, manifest_digest, None, "", (), (), (), None)
    cfg = content.json(config_digest, why)
    path = content.blob_path(config_digest)
    problems: list[Problem] = []
    found = _diff_ids(cfg)
    if found is None:
        problems.append(
            Problem(ProblemKind.BAD_METADATA, path, "rootfs.diff_ids is not a list of digests")
        )
    diff_ids = found or ()
    history: tuple[HistoryEntry, ...] = (
        parse_history(cfg.get("history"), path, problems) if cfg else ()
    )
    content.problems.extend(problems)
    created = cfg.get("created") if cfg else None
    return ResolvedImage(
        rec,
        manifest_digest,
        config_digest,
        path,
        diff_ids,
        tuple(chain_ids(diff_ids)),
        tuple(layer_history(history, len(diff_ids))),
        created if isinstance(created, str) else None,
        history,
    )


def _pick_manifest(
    rec: ImageRecord,
    index: dict[str, Any],
    content: ContentStore,
    unpacked: set[tuple[str, str]],
) -> str | None:
    manifests = [
        m
        for m in index.get("manifests") or []
        if isinstance(m, dict) and isinstance(m.get("digest"), str)
    ]
    # Attestations (BuildKit's provenance) ride along as manifests of platform unknown/unknown.
    candidates = [m for m in manifests if _platform(m) != ("unknown", "unknown")] or manifests
    for m in candidates:
        manifest = content.blobs.get(m["digest"]) and content.json(m["digest"], "manifest")
        cfg = manifest.get("config") if isinstance(manifest, dict) else None
        if isinstance(cfg, dict) and (rec.namespace, cfg.get("digest")) in unpacked:
            return str(m["digest"])
    arch = _ARCH.get(platform.machine(), platform.machine())
    for m in candidates:
        if _platform(m) == ("linux", arch):
            return str(m["digest"])
    present = [m for m in candidates if m["digest"] in content.blobs]
    return str(present[0]["digest"]) if present else None


def _is_index(doc: dict[str, Any]) -> bool:
    if doc.get("mediaType") in _INDEX_TYPES:
        return True
    return "mediaType" not in doc and "manifests" in doc and "config" not in doc


def _platform(manifest: dict[str, Any]) -> tuple[str, str]:
    p = manifest.get("platform")
    if not isinstance(p, dict):
        return ("", "")
    return (str(p.get("os", "")), str(p.get("architecture", "")))


def _diff_ids(cfg: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The config's diff ids, bottom → top; None when they are not a list of digests."""
    if cfg is None:
        return ()
    rootfs = cfg.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) and _DIGEST.match(d) for d in ids):
        return None
    return tuple(ids)
