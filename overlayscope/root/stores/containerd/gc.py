"""What containerd's garbage collector would keep: a mark over the metadata's references.

containerd's `metadata/gc.go`, restated for reading: the roots are every image (2.x:
unless its `containerd.io/gc.expire` has passed), every container, every lease that has not
expired (its snapshots, content and images), and content or snapshots labelled
`containerd.io/gc.root`. From a node, references lead to: an image's target blob; a
container's snapshot; a snapshot's parent; and whatever `containerd.io/gc.ref.content*`,
`gc.ref.snapshot.<snapshotter>*` and `gc.ref.image*` labels name. A back reference
(`containerd.io/gc.bref.*`, containerd 2.x) on an object keeps it while the object it names
is kept. A flat lease (`containerd.io/gc.flat`) keeps what it names without their
references. Everything the mark does not reach, the collector removes.

containerd 1.x (its meta.db at dbVersion 3) knows neither image expiry, image references
nor back references: there every image is a root, whatever its labels (v1.6's
`metadata/gc.go`). An expiry that is not RFC 3339, as Go's `time.Parse` reads it, is
ignored: the lease or image is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from overlayscope.root.stores.containerd.meta import Labels, MetaDB
from overlayscope.root.stores.containerd.snapshotter import SNAPSHOTTER

Node = tuple[str, str, str]  # (kind, namespace, key): kind content | snapshot | image | container

_ROOT = "containerd.io/gc.root"
_EXPIRE = "containerd.io/gc.expire"
_FLAT = "containerd.io/gc.flat"
_REF_CONTENT = "containerd.io/gc.ref.content"
_REF_IMAGE = "containerd.io/gc.ref.image"
_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
_BREF = "containerd.io/gc.bref."
# The dbVersion of containerd 2.0's meta.db, whose GC expires images and follows image
# and back references (core/metadata/db.go, gc.go).
DB_VERSION_2 = 4
# time.RFC3339 as Go's time.Parse accepts it: a fraction of any length (`.` or `,`) may
# follow the seconds; the zone is `Z` or ±hh:mm.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?"
    r"(Z|([+-])([0-9]{2}):([0-9]{2}))"
)


def content(ns: str, digest: str) -> Node:
    return ("content", ns, digest)


def snapshot(ns: str, key: str) -> Node:
    return ("snapshot", ns, key)


def reachable(meta: MetaDB, now: datetime | None = None) -> set[Node]:
    """The nodes containerd's garbage collector would keep in `meta`'s namespaces.

    Only overlayfs snapshots are nodes here; references to other snapshotters' snapshots
    are followed nowhere, as they hold nothing of this store.
    """
    now = now or datetime.now(UTC)
    v2 = meta.version is not None and meta.version >= DB_VERSION_2
    edges: dict[Node, list[Node]] = {}
    flat_edges: dict[Node, list[Node]] = {}  # a flat root's own edges: snapshot parents only
    roots: list[Node] = []
    flat_roots: list[Node] = []

    def edge(a: Node, b: Node) -> None:
        edges.setdefault(a, []).append(b)

    def label_refs(node: Node, labels: Labels) -> None:
        ns = node[1]
        for key, value in labels:
            target = _label_target(ns, key, value, v2)
            if target is not None:
                edge(node, target)
                continue
            back = _back_target(ns, key, value) if v2 else None
            if back is not None:
                edge(back, node)  # kept while `back` is kept

    for img in meta.images:
        node: Node = ("image", img.namespace, img.name)
        if not (v2 and _expired(img.labels, now)):
            roots.append(node)
        edge(node, content(img.namespace, img.target.digest))
        flat_edges.setdefault(node, []).append(content(img.namespace, img.target.digest))
        label_refs(node, img.labels)
    for c in meta.containers:
        node = ("container", c.namespace, c.id)
        roots.append(node)
        if c.snapshotter == SNAPSHOTTER and c.snapshot_key:
            edge(node, snapshot(c.namespace, c.snapshot_key))
        label_refs(node, c.labels)
    for s in meta.snapshots:
        node = snapshot(s.namespace, s.key)
        if s.parent:
            edge(node, snapshot(s.namespace, s.parent))
            flat_edges.setdefault(node, []).append(snapshot(s.namespace, s.parent))
        if any(k == _ROOT for k, _ in s.labels):
            roots.append(node)
        label_refs(node, s.labels)
    for b in meta.blobs:
        node = content(b.namespace, b.digest)
        if any(k == _ROOT for k, _ in b.labels):
            roots.append(node)
        label_refs(node, b.labels)
    for lease in meta.leases:
        if _expired(lease.labels, now):
            continue
        held = [
            *(snapshot(lease.namespace, k) for k in lease.snapshots),
            *(content(lease.namespace, d) for d in lease.content),
            *(("image", lease.namespace, n) for n in (lease.images if v2 else ())),
        ]
        if any(k == _FLAT for k, _ in lease.labels):
            flat_roots.extend(held)
        else:
            roots.extend(held)
    seen = _mark(roots, edges, set())
    # A flat lease keeps its objects (a snapshot's parents, an image's target), not what
    # their labels name.
    return _mark(flat_roots, flat_edges, seen)


def _mark(start: Iterable[Node], edges: dict[Node, list[Node]], seen: set[Node]) -> set[Node]:
    pending = list(start)
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        pending.extend(edges.get(node, ()))
    return seen


def _label_target(ns: str, key: str, value: str, v2: bool) -> Node | None:
    if _named(key, _REF_CONTENT):
        return content(ns, value)
    if v2 and _named(key, _REF_IMAGE):
        return ("image", ns, value)
    if key.startswith(_REF_SNAPSHOT):
        snapshotter = key[len(_REF_SNAPSHOT) :].split("/", 1)[0]
        return snapshot(ns, value) if snapshotter == SNAPSHOTTER else None
    return None


def _back_target(ns: str, key: str, value: str) -> Node | None:
    if not key.startswith(_BREF):
        return None
    rest = key[len(_BREF) :]
    for kind in ("content", "image", "container"):
        if _named(rest, kind):
            return (kind, ns, value)
    if rest.startswith("snapshot."):
        snapshotter = rest[len("snapshot.") :].split("/", 1)[0]
        return snapshot(ns, value) if snapshotter == SNAPSHOTTER else None
    return None


def _named(key: str, prefix: str) -> bool:
    """`prefix` itself, or `prefix` followed by `.name` or `/name` (gc.go's convention)."""
    return key == prefix or (key.startswith(prefix) and key[len(prefix)] in "./")


def _expired(labels: Labels, now: datetime) -> bool:
    for key, value in labels:
        if key == _EXPIRE:
            when = parse_rfc3339(value)
            return when is not None and now > when  # containerd ignores an invalid expiry
    return False


def parse_rfc3339(value: str) -> datetime | None:
    """`value` as Go's `time.Parse(time.RFC3339, value)` reads it (to the microsecond), or
    None where Go refuses it (Python's `fromisoformat` takes more: spaces, basic format)."""
    m = _RFC3339.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    zone = UTC
    if m.group(8) != "Z":
        zh, zm = int(m.group(10)), int(m.group(11))
        if zh > 23 or zm > 59:
            return None
        offset = timedelta(hours=zh, minutes=zm)
        zone = timezone(-offset if m.group(9) == "-" else offset)
    try:
        return datetime(
            year, month, day, hour, minute, second, int(fraction[:6].ljust(6, "0")), zone
        )
    except ValueError:  # out of range: a 13th month, a 60th second…
        return None
