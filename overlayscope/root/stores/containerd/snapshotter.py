"""The overlayfs snapshotter's own records: `metadata.db` and the `snapshots/<N>/` dirs.

`metadata.db` (bbolt): `v1/snapshots/<backend key>` → `id` (uvarint: the dir number),
`kind` (one byte: 1 view, 2 active, 3 committed), `parent` (the parent's backend key),
`inodes`/`size` (zigzag varints, committed snapshots only: continuity's `DiskUsage` at
commit, allocated bytes of each inode once), `createdat`/`updatedat`, `labels`. A backend
key is `<namespace>/<sequence>/<key>` as containerd's metadata layer names it.
"""

from __future__ import annotations

import os
import stat

from overlayscope.record import field, record
from overlayscope.root.bbolt import (
    BoltDB,
    BoltError,
    Bucket,
    go_time,
    read_settled,
    uvarint,
    varint,
)
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import RecordError, list_dir, lstat_or_none

SNAPSHOTTER = "overlayfs"
PLUGIN_DIR = "io.containerd.snapshotter.v1.overlayfs"
KIND_VIEW, KIND_ACTIVE, KIND_COMMITTED = 1, 2, 3
KIND_NAMES = {KIND_VIEW: "view", KIND_ACTIVE: "active", KIND_COMMITTED: "committed"}


@record
class BackendSnapshot:
    """One snapshot as the snapshotter records it."""

    name: str  # its backend key: "<namespace>/<sequence>/<key>"
    id: str  # the dir number under snapshots/
    kind: int
    parent: str | None  # the parent's backend key
    size: int | None  # committed: allocated bytes at commit
    inodes: int | None
    created: str | None
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def namespace(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def key(self) -> str:
        """The key part of the backend key (the snapshot's key in its namespace)."""
        parts = self.name.split("/", 2)
        return parts[2] if len(parts) == 3 else self.name


@record(frozen=False, slots=False)
class SnapshotterDB:
    """Everything the overlayfs snapshotter keeps, and what is wrong with it."""

    path: str  # <containerd root>/io.containerd.snapshotter.v1.overlayfs
    snapshots: dict[str, BackendSnapshot] = field(default_factory=dict)  # by backend key
    dirs: list[str] = field(default_factory=list)  # names under snapshots/
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True  # the records could be read (some may still be lost: `complete`)
    # Every record was read: only then is a dir that no record names an orphan (a lost
    # record would make its dir, perhaps a container's, look like one).
    complete: bool = True

    def by_id(self) -> dict[str, BackendSnapshot]:
        return {s.id: s for s in self.snapshots.values()}

    def snapshot_dir(self, snapshot_id: str) -> str:
        return os.path.join(self.path, "snapshots", snapshot_id)


def read_snapshotter(path: str) -> SnapshotterDB:
    """Read `<containerd root>/io.containerd.snapshotter.v1.overlayfs`: records and dirs."""
    out = SnapshotterDB(path=path)
    db_path = os.path.join(path, "metadata.db")
    st = lstat_or_none(db_path)
    if st is None:
        if lstat_or_none(path) is not None:
            out.problems.append(
                Problem(ProblemKind.BAD_DATABASE, db_path, "missing: no snapshot records")
            )
            out.readable = out.complete = False
    elif stat.S_ISLNK(st.st_mode):
        out.problems.append(
            Problem(ProblemKind.SYMLINK_IN_ROOT, db_path, "is a symlink; not followed")
        )
        out.readable = out.complete = False
    else:
        try:
            settled = read_settled(db_path, lambda db: _read_records(db, db_path))
        except BoltError as exc:
            out.problems.append(Problem(ProblemKind.BAD_DATABASE, db_path, exc.message))
            out.readable = out.complete = False
        else:
            records, problems = settled.value
            out.snapshots = records
            out.problems += problems
            out.problems += [
                Problem(ProblemKind.BAD_DATABASE, db_path, _page_detail(p.page, p.detail))
                for p in settled.problems
            ]
            out.complete = not out.problems
    snapshots_dir = os.path.join(path, "snapshots")
    try:
        out.dirs = [n for n in list_dir(snapshots_dir) if _is_real_dir(snapshots_dir, n, out)]
    except RecordError as exc:
        if lstat_or_none(snapshots_dir) is not None:
            out.problems.append(exc.problem)
    return out


def _is_real_dir(base: str, name: str, out: SnapshotterDB) -> bool:
    st = lstat_or_none(os.path.join(base, name))
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        out.problems.append(
            Problem(
                ProblemKind.SYMLINK_IN_ROOT,
                os.path.join(base, name),
                "snapshot dir is a symlink; not followed",
            )
        )
        return False
    return stat.S_ISDIR(st.st_mode)


def _page_detail(page: int | None, detail: str) -> str:
    return f"page {page}: {detail}" if page is not None else detail


def _read_records(db: BoltDB, db_path: str) -> tuple[dict[str, BackendSnapshot], list[Problem]]:
    problems: list[Problem] = []
    records: dict[str, BackendSnapshot] = {}
    bucket = db.bucket(b"v1", b"snapshots")
    if bucket is None:
        return records, problems
    for raw_key, value in bucket.items():
        if not isinstance(value, Bucket):
            continue
        name = raw_key.decode("utf-8", "surrogateescape")
        try:
            records[name] = _record(name, value)
        except ValueError as exc:
            problems.append(Problem(ProblemKind.BAD_DATABASE, db_path, f"snapshot {name!r}: {exc}"))
    return records, problems


def _record(name: str, bkt: Bucket) -> BackendSnapshot:
    raw_id = bkt.get(b"id")
    if raw_id is None:
        raise ValueError("no id")
    number, _ = uvarint(raw_id)
    if number == 0:
        raise ValueError("id 0")  # the sequence starts at 1
    kind_raw = bkt.get(b"kind") or b""
    kind = kind_raw[0] if len(kind_raw) == 1 else 0
    if kind not in KIND_NAMES:
        raise ValueError(f"unknown kind {kind_raw!r}")
    parent = bkt.get(b"parent")
    size = inodes = None
    if kind == KIND_COMMITTED:
        raw_size, raw_inodes = bkt.get(b"size"), bkt.get(b"inodes")
        size = varint(raw_size)[0] if raw_size else None
        inodes = varint(raw_inodes)[0] if raw_inodes else None
        if (size is not None and size < 0) or (inodes is not None and inodes < 0):
            raise ValueError("negative usage")
    created = bkt.get(b"createdat")
    when = go_time(created) if created else None
    labels = bkt.bucket(b"labels")
    return BackendSnapshot(
        name=name,
        id=str(number),
        kind=kind,
        parent=parent.decode("utf-8", "surrogateescape") if parent else None,
        size=size,
        inodes=inodes,
        created=when.isoformat() if when else None,
        labels=read_labels(labels),
    )


def read_labels(bucket: Bucket | None) -> tuple[tuple[str, str], ...]:
    """A `labels` bucket as sorted (key, value) text pairs; nested buckets are skipped."""
    if bucket is None:
        return ()
    out = []
    for key, value in bucket.items():
        if isinstance(value, bytes):
            out.append((_text(key), _text(value)))
    return tuple(out)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
