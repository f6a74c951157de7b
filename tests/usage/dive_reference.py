"""The straightforward way to dive's figures and the hidden bytes: path by path, the oracle
the dir-at-a-time walk (`overlayscope.usage.efficiency_walk`) is pinned against.

Every entry of every layer is made an `Entry`; each leaf is a sighting of its path, bottom
layer first, and every path any layer holds is resolved over the whole stack
(`LayerStack.resolutions`) for the files the merged view never shows. This is the code
`efficiency.py` ran before the walk (issue #17): slow, and plainly what the definitions say.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from overlayscope.scan import Entry, Kind, LayerIndex
from overlayscope.union import HitState, LayerStack


@dataclass(frozen=True)
class Figures:
    content: tuple[int, ...]  # bottom first
    cumulative: int
    minimum: int
    wasted: tuple[tuple[str, int, int], ...]  # (path, sightings, their sizes), sorted
    hidden: dict[str, int]  # layer id -> bytes, 0 left out
    tar_sizes: tuple[dict[str, int], ...]  # bottom first


def figures(stack: LayerStack) -> Figures:
    bottom_up = [layer.index for layer in reversed(stack.layers)]
    sightings, content, sizes = _dive(bottom_up)
    return Figures(
        content=tuple(content),
        cumulative=sum(s.cumulative for s in sightings.values()),
        minimum=sum(s.minimum for s in sightings.values()),
        wasted=tuple(
            sorted((p, s.count, s.cumulative) for p, s in sightings.items() if s.count > 1)
        ),
        hidden=_hidden_bytes(stack),
        tar_sizes=tuple(sizes),
    )


class _Sighting:
    def __init__(self) -> None:
        self.count = 0
        self.cumulative = 0
        self.minimum = -1

    def add(self, size: int) -> None:
        self.count += 1
        self.cumulative += size
        if self.minimum < 0 or size < self.minimum:
            self.minimum = size


def _dive(
    layers: list[LayerIndex],
) -> tuple[dict[str, _Sighting], list[int], list[dict[str, int]]]:
    view = _StackedView()
    sightings: dict[str, _Sighting] = {}
    content: list[int] = []
    all_sizes = []
    for index in layers:
        sizes = tar_sizes(index)
        all_sizes.append(sizes)
        content.append(sum(sizes.values()))
        for entry in index.entries.values():
            if entry.path == "/" or index.children.get(entry.path):
                continue  # not a leaf of this layer
            if entry.kind is Kind.WHITEOUT:
                below = view.nodes.get(entry.path)
                if below is None:
                    continue  # whites out nothing
                size = view.subtree_size(entry.path) if below[0] else 0
            else:
                size = sizes.get(entry.path, 0)
            sightings.setdefault(entry.path, _Sighting()).add(size)
        view.stack(index, sizes)
    return sightings, content, all_sizes


def tar_sizes(index: LayerIndex) -> dict[str, int]:
    first: dict[int, str] = {}
    sizes: dict[str, int] = {}
    for entry in index.entries.values():
        if entry.kind is not Kind.FILE:
            continue
        if entry.nlink > 1:
            seen = first.get(entry.ino)
            if seen is not None and _walk_key(seen) < _walk_key(entry.path):
                continue
            if seen is not None:
                del sizes[seen]
            first[entry.ino] = entry.path
        sizes[entry.path] = entry.size
    return sizes


def _walk_key(path: str) -> list[bytes]:
    return [os.fsencode(name) for name in path.split("/")]


class _StackedView:
    def __init__(self) -> None:
        self.nodes: dict[str, tuple[bool, int]] = {}
        self.kids: dict[str, set[str]] = {}

    def stack(self, index: LayerIndex, sizes: dict[str, int]) -> None:
        for entry in index.entries.values():
            if entry.path == "/":
                continue
            if entry.kind is Kind.WHITEOUT:
                self._remove(entry.path)
            else:
                self._put(entry, sizes.get(entry.path, 0))

    def _put(self, entry: Entry, size: int) -> None:
        path = entry.path
        if path not in self.nodes:
            parent = path.rsplit("/", 1)[0] or "/"
            self.kids.setdefault(parent, set()).add(path)
        self.nodes[path] = (entry.kind.is_dir, size)

    def _remove(self, path: str) -> None:
        if path not in self.nodes:
            return
        parent = path.rsplit("/", 1)[0] or "/"
        self.kids.get(parent, set()).discard(path)
        pending = [path]
        while pending:
            p = pending.pop()
            self.nodes.pop(p, None)
            pending.extend(self.kids.pop(p, ()))

    def subtree_size(self, path: str) -> int:
        total = 0
        pending = [path]
        while pending:
            p = pending.pop()
            total += self.nodes.get(p, (False, 0))[1]
            pending.extend(self.kids.get(p, ()))
        return total


def _hidden_bytes(stack: LayerStack) -> dict[str, int]:
    hidden: dict[int, dict[int, int]] = {}  # position -> inode -> size
    shown: dict[int, set[int]] = {}
    for res in stack.resolutions():
        for hit in res.hits:
            if hit.entry.kind is not Kind.FILE:
                continue
            if hit.state is HitState.WINS:
                shown.setdefault(hit.position, set()).add(hit.entry.ino)
            else:
                hidden.setdefault(hit.position, {})[hit.entry.ino] = hit.entry.size
    out: dict[str, int] = {}
    for position, inodes in hidden.items():
        visible = shown.get(position, set())
        out[stack.layers[position].id] = sum(s for ino, s in inodes.items() if ino not in visible)
    return out
