"""Totals of a container's changes: bytes added, changed, deleted, and copied up for nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from overlayscope.scan.entry import Kind
from overlayscope.union.changes import Change, ChangeKind
from overlayscope.union.stack import LayerStack


@dataclass(frozen=True, slots=True)
class ChangeTotals:
    """Counts and bytes of a change list (bytes of non-directories only)."""

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
    for change in changes:
        counts[change.kind] += 1
        is_dir = change.entry in (Kind.DIR, Kind.OPAQUE_DIR)
        if change.kind is ChangeKind.DELETED:
            # a deleted non-dir hid what its change describes: its size, no lookup needed
            sizes[change.kind] += hidden_bytes(below, change.path) if is_dir else change.size
            continue
        if is_dir:
            continue
        sizes[change.kind] += change.size
        if change.copy_up:
            copied += 1
            copied_bytes += change.size
            if change.content == "same":
                meta_only += 1
                meta_only_bytes += change.size
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


def hidden_bytes(stack: LayerStack, path: str) -> int:
    """Bytes of non-directories visible at `path` in `stack`, its whole subtree included."""
    winner = stack.winner(path)
    if winner is None:
        return 0
    if not winner.entry.kind.is_dir:
        return winner.entry.size
    total = 0
    todo = [path]
    while todo:  # explicit stack: any depth
        for child in stack.listdir(todo.pop()):
            if child.entry.kind.is_dir:
                todo.append(child.path)
            else:
                total += child.entry.size
    return total
