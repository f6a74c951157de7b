"""Totals of a container's changes: bytes added, changed, deleted, and copied up for nothing."""

from __future__ import annotations

from collections.abc import Sequence

from overlayscope.record import record
from overlayscope.scan.entry import Kind, LayerIndex
from overlayscope.scan.sizes import layer_sums
from overlayscope.union.diff import Change, ChangeKind
from overlayscope.union.stack import LayerStack


@record
class ChangeTotals:
    """Counts and bytes of a change list.

    Counts are of change lines, directories included, as the engine's diff lists them
    (`copied_up` and `metadata_only`: of files). Bytes are of non-directories only, and
    count each inode once: a file and its hard links added together are one file's bytes,
    as the engine's `SizeRw` and `du` count them.
    """

    added: int
    changed: int
    deleted: int
    added_bytes: int
    changed_bytes: int
    deleted_bytes: int  # what the deletions hide beneath, whole deleted trees included
    copied_up: int  # "C" entries that are copy-ups of what was beneath
    copied_up_bytes: int
    metadata_only: int  # copy-ups whose data is the same as beneath: only metadata changed
    metadata_only_bytes: int


def change_totals(stack: LayerStack, changes: Sequence[Change]) -> ChangeTotals:
    """Sum `changes` of `stack` (a container's rw layer over the rest)."""
    counts = {kind: 0 for kind in ChangeKind}
    sizes = {kind: 0 for kind in ChangeKind}
    copied = copied_bytes = meta_only = meta_only_bytes = 0
    below = stack.below()
    linked = _Linked(stack)
    for change in changes:
        counts[change.kind] += 1
        is_dir = change.entry in (Kind.DIR, Kind.OPAQUE_DIR)
        if change.kind is ChangeKind.DELETED:
            # a deleted non-dir hid what its change describes: its size, no lookup needed
            if is_dir:
                sizes[change.kind] += hidden_bytes(below, change.path)
            elif linked.first(change):  # two deleted names of one inode: its bytes once
                sizes[change.kind] += change.size
            continue
        if is_dir:
            continue
        first = linked.first(change)  # False for a further name of a counted inode
        if first:
            sizes[change.kind] += change.size
        if change.copy_up and change.entry == Kind.FILE:  # file copy-ups, as every front end counts
            copied += 1
            copied_bytes += change.size if first else 0
            if change.content == "same":
                meta_only += 1
                meta_only_bytes += change.size if first else 0
    return ChangeTotals(
        added=counts[ChangeKind.ADDED],
        changed=counts[ChangeKind.CHANGED],
        deleted=counts[ChangeKind.DELETED],
        added_bytes=sizes[ChangeKind.ADDED],
        changed_bytes=sizes[ChangeKind.CHANGED],
        deleted_bytes=sizes[ChangeKind.DELETED],
        copied_up=copied,
        copied_up_bytes=copied_bytes,
        metadata_only=meta_only,
        metadata_only_bytes=meta_only_bytes,
    )


class _Linked:
    """Which changed files share an inode: the first of its names met counts its bytes."""

    def __init__(self, stack: LayerStack) -> None:
        self._layers = {layer.id: layer for layer in stack.layers}
        self._inodes: dict[str, dict[str, int]] = {}  # layer id -> path -> ino (nlink > 1)
        self._seen: set[tuple[str, int]] = set()

    def first(self, change: Change) -> bool:
        lid = change.layer_id
        if lid is None or lid not in self._layers:
            return True
        inodes = self._inodes.get(lid)
        if inodes is None:
            inodes = self._inodes[lid] = _multiply_linked(self._layers[lid].index)
        ino = inodes.get(change.path)
        if ino is None:
            return True
        if (lid, ino) in self._seen:
            return False
        self._seen.add((lid, ino))
        return True


def _multiply_linked(index: LayerIndex) -> dict[str, int]:
    """Path -> inode of a layer's non-directories with more than one link."""
    c = index.columns
    if c is None:
        return {e.path: e.ino for e in index.entries.values() if e.nlink > 1 and not e.kind.is_dir}
    return {c.path_at(i): c.ino[i] for i in layer_sums(c).linked}  # kept with the index


def hidden_bytes(stack: LayerStack, path: str) -> int:
    """Bytes of non-directories visible at `path` in `stack`, its whole subtree included,
    each inode once (a file and its hard links in the deleted tree: one file's bytes)."""
    winner = stack.winner(path)
    if winner is None:
        return 0
    if not winner.entry.kind.is_dir:
        return winner.entry.size
    total = 0
    seen: set[tuple[int, int]] = set()  # (layer position, inode) of multiply-linked files
    todo = [path]
    while todo:  # explicit stack: any depth
        for child in stack.listdir(todo.pop()):
            e = child.entry
            if e.kind.is_dir:
                todo.append(child.path)
            elif e.nlink <= 1:
                total += e.size
            elif (child.position, e.ino) not in seen:
                seen.add((child.position, e.ino))
                total += e.size
    return total
