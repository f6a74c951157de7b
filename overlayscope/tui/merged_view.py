"""The merged view's figures and filter: one walk of a stack (no Textual, runs in a worker).

`merged_figures` gives each directory of the merged view ncdu's figures (bytes and
entries beneath, the newest mtime), a hard-linked inode counted once; `merged_filter`
keeps what dive's toggles and the `/` text show: changed entries of the kinds shown,
unmodified ones when those are shown, the deletions of the top layer, and their dirs.
"""

from __future__ import annotations

import os
import threading

from overlayscope.errors import Cancelled
from overlayscope.scan import parent_of
from overlayscope.tui.change_index import ChangeIndex, matches_text
from overlayscope.tui.tree_model import ALL_SHOWN, Kept, NodeStats, Show, Tally
from overlayscope.union import ChangeKind, LayerStack

_CHECK_EVERY = 4096  # entries between looks at the cancel event

KIND_SHOW = {
    ChangeKind.ADDED: Show.ADDED,
    ChangeKind.DELETED: Show.REMOVED,
    ChangeKind.CHANGED: Show.MODIFIED,
}


def _check(cancel: threading.Event | None, n: int) -> None:
    if cancel is not None and n % _CHECK_EVERY == 0 and cancel.is_set():
        raise Cancelled("cancelled")


def merged_figures(
    stack: LayerStack, cancel: threading.Event | None = None
) -> dict[str, NodeStats]:
    """Directory path → its figures in the merged view of `stack`."""
    tallies: dict[str, Tally] = {"/": Tally()}
    seen: set[tuple[int, int]] = set()  # (layer position, inode) of hard-linked files
    for n, merged in enumerate(stack.walk()):
        _check(cancel, n)
        path, entry = merged.path, merged.entry
        if path == "/":
            continue
        if entry.kind.is_dir:
            tallies.setdefault(path, Tally())
            size = 0
        elif entry.nlink > 1 and (merged.position, entry.ino) in seen:
            size = 0  # one inode, one count of its bytes
        else:
            if entry.nlink > 1:
                seen.add((merged.position, entry.ino))
            size = entry.size
        parent = parent_of(path)
        while True:
            tallies.setdefault(parent, Tally()).add(size, entry.mtime_ns)
            if parent == "/":
                break
            parent = parent_of(parent)
    return {path: t.stats() for path, t in tallies.items()}


def merged_filter(
    stack: LayerStack,
    index: ChangeIndex,
    shown: frozenset[Show],
    text: str,
    cancel: threading.Event | None = None,
) -> Kept | None:
    """The paths of the merged view the filter keeps; None keeps all."""
    if shown == ALL_SHOWN and not text:
        return None
    needle = text.casefold()
    keep: set[str] = set()
    matched: list[str] = []

    def take(path: str) -> None:
        matched.append(path)
        while path != "/" and path not in keep:
            keep.add(path)
            path = parent_of(path)

    for n, merged in enumerate(stack.walk()):
        _check(cancel, n)
        path = merged.path
        if path == "/":
            continue
        change = index.get(path)
        kind = Show.UNMODIFIED if change is None else KIND_SHOW[change.kind]
        if kind in shown and (not needle or matches_text(path, needle)):
            take(path)
    if Show.REMOVED in shown:
        for path, change in index.by_path.items():
            if change.kind is ChangeKind.DELETED and (not needle or matches_text(path, needle)):
                take(path)
    return Kept(frozenset(keep), tuple(sorted(set(matched), key=os.fsencode)))
