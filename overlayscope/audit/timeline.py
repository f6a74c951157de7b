"""A filesystem timeline of layers: every entry with its lstat times, for mactime or plaso.

`timeline_layers` chooses the layers (a container's rw and init layers, an
image's layers, or every container's), `timeline` walks them and yields one
`TimelineEntry` per entry, optionally with MD5 and SHA-256 of regular files.
Formatting as a bodyfile or CSV is in `bodyfile.py`.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator, Sequence

from overlayscope.audit.findings import AuditProblem
from overlayscope.audit.hashing import DEFAULT_MAX_HOLE_BYTES, Digest, hash_files
from overlayscope.audit.progress import ProgressCallback, Reporter, check_cancel
from overlayscope.audit.walk import walk_layer
from overlayscope.record import record
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import scan_tree
from overlayscope.union.full_trees import derive_diff


@record
class TimelineLayer:
    layer_id: str
    role: str  # "rw", "init", "image"
    content_dir: str
    container: str | None = None  # container id for rw/init layers
    container_name: str | None = None
    # A full tree (legacy overlay) over another: the content dir of the one beneath, so
    # that only what this layer changed is listed (`union/full_trees.py`).
    full_tree_below: str | None = None
    # The namespace its host's overlay mounts read (`Host.overlay_xattrs`): whose
    # `overlay.whiteout` makes an empty file a whiteout. None: either's.
    overlay_xattrs: str | None = None


@record
class TimelineEntry:
    """One entry of one layer: lstat as it is on the evidence, never followed."""

    layer: TimelineLayer
    path: str  # path inside the container
    type: str  # file, dir, symlink, whiteout, char, block, fifo, socket
    mode: int
    uid: int
    gid: int
    size: int
    inode: int  # of the layer's file on the evidence filesystem
    nlink: int
    atime_ns: int  # as lstat reports it: see docs/audit.md, not reliable evidence
    mtime_ns: int
    ctime_ns: int
    target: str | None = None
    md5: str | None = None
    sha256: str | None = None


def timeline_layers(
    host: Host, obj: Container | Image | None, *, images: bool = False
) -> list[TimelineLayer]:
    """The layers of a container (rw, init; and its image's with `images`), of an image,
    or, for `obj=None`, of every container (and every image layer once, with `images`)."""
    out: list[TimelineLayer] = []
    seen: set[str] = set()

    def add(
        lid: str | None, role: str, c: Container | None = None, beneath: Sequence[str] = ()
    ) -> None:
        layer = host.layers.get(lid or "")
        if layer is None or not layer.has_content or layer.id in seen:
            return
        seen.add(layer.id)
        below = next((host.layers[b] for b in beneath if b in host.layers), None)
        out.append(
            TimelineLayer(
                layer.id,
                role,
                layer.content_dir,
                c.id if c is not None else None,
                c.name if c is not None else None,
                below.content_dir if layer.full_tree and below and below.full_tree else None,
                host.overlay_xattrs,
            )
        )

    containers: list[Container] = []
    image_list: list[Image] = []
    if isinstance(obj, Container):
        containers = [obj]
        image = host.image_of(obj)
        image_list = [image] if images and image is not None else []
    elif isinstance(obj, Image):
        image_list = [obj]
    else:
        containers = sorted(host.containers.values(), key=lambda c: (c.name, c.id))
        image_list = sorted(host.images.values(), key=lambda i: i.id) if images else []
    for c in containers:
        add(c.layer, "rw", c)
        add(c.init_layer, "init", c)
    if isinstance(obj, Container) and images:
        for i, lid in enumerate(obj.image_layers):
            add(lid, "image", beneath=obj.image_layers[i + 1 :])
    for image in image_list:
        stack = image.stack()
        for i, lid in enumerate(stack):
            add(lid, "image", beneath=stack[i + 1 :])
    return out


def timeline(
    layers: list[TimelineLayer],
    *,
    hash: bool = False,
    problems: list[AuditProblem] | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    hash_workers: int | None = None,
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES,
) -> Iterator[TimelineEntry]:
    """Every entry of `layers`, layer by layer, parents first; the diff root itself is left
    out. What cannot be read is appended to `problems` (kind `unreadable`); a file with more
    than `max_hole_bytes` of holes is not hashed (kind `not-hashed`, docs/audit.md)."""
    report = Reporter(progress)
    sink = problems if problems is not None else []
    entries = 0  # walked so far: progress within a layer, not only between layers
    for number, layer in enumerate(layers):
        check_cancel(cancel)
        report("walk", number, len(layers), layer.layer_id, entries)
        found: list[tuple[str, str]] = []
        ns = layer.overlay_xattrs
        walked = []
        for w in walk_layer(layer.content_dir, found, cancel, overlay_xattrs=ns):
            if w.path != "/":
                walked.append(w)
            entries += 1
            if entries % 256 == 0:
                report("walk", number, len(layers), layer.layer_id, entries)
        if layer.full_tree_below is not None:
            own = derive_diff(
                scan_tree(layer.content_dir, overlay_xattrs=ns),
                scan_tree(layer.full_tree_below, overlay_xattrs=ns),
            )
            walked = [w for w in walked if w.path in own.entries]
        sink.extend(AuditProblem("unreadable", layer.content_dir + p, d) for p, d in found)
        digests: dict[tuple[str, str], Digest] = {}
        if hash:
            files = [
                (layer.content_dir, w.path)
                for w in walked
                if _type(w.st.st_mode, w.whiteout) == "file"
            ]
            digests, failures = hash_files(
                files,
                md5=True,
                workers=hash_workers,
                cancel=cancel,
                report=report,
                max_hole_bytes=max_hole_bytes,
            )
            sink.extend(
                AuditProblem(f.kind, f.content_dir + f.path, f.detail, unread=f.unread)
                for f in failures
            )
        for w in walked:
            st = w.st
            digest = digests.get((layer.content_dir, w.path))
            yield TimelineEntry(
                layer=layer,
                path=w.path,
                type=_type(st.st_mode, w.whiteout),
                mode=st.st_mode,
                uid=st.st_uid,
                gid=st.st_gid,
                size=st.st_size,
                inode=st.st_ino,
                nlink=st.st_nlink,
                atime_ns=st.st_atime_ns,
                mtime_ns=st.st_mtime_ns,
                ctime_ns=st.st_ctime_ns,
                target=w.target,
                md5=digest.md5 if digest is not None else None,
                sha256=digest.sha256 if digest is not None else None,
            )
    report("walk", len(layers), len(layers), "", entries)


def _type(mode: int, whiteout: bool) -> str:
    if whiteout:
        return "whiteout"
    for test, name in _TYPES:
        if test(mode):
            return name
    return "other"


_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)
