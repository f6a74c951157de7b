"""A list of changes arranged as a tree the UI can open one directory at a time.

Pure data, no Textual: built once in a worker from `changes(stack)` (which may
hold 200k entries), then asked for one directory's children at a time, in any
`Sort` order, optionally restricted to the paths a filter keeps. Each path has
ncdu's figures: bytes and changed entries beneath, and (once `load_mtimes` ran,
in a worker) the newest mtime beneath.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable

from overlayscope.names import printable
from overlayscope.record import record
from overlayscope.scan import parent_of
from overlayscope.tui.tree_model import BY_NAME, Kept, NodeStats, Sort, SortKey, sort_paths
from overlayscope.union import Change, ChangeKind

ALL_KINDS: frozenset[ChangeKind] = frozenset(ChangeKind)


@record
class ChangeSummary:
    """Counts for a header line."""

    total: int
    added: int
    changed: int
    deleted: int
    copy_ups: int
    content_same: int  # copy-ups whose bytes did not change (a metadata-only change)
    opaque_dirs: int
    bytes: int  # sizes of added and changed non-directories


def matches_text(path: str, needle: str) -> bool:
    """Case-insensitive, on the path or on its escaped form (what the user sees)."""
    return needle in path.casefold() or needle in printable(path).casefold()


class ChangeIndex:
    """Changes by path, children by directory, and bytes and entries per subtree."""

    def __init__(self, changes: Iterable[Change]) -> None:
        self.by_path: dict[str, Change] = {}
        children: dict[str, list[str]] = {}
        self.subtree_bytes: Counter[str] = Counter()
        self.subtree_items: Counter[str] = Counter()  # changed entries beneath, not itself
        self.newest: dict[str, int] | None = None  # newest mtime beneath, once loaded
        for change in changes:
            self.by_path[change.path] = change
        linked: set[str] = set()
        for path in self.by_path:
            # Ancestors are changes themselves in `docker diff`; link any that is not, anyway.
            while path != "/" and path not in linked:
                linked.add(path)
                children.setdefault(parent_of(path), []).append(path)
                path = parent_of(path)
        for change in self.by_path.values():
            counted = change.kind is not ChangeKind.DELETED and change.entry not in (
                "dir",
                "opaque-dir",
            )
            path = change.path
            first = True
            while True:
                if counted:
                    self.subtree_bytes[path] += change.size
                if not first:
                    self.subtree_items[path] += 1
                first = False
                if path == "/":
                    break
                path = parent_of(path)
        self._children = {
            parent: sorted(paths, key=os.fsencode) for parent, paths in children.items()
        }
        self._sorted: dict[tuple[str, Sort], list[str]] = {}

    def __len__(self) -> int:
        return len(self.by_path)

    def get(self, path: str) -> Change | None:
        return self.by_path.get(path)

    def has_children(self, path: str) -> bool:
        return path in self._children

    def stats(self, path: str) -> NodeStats:
        return NodeStats(
            self.subtree_bytes[path],
            self.subtree_items[path],
            None if self.newest is None else self.newest.get(path),
        )

    def load_mtimes(self, mtime_of: Callable[[Change], int | None]) -> None:
        """The newest mtime beneath each path (itself included); a walk over every change,
        so it runs in a worker, once, when the user first sorts by mtime."""
        if self.newest is not None:
            return
        newest: dict[str, int] = {}
        for change in self.by_path.values():
            mtime = mtime_of(change)
            if mtime is None:
                continue
            path = change.path
            while True:
                if newest.get(path, -1) < mtime:
                    newest[path] = mtime
                if path == "/":
                    break
                path = parent_of(path)
        self.newest = newest
        self._sorted = {k: v for k, v in self._sorted.items() if k[1].key is not SortKey.MTIME}

    def children(
        self, path: str, *, sort: Sort = BY_NAME, keep: set[str] | None = None
    ) -> list[str]:
        """Child paths of `path` that hold changes, those in `keep` only when it is given."""
        paths = self._children.get(path, [])
        if sort != BY_NAME:
            key = (path, sort)
            cached = self._sorted.get(key)
            if cached is None:
                cached = self._sorted[key] = sort_paths(paths, sort, self.stats)
            paths = cached
        if keep is None:
            return paths
        return [p for p in paths if p in keep]

    def filtered(self, kinds: frozenset[ChangeKind], text: str) -> Kept | None:
        """What a filter shows: the changes of `kinds` whose path holds `text`, and their
        ancestors; None keeps everything."""
        if kinds == ALL_KINDS and not text:
            return None
        needle = text.casefold()
        keep: set[str] = set()
        matched = []
        for path, change in self.by_path.items():
            if change.kind not in kinds or (needle and not matches_text(path, needle)):
                continue
            matched.append(path)
            while path != "/" and path not in keep:
                keep.add(path)
                path = parent_of(path)
        return Kept(frozenset(keep), tuple(sorted(matched, key=os.fsencode)))

    def matching(self, kinds: frozenset[ChangeKind], text: str) -> set[str] | None:
        """The paths to show for a filter: matches and their ancestors; None keeps all."""
        kept = self.filtered(kinds, text)
        return None if kept is None else set(kept.keep)

    def summary(self) -> ChangeSummary:
        kinds = Counter(change.kind for change in self.by_path.values())
        return ChangeSummary(
            total=len(self.by_path),
            added=kinds[ChangeKind.ADDED],
            changed=kinds[ChangeKind.CHANGED],
            deleted=kinds[ChangeKind.DELETED],
            copy_ups=sum(1 for c in self.by_path.values() if c.copy_up and c.entry == "file"),
            content_same=sum(1 for c in self.by_path.values() if c.content == "same"),
            opaque_dirs=sum(
                1
                for c in self.by_path.values()
                if c.entry == "opaque-dir" and c.kind is not ChangeKind.DELETED
            ),
            bytes=self.subtree_bytes["/"],
        )
