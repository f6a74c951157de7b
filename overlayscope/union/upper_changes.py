"""What `podman diff` reports: containers/storage's walk of the upper dir alone.

containers/storage answers `Changes` for its overlay driver with
`archive.OverlayChanges(lowerDiffDirs, upperDir)` (`pkg/archive/changes.go: changes`,
`changes_linux.go`), not with Docker's comparison of two merged trees. Its rules, kept here:

- every entry of the upper dir is visited in path order; a 0/0 whiteout is "D";
- an opaque dir is "D" (deleted and re-made) when a lower layer holds that path and no
  whiteout in that layer hides it or a parent; the walk goes on into it;
- anything else is "A", unless some lower layer, top first, holds the path (unless that
  layer has a whiteout there or on a parent, which ends the search: "A"): then "C" — but
  a dir whose size, mode and mtime (`sameFsTime`) equal the lower one's is not reported;
- the parents of an "A" or "D", up to the root, are "C" unless already reported (a dir
  skipped as unchanged was not: it becomes "C" when something is added or deleted in it).

What this does not copy: the engine's `os.Stat` follows symlinks in the lower layers,
which could lead out of the layer; here a lower entry is looked up without following any.
Each change carries the same facts as Docker's (`changes.py`): copy-up, content, metadata.
"""

from __future__ import annotations

import posixpath

from overlayscope.scan.entry import Entry, Kind, parent_of
from overlayscope.union.copyup import moved_copy_up
from overlayscope.union.diff import Change, ChangeKind, Differ, same_fs_time
from overlayscope.union.layerfiles import LayerFiles
from overlayscope.union.lookup import StackLayer
from overlayscope.union.stack import LayerStack


def upper_changes(stack: LayerStack, *, compare_content: bool = True) -> list[Change]:
    """`podman diff` of the stack's top layer over the layers beneath it, by path."""
    if not stack.layers:
        return []
    top, lowers = stack.layers[0], stack.layers[1:]
    out: list[Change] = []
    with LayerFiles() as files:
        differ = Differ(stack, stack.below(), compare_content, files)
        reported: set[str] = set()  # `changedDirs`: dirs seen or reported
        for path, entry in _walk(top):
            change = _change(differ, stack, lowers, path, entry)
            if change is None:
                continue  # an unchanged dir: not reported, and not marked seen either
            if entry.kind.is_dir:
                reported.add(path)
            if change.kind is not ChangeKind.CHANGED:
                for parent in _parents(path):  # every one up to the root, not the nearest
                    if parent not in reported:
                        reported.add(parent)
                        out.append(_parent_change(differ, stack, parent))
            out.append(change)
    out.sort(key=lambda change: change.path.encode("utf-8", "surrogateescape"))
    return out


def _walk(layer: StackLayer) -> list[tuple[str, Entry]]:
    """Every entry of the layer but its root, parents first, names in byte order (as the
    engine's `filepath.Walk`)."""
    return [(e.path, e) for e in layer.index if e.path != "/"]


def _change(
    differ: Differ, stack: LayerStack, lowers: tuple[StackLayer, ...], path: str, entry: Entry
) -> Change | None:
    top_id = stack.layers[0].id
    if entry.kind is Kind.WHITEOUT:
        return _deleted(differ, stack, path, entry)
    if entry.kind is Kind.OPAQUE_DIR and _deleted_beneath(lowers, path):
        return _deleted(differ, stack, path, entry)
    below = _lower_entry(lowers, path)
    if below is None:
        moved = moved_copy_up(entry)  # copied up, then renamed or hard-linked here
        return Change(
            path, ChangeKind.ADDED, str(entry.kind), entry.size, moved,
            layer_id=top_id, nlink=entry.nlink,
        )  # fmt: skip
    lower = below[1]
    if (
        entry.kind.is_dir
        and lower.kind.is_dir
        and entry.size == lower.size
        and entry.mode == lower.mode
        and same_fs_time(entry.mtime_ns, lower.mtime_ns)
    ):
        return None
    return _changed(differ, stack, path, entry)


def _changed(differ: Differ, stack: LayerStack, path: str, entry: Entry) -> Change:
    old = stack.below().winner(path)
    if old is None:  # present beneath, yet hidden there (an opaque dir between): no facts
        return Change(
            path, ChangeKind.CHANGED, str(entry.kind), entry.size,
            layer_id=stack.layers[0].id, nlink=entry.nlink,
        )  # fmt: skip
    hidden = _under_opaque(stack.layers[0], path)
    return differ.changed(path, (old.entry, old.position, ()), (entry, 0, ()), hidden=hidden)


def _under_opaque(top: StackLayer, path: str) -> bool:
    """A parent of `path` is an opaque dir of the top layer: what lies beneath is cut off."""
    while path != "/":
        path = parent_of(path)
        entry = top.index.get(path)
        if entry is not None and entry.kind is Kind.OPAQUE_DIR:
            return True
    return False


def _parent_change(differ: Differ, stack: LayerStack, path: str) -> Change:
    entry = stack.layers[0].index.get(path)
    if entry is None:  # cannot be: a parent of an entry of the layer is in the layer
        raise AssertionError(path)
    return _changed(differ, stack, path, entry)


def _deleted(differ: Differ, stack: LayerStack, path: str, entry: Entry) -> Change:
    old = stack.below().winner(path)
    if old is None:
        return Change(
            path, ChangeKind.DELETED, str(entry.kind), entry.size, layer_id=stack.layers[0].id
        )
    return differ.deleted(path, (old.entry, old.position, ()))


def _lower_entry(lowers: tuple[StackLayer, ...], path: str) -> tuple[int, Entry] | None:
    """The first lower layer (top first) holding `path`, as OverlayChanges searches: a
    whiteout at the path or a parent in a layer ends the search with nothing."""
    for pos, layer in enumerate(lowers):
        if _whited_out(layer, path):
            return None
        found = layer.index.get(path)
        if found is not None:
            return pos, found
    return None


def _deleted_beneath(lowers: tuple[StackLayer, ...], path: str) -> bool:
    """`overlayDeletedFile` for an opaque dir: did a lower layer hold `path`?"""
    for layer in lowers:
        found = layer.index.get(path)
        if found is not None:
            return found.kind is not Kind.WHITEOUT
        if any(_is_whiteout(layer, p) for p in _parents(path)):
            return False
    return False


def _whited_out(layer: StackLayer, path: str) -> bool:
    return _is_whiteout(layer, path) or any(_is_whiteout(layer, p) for p in _parents(path))


def _is_whiteout(layer: StackLayer, path: str) -> bool:
    found = layer.index.get(path)
    return found is not None and found.kind is Kind.WHITEOUT


def _parents(path: str) -> list[str]:
    """The parent dirs of `path`, nearest first, the root excluded."""
    out = []
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out
