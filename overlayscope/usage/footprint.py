"""Counting bytes on disk two ways, each inode once: apparent (`st_size`) and allocated.

- **apparent**: `st_size` of every entry that is not a directory. For a layer's
  `diff/` this is exactly how the daemon sizes layers and `SizeRw` (moby
  `directory.Size`). `du --apparent-size` also adds the directories' own sizes.
- **allocated**: `st_blocks * 512` of every entry, directories included, as
  `du --block-size=1` counts; a sparse file counts only its blocks.

A non-directory with more than one link is counted once, wherever its links
are (as `du` does): the first place that meets it gets its bytes.
"""

from __future__ import annotations

import heapq
import stat

from overlayscope.record import record


@record
class Footprint:
    """Bytes some part of the data root takes: apparent and allocated."""

    apparent: int = 0
    allocated: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.apparent + other.apparent, self.allocated + other.allocated)


@record
class UsageProblem:
    """Something that could not be measured; the rest of the root still is."""

    path: str  # on the host
    kind: str  # "vanished" | "permission" | "error"
    detail: str


class Tally:
    """A running Footprint (mutable, internal to a measurement)."""

    __slots__ = ("allocated", "apparent")

    def __init__(self) -> None:
        self.apparent = 0
        self.allocated = 0

    def freeze(self) -> Footprint:
        return Footprint(self.apparent, self.allocated)


class Links:
    """The (device, inode) pairs of multiply-linked files already counted somewhere."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[tuple[int, int]] = set()

    def first(self, dev: int, ino: int, nlink: int, mode: int) -> bool:
        """True if this entry's bytes are still to be counted."""
        if nlink <= 1 or stat.S_ISDIR(mode):
            return True
        key = (dev, ino)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def add_entry(tally: Tally, *, mode: int, size: int, blocks: int) -> None:
    """Count one entry already known to be first of its inode."""
    tally.allocated += blocks * 512
    if not stat.S_ISDIR(mode):
        tally.apparent += size


@record
class FileUsage:
    """One large regular file somewhere in the data root."""

    path: str  # on the host
    category: str  # the Category it is counted in
    owner: str  # layer id, volume name, container id, or the other bucket
    apparent: int
    allocated: int


class TopFiles:
    """The `limit` largest regular files seen, by allocated then apparent bytes."""

    __slots__ = ("_heap", "_limit", "_n")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._heap: list[tuple[int, int, int, FileUsage]] = []
        self._n = 0

    @property
    def limit(self) -> int:
        return self._limit

    def wants(self, allocated: int, apparent: int) -> bool:
        """Would a file this large be kept? (Cheap: check before building a FileUsage.)"""
        heap = self._heap
        return self._limit > 0 and (len(heap) < self._limit or (allocated, apparent) > heap[0][:2])

    def add(self, file: FileUsage) -> None:
        """Keep `file` if it is among the largest."""
        if not self.wants(file.allocated, file.apparent):
            return
        self._n += 1  # a tie-breaker, so FileUsage objects are never compared
        item = (file.allocated, file.apparent, -self._n, file)
        if len(self._heap) < self._limit:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    def largest(self) -> tuple[FileUsage, ...]:
        ordered = sorted(self._heap, key=lambda i: (-i[0], -i[1], i[3].path))
        return tuple(item[3] for item in ordered)
