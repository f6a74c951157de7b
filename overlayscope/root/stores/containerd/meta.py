"""containerd's metadata DB: `io.containerd.metadata.v1.bolt/meta.db` (bbolt).

`v1/<namespace>/` holds, per namespace (containerd's `metadata/buckets.go`): `images/<name>`
(`target` {digest, mediatype, size}, labels, times), `containers/<id>` (image, snapshotter,
snapshotKey, runtime, labels, times), `snapshots/<snapshotter>/<key>` (`name`: the backend
key, `parent`, labels, times), `content/blob/<digest>` (size, labels), `leases/<id>`
(labels, and the snapshots, content and images it holds). Everything is read into plain
records; a record that cannot be decoded is a problem, never an exception.
"""

from __future__ import annotations

import os
import stat

from overlayscope.record import field, record
from overlayscope.root.bbolt import BoltDB, BoltError, Bucket, go_time, read_settled, varint
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import lstat_or_none
from overlayscope.root.run_config import RunConfig, any_json, oci_run_config
from overlayscope.root.stores.containerd.snapshotter import SNAPSHOTTER, read_labels

PLUGIN_DIR = "io.containerd.metadata.v1.bolt"

Labels = tuple[tuple[str, str], ...]


@record
class Descriptor:
    digest: str
    media_type: str
    size: int | None


@record
class ImageRecord:
    namespace: str
    name: str
    target: Descriptor
    labels: Labels
    created: str | None


@record
class ContainerRecord:
    namespace: str
    id: str
    image: str
    snapshotter: str
    snapshot_key: str
    runtime: str
    labels: Labels
    created: str | None
    updated: str | None
    run: RunConfig = field(default_factory=RunConfig)  # its OCI spec: command, env, mounts

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


@record
class SnapshotRecord:
    """A snapshot of the overlayfs snapshotter as a namespace knows it."""

    namespace: str
    key: str  # its key in the namespace (a chain id, a container id, `<id>-init`…)
    name: str  # the backend key in the snapshotter's own DB
    parent: str | None  # the parent's key in the namespace
    labels: Labels
    created: str | None


@record
class BlobRecord:
    namespace: str
    digest: str
    size: int | None
    labels: Labels


@record
class LeaseRecord:
    namespace: str
    id: str
    labels: Labels
    snapshots: tuple[str, ...]  # overlayfs snapshot keys it holds
    content: tuple[str, ...]  # blob digests it holds
    images: tuple[str, ...]  # image names it holds (containerd 2.x)
    created: str | None


@record(frozen=False, slots=False)
class MetaDB:
    path: str
    namespaces: list[str] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    containers: list[ContainerRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    blobs: list[BlobRecord] = field(default_factory=list)
    leases: list[LeaseRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True  # False when the DB could not be read at all
    # `v1/version`: containerd's dbVersion, 3 for containerd 1.x, 4 since 2.0 (whose GC
    # adds image expiry, image references and back references); None when absent.
    version: int | None = None


def read_meta(path: str, namespace: str | None = None) -> MetaDB:
    """Read meta.db at `path`: every namespace, or only `namespace`."""
    out = MetaDB(path=path)
    st = lstat_or_none(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        out.readable = False
        out.problems.append(
            Problem(ProblemKind.SYMLINK_IN_ROOT, path, "is a symlink; not followed")
        )
        return out
    try:
        settled = read_settled(path, lambda db: _read(db, path, namespace))
    except BoltError as exc:
        out.readable = False
        out.problems.append(Problem(ProblemKind.BAD_DATABASE, path, exc.message))
        return out
    got = settled.value
    got.problems += [
        Problem(
            ProblemKind.BAD_DATABASE,
            path,
            f"page {p.page}: {p.detail}" if p.page is not None else p.detail,
        )
        for p in settled.problems
    ]
    return got


def _read(db: BoltDB, path: str, only: str | None) -> MetaDB:
    out = MetaDB(path=path)
    v1 = db.bucket(b"v1")
    if v1 is None:
        out.problems.append(Problem(ProblemKind.BAD_DATABASE, path, "no v1 bucket"))
        return out
    for raw, value in v1.items():
        if not isinstance(value, Bucket):
            if raw == b"version":
                out.version = _version(value)
            continue
        ns = _text(raw)
        if only is not None and ns != only:
            continue
        out.namespaces.append(ns)
        _namespace(out, ns, value)
    return out


def _namespace(out: MetaDB, ns: str, bkt: Bucket) -> None:
    def bad(what: str, detail: str) -> None:
        out.problems.append(Problem(ProblemKind.BAD_DATABASE, out.path, f"{ns}: {what}: {detail}"))

    for name, rec in _buckets(bkt.bucket(b"images")):
        target = rec.bucket(b"target")
        digest = _get_text(target, b"digest")
        if target is None or not digest:
            bad(f"image {name!r}", "no target digest")
            continue
        out.images.append(
            ImageRecord(
                ns,
                name,
                Descriptor(digest, _get_text(target, b"mediatype") or "", _get_varint(target)),
                read_labels(rec.bucket(b"labels")),
                _time(rec, b"createdat"),
            )
        )
    for cid, rec in _buckets(bkt.bucket(b"containers")):
        runtime = rec.bucket(b"runtime")
        out.containers.append(
            ContainerRecord(
                ns,
                cid,
                _get_text(rec, b"image") or "",
                _get_text(rec, b"snapshotter") or "",
                _get_text(rec, b"snapshotKey") or "",
                _get_text(runtime, b"name") or "",
                read_labels(rec.bucket(b"labels")),
                _time(rec, b"createdat"),
                _time(rec, b"updatedat"),
                _run(rec.get(b"spec")),
            )
        )
    snapshots = bkt.bucket(b"snapshots")
    for key, rec in _buckets(snapshots.bucket(SNAPSHOTTER.encode()) if snapshots else None):
        backend = _get_text(rec, b"name")
        if not backend:
            bad(f"snapshot {key!r}", "no backend name")
            continue
        out.snapshots.append(
            SnapshotRecord(
                ns,
                key,
                backend,
                _get_text(rec, b"parent") or None,
                read_labels(rec.bucket(b"labels")),
                _time(rec, b"createdat"),
            )
        )
    content = bkt.bucket(b"content")
    for digest, rec in _buckets(content.bucket(b"blob") if content else None):
        out.blobs.append(
            BlobRecord(ns, digest, _get_varint(rec), read_labels(rec.bucket(b"labels")))
        )
    for lid, rec in _buckets(bkt.bucket(b"leases")):
        held = rec.bucket(b"snapshots")
        out.leases.append(
            LeaseRecord(
                ns,
                lid,
                read_labels(rec.bucket(b"labels")),
                tuple(_keys(held.bucket(SNAPSHOTTER.encode()) if held else None)),
                tuple(_keys(rec.bucket(b"content"))),
                tuple(_keys(rec.bucket(b"images"))),
                _time(rec, b"createdat"),
            )
        )


def _version(raw: bytes) -> int | None:
    try:
        value = varint(raw)[0]  # binary.PutVarint, as metadata/db.go's encodeInt
    except ValueError:
        return None
    return value if value >= 0 else None


def _buckets(bkt: Bucket | None) -> list[tuple[str, Bucket]]:
    if bkt is None:
        return []
    return [(_text(k), v) for k, v in bkt.items() if isinstance(v, Bucket)]


def _keys(bkt: Bucket | None) -> list[str]:
    return [] if bkt is None else [_text(k) for k in bkt.keys()]  # noqa: SIM118 (not a dict)


def _get_text(bkt: Bucket | None, key: bytes) -> str | None:
    value = bkt.get(key) if bkt is not None else None
    return _text(value) if value is not None else None


def _get_varint(bkt: Bucket | None) -> int | None:
    raw = bkt.get(b"size") if bkt is not None else None
    if not raw:
        return None
    try:
        size = varint(raw)[0]
    except ValueError:
        return None
    return size if size >= 0 else None


def _time(bkt: Bucket, key: bytes) -> str | None:
    raw = bkt.get(key)
    when = go_time(raw) if raw else None
    return when.isoformat() if when else None


def _run(spec: bytes | None) -> RunConfig:
    """What the container's OCI spec (a protobuf Any holding JSON) says it runs."""
    return oci_run_config(any_json(spec)) if spec else RunConfig()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def meta_path(containerd_root: str) -> str:
    return os.path.join(containerd_root, PLUGIN_DIR, "meta.db")
