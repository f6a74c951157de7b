"""Layers that hold a whole filesystem, seen as the diffs overlayfs would stack.

Docker's legacy `overlay` driver keeps each image layer as a full `root/` tree: the tree
beneath hard-linked (`copy.DirCopy(..., copy.Hardlink)`), then the layer's tar applied.
Stacked as they are, a lower full tree would bring back what an upper layer deleted. So a
full tree with another beneath it is turned into what it changed:

- an entry is its own when the layer beneath has nothing at that path, another kind of
  entry there, or (regular files) another inode — an unchanged file is the very inode
  beneath, hard-linked — or (dirs, symlinks, devices, which the copy makes anew) another
  mode or owner, or another mtime (dirs), target (symlinks) or device number;
- a path of the layer beneath that this one lacks, under a dir it keeps, is deleted: a
  whiteout is made for it (made here, not found on disk);
- the dirs on the way to any of these are kept, so that lookups reach them.

The bottom full tree is its own diff. The merged view of the derived stack is exactly the
top full tree; what changes is only which layer each entry is attributed to.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence

from overlayscope.scan.entry import Entry, Kind, LayerIndex, parent_of
from overlayscope.union.lookup import StackLayer

_WHITEOUT_MODE = stat.S_IFCHR  # a 0/0 character device, as overlayfs writes one


def as_diffs(layers: Sequence[StackLayer], full_trees: set[str]) -> list[StackLayer]:
    """`layers` (top → bottom), each full tree (by id in `full_trees`) with another full
    tree beneath it replaced by the diff between the two."""
    out = list(layers)
    for i, layer in enumerate(layers):
        if layer.id not in full_trees:
            continue
        below = next((b for b in layers[i + 1 :] if b.id in full_trees), None)
        if below is not None:
            out[i] = StackLayer(layer.id, layer.role, derive_diff(layer.index, below.index))
    return out


def derive_diff(upper: LayerIndex, lower: LayerIndex) -> LayerIndex:
    """What the full tree `upper` changed over the full tree `lower`, as a diff index."""
    entries: dict[str, Entry] = {}

    def keep(entry: Entry) -> None:
        entries[entry.path] = entry
        path = entry.path
        while path != "/":
            path = parent_of(path)
            if path in entries:
                return
            found = upper.get(path)
            if found is None:  # cannot be: the parents of an upper entry are in upper
                return
            entries[path] = found

    for entry in upper:
        if entry.path == "/":
            entries["/"] = entry
            continue
        old = lower.get(entry.path)
        if old is None or not _same(entry, old):
            keep(entry)
    for old in lower:
        if old.path == "/" or upper.get(old.path) is not None:
            continue
        parent = upper.get(parent_of(old.path))
        if parent is None or not parent.kind.is_dir:
            continue  # its dir went too (one whiteout there), or became a file
        keep(_whiteout(old))
    children: dict[str, list[str]] = {}
    for path in entries:
        if path != "/":
            children.setdefault(parent_of(path), []).append(path)
    for names in children.values():
        names.sort(key=lambda p: p.encode("utf-8", "surrogateescape"))
    return LayerIndex(upper.content_dir, entries, children, list(upper.problems))


def _same(new: Entry, old: Entry) -> bool:
    """Whether `new` is `old` as the copy beneath left it: a regular file hard-linked (the
    very inode), a dir, symlink or device made anew with the same facts."""
    if new.kind is not old.kind:
        return False
    if new.kind is Kind.FILE:
        return new.ino == old.ino
    if (new.mode, new.uid, new.gid) != (old.mode, old.uid, old.gid):
        return False
    if new.kind.is_dir:
        return new.mtime_ns == old.mtime_ns
    if new.kind is Kind.SYMLINK:
        return new.target == old.target
    return new.rdev == old.rdev


def _whiteout(old: Entry) -> Entry:
    return Entry(
        path=old.path,
        kind=Kind.WHITEOUT,
        mode=_WHITEOUT_MODE,
        uid=0,
        gid=0,
        size=0,
        blocks=0,
        mtime_ns=0,
        ctime_ns=0,
        ino=0,
        nlink=1,
    )
