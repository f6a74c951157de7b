"""Layers that hold a whole filesystem, seen as the diffs overlayfs would stack.

Docker's legacy `overlay` driver keeps each image layer as a full `root/` tree: the tree
beneath hard-linked (`copy.DirCopy(..., copy.Hardlink)`), then the layer's tar applied.
Stacked as they are, a lower full tree would bring back what an upper layer deleted. So a
full tree with another beneath it is turned into what it changed:

- an entry is its own when the layer beneath has nothing at that path, another kind of
  entry there, or (regular files) another inode — an unchanged file is the very inode
  beneath, hard-linked — or (dirs, symlinks, devices, which the copy makes anew with the
  same mode, owner and mtime) another mode, owner or mtime, or another target (symlinks)
  or device number;
- a path of the layer beneath that this one lacks, under a dir it keeps, is deleted: a
  whiteout is made for it (made here, not found on disk);
- the dirs on the way to any of these are kept, so that lookups reach them.

The bottom full tree is its own diff. The merged view of the derived stack is exactly the
top full tree; what changes is only which layer each entry is attributed to.

A container's rw layer is an upper dir over the image's top full tree alone (`lower-id`),
not over its init layer: its `upper/` began as a copy of the init layer's (moby `Create`).
So an init-layer entry the rw `upper/` lacks was deleted there — with no whiteout on disk,
since nothing beneath it in the real mount held it (`rm /.dockerenv`). A whiteout is made
for it in the rw layer, as for a full tree, so that the init layer cannot bring it back.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence

from overlayscope.scan.entry import Entry, Kind, LayerIndex, parent_of
from overlayscope.union.lookup import StackLayer

_WHITEOUT_MODE = stat.S_IFCHR  # a 0/0 character device, as overlayfs writes one


def as_diffs(layers: Sequence[StackLayer], full_trees: set[str]) -> list[StackLayer]:
    """`layers` (top → bottom), each full tree (by id in `full_trees`) with another full
    tree beneath it replaced by the diff between the two, and an upper dir copied from
    the upper dir beneath it (a rw layer over its init layer) given whiteouts for what it
    no longer holds."""
    out = list(layers)
    for i, layer in enumerate(layers):
        if layer.id not in full_trees:
            if copied_from_below(layers, i, full_trees):
                out[i] = StackLayer(layer.id, layer.role, cover(layer.index, layers[i + 1].index))
            continue
        below = next((b for b in layers[i + 1 :] if b.id in full_trees), None)
        if below is not None:
            out[i] = StackLayer(layer.id, layer.role, derive_diff(layer.index, below.index))
    return out


def copied_from_below(layers: Sequence[StackLayer], i: int, full_trees: set[str]) -> bool:
    """Whether layer `i` is an upper dir over another upper dir that stands on a full tree:
    the legacy driver mounts the top one over that full tree alone, its content a copy of
    the one beneath (a rw layer and its init layer)."""
    return (
        i + 2 < len(layers)
        and layers[i + 1].id not in full_trees
        and layers[i + 2].id in full_trees
    )


def cover(upper: LayerIndex, copied: LayerIndex) -> LayerIndex:
    """The upper dir `upper`, made from a copy of `copied`, with a whiteout for every path
    of `copied` it lacks under a plain dir it keeps (under an opaque dir, or under a dir
    it lacks too, nothing more is needed)."""
    entries = {entry.path: entry for entry in upper}
    for old in copied:
        if old.path == "/" or upper.get(old.path) is not None:
            continue
        parent = upper.get(parent_of(old.path))
        if parent is not None and parent.kind is Kind.DIR:
            entries[old.path] = _whiteout(old)
    return _index(upper, entries)


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
    return _index(upper, entries)


def _index(upper: LayerIndex, entries: dict[str, Entry]) -> LayerIndex:
    """A diff index of `entries`, in `upper`'s content dir, with its problems."""
    children: dict[str, list[str]] = {}
    for path in entries:
        if path != "/":
            children.setdefault(parent_of(path), []).append(path)
    for names in children.values():
        names.sort(key=lambda p: p.encode("utf-8", "surrogateescape"))
    return LayerIndex(upper.content_dir, entries, children, list(upper.problems))


def _same(new: Entry, old: Entry) -> bool:
    """Whether `new` is `old` as the copy beneath left it: a regular file hard-linked (the
    very inode), a dir, symlink or device made anew with the same facts. The copy keeps
    every mtime (symlinks' too), so a symlink a step re-made with the same target is that
    step's: its tar carries it, as `docker diff` compares mtimes of non-dirs."""
    if new.kind is not old.kind:
        return False
    if new.kind is Kind.FILE:
        return new.ino == old.ino
    if (new.mode, new.uid, new.gid, new.mtime_ns) != (old.mode, old.uid, old.gid, old.mtime_ns):
        return False
    if new.kind is Kind.SYMLINK:
        return new.target == old.target
    return new.kind.is_dir or new.rdev == old.rdev


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
