"""What every size tree of the TUI shares, as ncdu and dive have it: the sort (by name, size,
item count or mtime, either way), the change kinds shown (dive's four independent toggles),
and one node's figures. Pure data, no Textual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from enum import StrEnum

from overlayscope.record import field, record, replace
from overlayscope.union import ChangeKind


class SortKey(StrEnum):
    NAME = "name"
    SIZE = "size"
    COUNT = "count"
    MTIME = "mtime"


# ncdu's habit: a name sorts A→Z first, the rest the largest (or newest) first.
_DESCENDING_FIRST = {
    SortKey.NAME: False,
    SortKey.SIZE: True,
    SortKey.COUNT: True,
    SortKey.MTIME: True,
}
_ARROW = {False: "↑", True: "↓"}


@record
class Sort:
    """How a directory's children are ordered."""

    key: SortKey = SortKey.NAME
    descending: bool = False

    def pressed(self, key: SortKey) -> Sort:
        """The sort after the user pressed `key`'s key: the same key again turns it round."""
        if key is self.key:
            return replace(self, descending=not self.descending)
        return Sort(key, _DESCENDING_FIRST[key])

    def describe(self) -> str:
        return f"by {self.key.value} {_ARROW[self.descending]}"


BY_NAME = Sort()  # the default: A→Z


class Show(StrEnum):
    """dive's change filters, each toggled on its own."""

    ADDED = "A"
    REMOVED = "D"
    MODIFIED = "C"
    UNMODIFIED = "U"  # entries the layer (or the container) did not touch: merged views only


ALL_SHOWN: frozenset[Show] = frozenset(Show)
SHOW_KIND = {
    Show.ADDED: ChangeKind.ADDED,
    Show.REMOVED: ChangeKind.DELETED,
    Show.MODIFIED: ChangeKind.CHANGED,
}


def change_kinds(shown: frozenset[Show]) -> frozenset[ChangeKind]:
    return frozenset(kind for show, kind in SHOW_KIND.items() if show in shown)


def describe_shown(shown: frozenset[Show]) -> str:
    """`A C D U` with the hidden ones as `·`, in dive's order."""
    return " ".join(
        s.value if s in shown else "·"
        for s in (Show.ADDED, Show.MODIFIED, Show.REMOVED, Show.UNMODIFIED)
    )


@record
class NodeStats:
    """One node's figures: bytes beneath (or its own), entries beneath, the newest mtime."""

    bytes: int = 0
    items: int = 0  # entries beneath a directory; 0 for a file
    mtime_ns: int | None = None


@record(frozen=False)
class Tally:
    """A directory's figures while a walk adds to them."""

    bytes: int = 0
    items: int = 0
    mtime_ns: int | None = None

    def add(self, size: int, mtime_ns: int | None, *, item: bool = True) -> None:
        self.bytes += size
        self.items += 1 if item else 0
        if mtime_ns is not None and (self.mtime_ns is None or mtime_ns > self.mtime_ns):
            self.mtime_ns = mtime_ns

    def stats(self) -> NodeStats:
        return NodeStats(self.bytes, self.items, self.mtime_ns)


def sort_paths(
    paths: Iterable[str], sort: Sort, stats: Callable[[str], NodeStats | None]
) -> list[str]:
    """`paths` in `sort` order; ties (and unknown figures) stay in name order."""
    by_name = sorted(paths, key=os.fsencode)
    if sort.key is SortKey.NAME:
        return by_name[::-1] if sort.descending else by_name

    def figure(path: str) -> int:
        s = stats(path)
        if s is None:
            return -1
        if sort.key is SortKey.SIZE:
            return s.bytes
        if sort.key is SortKey.COUNT:
            return s.items
        return -1 if s.mtime_ns is None else s.mtime_ns

    # sorted() is stable: equal figures keep their name order either way round.
    return sorted(by_name, key=figure, reverse=sort.descending)


@record
class Kept:
    """What a filter keeps: the matches and their ancestors (`keep`), and the matches
    themselves in name order (`matched`), for the tree to open the dirs that hold them."""

    keep: frozenset[str]
    matched: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.matched)


def ancestors(path: str) -> Iterable[str]:
    """`/a/b/c` → `/a/b`, `/a` (never "/")."""
    while True:
        path = path.rsplit("/", 1)[0]
        if not path:
            return
        yield path
