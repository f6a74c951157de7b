"""What a container's writable layer holds: copy-ups of files beneath it, and new files.

overlayfs copies a whole file up into the writable layer before the first
write, chmod, chown or touch, so a one-byte append to a 1 GB file, or a
`chown -R` over an image's tree, costs the whole file again. This module
looks at every regular file of a container's rw layer: if a regular file
lies beneath it (in the init layer or the image, and not hidden by an opaque
dir of the rw layer) it is a copy-up, and when its bytes equal the ones
beneath ("same bytes") it was copied up only for a metadata change. A file that
carries `overlay.origin` with nothing beneath it was copied up and then renamed
(or hard-linked) there. Every other file is an addition. Which is which is
`union/copyup.py`'s one classification, the one `container` and the TUI use. Unlike `docker diff`,
which compares stat fields, a copy-up whose stat did not change (made by
`ln` on a lower file, say) is counted too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from overlayscope.errors import OverlayscopeError
from overlayscope.record import record
from overlayscope.root.model import Container, Host
from overlayscope.scan import Entry, Kind, LayerIndex, ScanProgress, scan_layers
from overlayscope.scan.progress import check_cancel
from overlayscope.union import HitState, LayerStack, StackLayer, same_content
from overlayscope.union.copyup import CopyUpKind, copy_up_kind
from overlayscope.union.diff import meta_differences
from overlayscope.union.host_stacks import build_stack, host_stack, stack_layers, starts_as_copy
from overlayscope.usage.footprint import UsageProblem

Progress = Callable[[ScanProgress], None]


@record
class CopiedUp:
    """A file of the rw layer that is a copy of a file beneath it."""

    path: str
    size: int  # bytes of the copy in the rw layer
    content: str | None  # "same", "changed", or None when it could not be read
    meta: tuple[str, ...]  # metadata fields that differ from the file beneath
    moved: bool = False  # copied up, then renamed or hard-linked here (content not compared)
    nlink: int = 1  # names of its inode in the rw layer: more than 1, a hard link


@record
class Added:
    """A file of the rw layer with no file beneath it."""

    path: str
    size: int
    nlink: int = 1  # names of its inode in the rw layer: more than 1, a hard link


@record
class CopyUps:
    """Copy-ups and additions in one container's writable layer (apparent bytes).

    Counts are of paths; bytes count each inode once (a copy-up made through a
    hard link is one file with two names).
    """

    container: str
    copied_up_files: int
    copied_up_bytes: int
    metadata_only_files: int  # copied up with the very same content
    metadata_only_bytes: int
    added_files: int
    added_bytes: int
    largest_copy_ups: tuple[CopiedUp, ...]  # by size, largest first
    largest_additions: tuple[Added, ...]


def copy_ups(
    stack: LayerStack,
    container_id: str,
    *,
    top: int = 10,
    cancel: threading.Event | None = None,
    copied_from_below: bool = False,
) -> CopyUps:
    """Copy-ups and additions of `stack`'s top layer, against the layers beneath.

    `copied_from_below`: the top layer began as a copy of the layer beneath it (Docker's legacy
    overlay driver copies the init layer's upper dir into a new rw layer): a file as that
    copy left it is neither a copy-up nor an addition.
    """
    below = stack.below()
    upper = stack.top
    ups: list[CopiedUp] = []
    adds: list[Added] = []
    up_inodes: dict[int, int] = {}
    same_inodes: dict[int, int] = {}
    add_inodes: dict[int, int] = {}
    for n, entry in enumerate(upper.index.entries.values()):
        if n % 1024 == 0:
            check_cancel(cancel)
        if entry.kind is not Kind.FILE:
            continue
        prev = below.winner(entry.path) if below.layers else None
        if (
            copied_from_below
            and prev is not None
            and prev.position == 0
            and _as_copied(prev.entry, entry)
        ):
            continue
        old = (
            None
            if prev is None or _hidden_by_upper(stack, prev.position, entry.path)
            else prev.entry
        )
        kind = copy_up_kind(entry, old)  # the one classification (union/copyup.py)
        if kind is None:
            adds.append(Added(entry.path, entry.size, entry.nlink))
            add_inodes[entry.ino] = entry.size
            continue
        if kind is CopyUpKind.MOVED or prev is None:
            # copied up, then renamed or hard-linked here: where from, only the
            # kernel's file handle says, so its content is not compared
            ups.append(CopiedUp(entry.path, entry.size, None, (), True, entry.nlink))
            up_inodes[entry.ino] = entry.size
            continue
        content = _content(
            below.layers[prev.position],
            prev.entry.path,
            upper,
            entry.path,
            prev.entry.size,
            entry.size,
        )
        meta = tuple(meta_differences(prev.entry, entry))
        ups.append(CopiedUp(entry.path, entry.size, content, meta, nlink=entry.nlink))
        up_inodes[entry.ino] = entry.size
        if content == "same":
            same_inodes[entry.ino] = entry.size
    for ino in up_inodes:
        add_inodes.pop(ino, None)  # a new name for a copied-up inode adds no bytes
    return CopyUps(
        container=container_id,
        copied_up_files=len(ups),
        copied_up_bytes=sum(up_inodes.values()),
        metadata_only_files=sum(1 for u in ups if u.content == "same"),
        metadata_only_bytes=sum(same_inodes.values()),
        added_files=len(adds),
        added_bytes=sum(add_inodes.values()),
        largest_copy_ups=tuple(sorted(ups, key=lambda u: (-u.size, u.path))[: max(top, 0)]),
        largest_additions=tuple(sorted(adds, key=lambda a: (-a.size, a.path))[: max(top, 0)]),
    )


def _as_copied(old: Entry, new: Entry) -> bool:
    """`new` is the file `old` as a copy (new inode) left it: same size, mode, owner, mtime."""
    return (old.size, old.mode, old.uid, old.gid, old.mtime_ns) == (
        new.size,
        new.mode,
        new.uid,
        new.gid,
        new.mtime_ns,
    )


def _hidden_by_upper(stack: LayerStack, below_position: int, path: str) -> bool:
    """Is the file beneath cut off by the rw layer itself (an opaque dir above it)?"""
    for hit in stack.resolve(path).hits:
        if hit.position == below_position + 1:
            return hit.state is HitState.HIDDEN_BY_PARENT
    return True


def _content(
    lower: StackLayer, lower_path: str, upper: StackLayer, path: str, old: int, new: int
) -> str | None:
    if old != new:
        return "changed"
    try:
        same = same_content(lower.content_dir, lower_path, upper.content_dir, path)
    except (OSError, OverlayscopeError):
        return None  # changed or gone since the scan (a live container)
    return "same" if same else "changed"


def container_copy_ups(
    host: Host,
    container: Container,
    *,
    top: int = 10,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> CopyUps:
    """Scan one container's layers and report its copy-ups and additions."""
    stack = build_stack(host, container, cancel=cancel, progress=progress)
    return copy_ups(
        stack,
        container.id,
        top=top,
        cancel=cancel,
        copied_from_below=starts_as_copy(host, list(stack.layers)),
    )


def copy_ups_by_container(
    host: Host,
    containers: Iterable[Container],
    *,
    top: int = 10,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    batch: int = 8,
) -> tuple[dict[str, CopyUps], list[UsageProblem]]:
    """Copy-ups of many containers, scanning each image's layers once for all its containers.

    A container whose layer chain is broken gets no entry and a problem instead.
    """
    groups: dict[str, list[tuple[Container, list[tuple[str, str]]]]] = {}
    problems: list[UsageProblem] = []
    for c in containers:
        try:
            groups.setdefault(c.image_key, []).append((c, stack_layers(host, c)))
        except OverlayscopeError as exc:
            problems.append(UsageProblem(c.path, "error", exc.message))
    shared = {
        image: list(dict.fromkeys(lid for _, ls in members for lid, role in ls if role == "image"))
        for image, members in groups.items()
    }
    own = sum(1 for ms in groups.values() for _, ls in ms for _, role in ls if role != "image")
    counter = _Counter(progress, own + sum(len(ids) for ids in shared.values()))
    out: dict[str, CopyUps] = {}
    for image, members in groups.items():
        image_indexes = counter.scan(host, shared[image], cancel)
        for start in range(0, len(members), batch):
            chunk = members[start : start + batch]
            tops = [(lid, role) for _, layers in chunk for lid, role in layers if role != "image"]
            indexes = counter.scan(host, [lid for lid, _ in tops], cancel)
            indexes.update(image_indexes)
            for c, layers in chunk:
                scanned = [StackLayer(lid, role, indexes[lid]) for lid, role in layers]
                stack = host_stack(host, scanned)
                out[c.key] = copy_ups(
                    stack,
                    c.id,
                    top=top,
                    cancel=cancel,
                    copied_from_below=starts_as_copy(host, scanned),
                )
    return out, problems


class _Counter:
    """Progress over several scans, as one count of layers."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = max(total, 0)
        self.done = 0
        self.entries = 0

    def scan(
        self, host: Host, layer_ids: Sequence[str], cancel: threading.Event | None
    ) -> dict[str, LayerIndex]:
        if not layer_ids:
            return {}
        done, entries, progress, total = self.done, self.entries, self.progress, self.total

        def report(p: ScanProgress) -> None:
            if progress is not None:
                progress(ScanProgress(done + p.layers_done, total, entries + p.entries, p.current))

        indexes = scan_layers(
            {lid: host.layers[lid].content_dir for lid in layer_ids},
            cancel=cancel,
            progress=report,
            overlay_xattrs=host.overlay_xattrs,
        )
        self.done += len(layer_ids)
        self.entries += sum(len(i) for i in indexes.values())
        return indexes
