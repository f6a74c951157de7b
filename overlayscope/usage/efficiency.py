"""Image efficiency, as dive computes it, and the bytes no container can see.

dive (wagoodman/dive, `filetree/efficiency.go`, `image/analysis.go`) reads an
image's layer tarballs. An image layer's `diff/` is that tarball applied, so
the same walk works on disk, with the tar's sizes: a regular file counts its
size (a second link to an inode in the same layer is a tar hard link: 0),
everything else 0. Bottom layer first, every *leaf* of each layer (an entry
with no children in that layer: a file, a symlink, an empty dir, a whiteout)
is one sighting of its path:

- a whiteout of a dir counts the bytes of everything beneath that dir in the
  layers below; a whiteout of anything else counts 0;
- a path sighted in two or more layers is *inefficient*; its `cumulative_size`
  is the sum of its sightings, and `wasted_bytes` the sum over such paths
  (every copy, the one still visible too: that is dive's figure);
- `score` = Σ per path of its smallest sighting / Σ of all sightings (1.0
  when nothing has a size);
- `user_size` is the size of every layer but the bottom one, and
  `user_wasted_percent` = `wasted_bytes / user_size` (a ratio, as dive's).

So, like dive, a dir created in one layer and deleted in a later one is not
"wasted" (only its path's single whiteout sighting is seen), and an opaque dir
hides nothing. `hidden_bytes` answers the plainer question with overlayfs's
own rules: bytes of regular files, in any layer, that the image's merged view
never shows (overwritten, deleted, or under an opaque dir): bytes every pull
downloads and no container can read.

Two of dive's accidents are not copied: a whiteout of a path no lower layer
holds stops dive's walk of that layer (the rest of it goes uncounted); here it
is skipped and the walk goes on. And with no user bytes (`user_size` 0),
dive's ratio is NaN or infinite; here it is None.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from overlayscope.errors import UnknownReference
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import Entry, Kind, LayerIndex, ScanProgress
from overlayscope.scan.progress import check_cancel
from overlayscope.union import HitState, LayerStack
from overlayscope.union.host_stacks import build_stack

Progress = Callable[[ScanProgress], None]


@dataclass(frozen=True, slots=True)
class WastedPath:
    """A path dive finds in more than one layer."""

    path: str
    count: int  # layers it is sighted in (dive's "Count")
    cumulative_size: int  # sum of its sizes in those layers (dive's "Wasted Space")


@dataclass(frozen=True, slots=True)
class LayerEfficiency:
    """One image layer, bottom first."""

    id: str
    created_by: str
    size: int | None  # the daemon's layer size
    content_size: int  # dive's layer size: regular file bytes, a hard-linked inode once
    hidden_bytes: int  # regular-file bytes of this layer the image's merged view never shows


@dataclass(frozen=True, slots=True)
class Efficiency:
    image: str
    tags: tuple[str, ...]
    score: float  # dive's efficiency, 0..1
    wasted_bytes: int  # dive's wastedBytes
    user_size: int  # dive's user size: every layer but the bottom one
    user_wasted_percent: float | None  # wasted_bytes / user_size, a ratio (dive's name)
    hidden_bytes: int  # bytes in files the merged image never shows
    size: int | None  # the daemon's image Size
    layers: tuple[LayerEfficiency, ...]
    paths: tuple[WastedPath, ...]  # every inefficient path, largest cumulative_size first

    @property
    def user_wasted_bytes(self) -> int:
        """The numerator of `user_wasted_percent`: dive sets all wasted bytes against user_size."""
        return self.wasted_bytes


def image_efficiency(
    host: Host,
    image: Image | Container,
    *,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Efficiency:
    """Scan an image's layers (a container: its image's) and compute its efficiency."""
    if isinstance(image, Container):
        found = host.image_of(image)
        if found is None:
            raise UnknownReference(
                f"container {image.id[:12]} names image {image.image_id or image.image_ref}, "
                "which is not among the images",
                hint="run `overlayscope check` to see what is damaged",
            )
        image = found
    stack = build_stack(host, image, cancel=cancel, progress=progress)
    return stack_efficiency(stack, image, cancel=cancel)


def stack_efficiency(
    stack: LayerStack, image: Image, *, cancel: threading.Event | None = None
) -> Efficiency:
    """Efficiency of an image whose layers are already scanned into `stack` (top first)."""
    bottom_up = [layer.index for layer in reversed(stack.layers)]
    sightings, content = _dive(bottom_up, cancel)
    wasted = sum(s.cumulative for s in sightings.values() if s.count > 1)
    minimum = sum(s.minimum for s in sightings.values())
    cumulative = sum(s.cumulative for s in sightings.values())
    user = sum(content[1:])
    hidden = _hidden_bytes(stack, cancel)
    created = [il.created_by for il in image.layers]
    sizes = [il.size for il in image.layers]
    layers = tuple(
        LayerEfficiency(
            id=layer.id,
            created_by=created[i] if i < len(created) else "",
            size=sizes[i] if i < len(sizes) else None,
            content_size=content[i],
            hidden_bytes=hidden.get(layer.id, 0),
        )
        for i, layer in enumerate(reversed(stack.layers))
    )
    paths = sorted(
        (WastedPath(p, s.count, s.cumulative) for p, s in sightings.items() if s.count > 1),
        key=lambda w: (-w.cumulative_size, os.fsencode(w.path)),
    )
    return Efficiency(
        image=image.id,
        tags=image.tags,
        score=1.0 if cumulative == 0 else minimum / cumulative,
        wasted_bytes=wasted,
        user_size=user,
        user_wasted_percent=_ratio(wasted, user),
        hidden_bytes=sum(hidden.values()),
        size=image.size,
        layers=layers,
        paths=tuple(paths),
    )


def _ratio(wasted: int, user: int) -> float | None:
    if user == 0:
        return 0.0 if wasted == 0 else None
    return wasted / user


class _Sighting:
    __slots__ = ("count", "cumulative", "minimum")

    def __init__(self) -> None:
        self.count = 0
        self.cumulative = 0
        self.minimum = -1

    def add(self, size: int) -> None:
        self.count += 1
        self.cumulative += size
        if self.minimum < 0 or size < self.minimum:
            self.minimum = size


def _dive(
    layers: list[LayerIndex], cancel: threading.Event | None
) -> tuple[dict[str, _Sighting], list[int]]:
    """dive's walk over layers bottom first: sightings per path, and each layer's size."""
    view = _StackedView()
    sightings: dict[str, _Sighting] = {}
    content: list[int] = []
    for index in layers:
        check_cancel(cancel)
        sizes = tar_sizes(index)
        content.append(sum(sizes.values()))
        for entry in index.entries.values():
            if entry.path == "/" or index.children.get(entry.path):
                continue  # not a leaf of this layer
            if entry.kind is Kind.WHITEOUT:
                below = view.nodes.get(entry.path)
                if below is None:
                    continue  # whites out nothing (dive would stop here; see module doc)
                size = view.subtree_size(entry.path) if below[0] else 0
            else:
                size = sizes.get(entry.path, 0)
            sighting = sightings.get(entry.path)
            if sighting is None:
                sighting = sightings[entry.path] = _Sighting()
            sighting.add(size)
        view.stack(index, sizes)
    return sightings, content


def tar_sizes(index: LayerIndex) -> dict[str, int]:
    """The size each regular file has in the layer's tarball (dive's FileInfo.Size).

    Docker's tar writer walks in lexical order and writes the first name of a
    multiply-linked inode with its data, later names as hard links of size 0.
    """
    first: dict[int, str] = {}
    sizes: dict[str, int] = {}
    for entry in index.entries.values():
        if entry.kind is not Kind.FILE:
            continue
        if entry.nlink > 1:
            seen = first.get(entry.ino)
            if seen is not None and _walk_key(seen) < _walk_key(entry.path):
                continue
            if seen is not None:
                del sizes[seen]
            first[entry.ino] = entry.path
        sizes[entry.path] = entry.size
    return sizes


def _walk_key(path: str) -> list[bytes]:
    return [os.fsencode(name) for name in path.split("/")]


class _StackedView:
    """The layers seen so far stacked as dive stacks them: whiteouts remove, opaque is ignored."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[bool, int]] = {}  # path -> (is_dir, size)
        self.kids: dict[str, set[str]] = {}

    def stack(self, index: LayerIndex, sizes: dict[str, int]) -> None:
        for entry in index.entries.values():
            if entry.path == "/":
                continue
            if entry.kind is Kind.WHITEOUT:
                self._remove(entry.path)
            else:
                self._put(entry, sizes.get(entry.path, 0))

    def _put(self, entry: Entry, size: int) -> None:
        path = entry.path
        if path not in self.nodes:
            parent = path.rsplit("/", 1)[0] or "/"
            self.kids.setdefault(parent, set()).add(path)
        self.nodes[path] = (entry.kind.is_dir, size)

    def _remove(self, path: str) -> None:
        if path not in self.nodes:
            return
        parent = path.rsplit("/", 1)[0] or "/"
        self.kids.get(parent, set()).discard(path)
        pending = [path]
        while pending:
            p = pending.pop()
            self.nodes.pop(p, None)
            pending.extend(self.kids.pop(p, ()))

    def subtree_size(self, path: str) -> int:
        total = 0
        pending = [path]
        while pending:
            p = pending.pop()
            total += self.nodes.get(p, (False, 0))[1]
            pending.extend(self.kids.get(p, ()))
        return total


def _hidden_bytes(stack: LayerStack, cancel: threading.Event | None) -> dict[str, int]:
    """Per layer id: bytes of regular files the merged view never shows (each inode once)."""
    hidden: dict[int, dict[int, int]] = {}  # position -> inode -> size
    shown: dict[int, set[int]] = {}
    for n, res in enumerate(stack.resolutions()):
        if n % 4096 == 0:
            check_cancel(cancel)
        for hit in res.hits:
            if hit.entry.kind is not Kind.FILE:
                continue
            if hit.state is HitState.WINS:
                shown.setdefault(hit.position, set()).add(hit.entry.ino)
            else:
                hidden.setdefault(hit.position, {})[hit.entry.ino] = hit.entry.size
    out: dict[str, int] = {}
    for position, inodes in hidden.items():
        visible = shown.get(position, set())
        out[stack.layers[position].id] = sum(s for ino, s in inodes.items() if ino not in visible)
    return out
