"""A list of changes arranged as a tree the UI can open one directory at a time.

Pure data, no Textual: built once in a worker from `changes(stack)` (which may
hold 200k entries), then asked for one directory's children at a time, in name
or size order, optionally restricted to the paths a filter keeps.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from overlayscope.names import printable
from overlayscope.scan import parent_of
from overlayscope.union import Change, ChangeKind

ALL_KINDS: frozenset[ChangeKind] = frozenset(ChangeKind)


class Order(StrEnum):
    NAME = "name"
    SIZE = "size"


@dataclass(frozen=True, slots=True)
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


class ChangeIndex:
    """Changes by path, children by directory, and bytes per subtree."""

    def __init__(self, changes: Iterable[Change]) -> None:
        self.by_path: dict[str, Change] = {}
        children: dict[str, list[str]] = {}
        self.subtree_bytes: Counter[str] = Counter()
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
            if change.kind is not ChangeKind.DELETED and change.entry not in ("dir", "opaque-dir"):
                path = change.path
                while True:
                    self.subtree_bytes[path] += change.size
                    if path == "/":
                        break
                    path = parent_of(path)
        self._children = {
            parent: sorted(paths, key=os.fsencode) for parent, paths in children.items()
        }
        self._by_size: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.by_path)

    def get(self, path: str) -> Change | None:
        return self.by_path.get(path)

    def has_children(self, path: str) -> bool:
        return path in self._children

    def children(
        self, path: str, *, order: Order = Order.NAME, keep: set[str] | None = None
    ) -> list[str]:
        """Child paths of `path` that hold changes, those in `keep` only when it is given."""
        if order is Order.SIZE:
            paths = self._by_size.get(path)
            if paths is None:
                paths = sorted(
                    self._children.get(path, ()), key=lambda p: -self.subtree_bytes[p]
                )  # stable: ties stay in name order
                self._by_size[path] = paths
        else:
            paths = self._children.get(path, [])
        if keep is None:
            return paths
        return [p for p in paths if p in keep]

    def matching(self, kinds: frozenset[ChangeKind], text: str) -> set[str] | None:
        """The paths to show for a filter: matches and their ancestors; None keeps all."""
        if kinds == ALL_KINDS and not text:
            return None
        needle = text.casefold()
        keep: set[str] = set()
        for path, change in self.by_path.items():
            if change.kind not in kinds:
                continue
            if (
                needle
                and needle not in path.casefold()
                and needle not in printable(path).casefold()
            ):
                continue
            while path != "/" and path not in keep:
                keep.add(path)
                path = parent_of(path)
        return keep

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
