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

The walk that computes these, a dir at a time rather than a path at a time, is in
`efficiency_walk.py`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from overlayscope.errors import UnknownReference
from overlayscope.record import record
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import ScanProgress
from overlayscope.union import LayerStack
from overlayscope.union.host_stacks import build_stack
from overlayscope.usage.efficiency_walk import image_figures, tar_sizes

__all__ = [
    "Efficiency",
    "LayerEfficiency",
    "WastedPath",
    "image_efficiency",
    "stack_efficiency",
    "tar_sizes",
]

Progress = Callable[[ScanProgress], None]


@record
class WastedPath:
    """A path dive finds in more than one layer."""

    path: str
    count: int  # layers it is sighted in (dive's "Count")
    cumulative_size: int  # sum of its sizes in those layers (dive's "Wasted Space")


@record
class LayerEfficiency:
    """One image layer, bottom first."""

    id: str
    created_by: str
    size: int | None  # the daemon's layer size
    content_size: int  # dive's layer size: regular file bytes, a hard-linked inode once
    hidden_bytes: int  # regular-file bytes of this layer the image's merged view never shows


@record
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
    figures, hidden = image_figures(stack, cancel)
    content = figures.content
    wasted = sum(total for _, _, total in figures.wasted)
    user = sum(content[1:])
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
        (WastedPath(path, count, total) for path, count, total in figures.wasted),
        key=lambda w: (-w.cumulative_size, os.fsencode(w.path)),
    )
    cumulative = figures.cumulative
    return Efficiency(
        image=image.id,
        tags=image.tags,
        score=1.0 if cumulative == 0 else figures.minimum / cumulative,
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
