"""Sizes of a scanned layer: as Docker reports them, and as the disk holds them."""

from __future__ import annotations

from itertools import compress

from overlayscope.scan.entry import LayerIndex


def docker_size(index: LayerIndex) -> int:
    """A layer's size exactly as the Docker daemon computes it.

    moby's `pkg/directory.Size()` (behind `SizeRw` and layer sizes) walks the
    tree, skips directories and zero-size entries, counts each inode once (hard
    links), and sums lstat `st_size`: a symlink counts its target's length, a
    whiteout (size 0) nothing.
    """
    c = index.columns
    if c is None:
        seen: set[int] = set()
        total = 0
        for entry in index.entries.values():
            if entry.size == 0 or entry.kind.is_dir or entry.ino in seen:
                continue
            seen.add(entry.ino)
            total += entry.size
        return total
    not_dir = [not kind.is_dir for kind, *_ in c.attrs]
    counted = list(map(not_dir.__getitem__, c.attr))
    sizes = list(compress(c.size, counted))
    inos = list(compress(compress(c.ino, counted), sizes))  # zero-size ones do not count
    sizes = list(compress(sizes, sizes))
    # the first entry of each inode wins, as in moby (a reversed dict keeps the first)
    return sum(dict(zip(reversed(inos), reversed(sizes), strict=True)).values())


def allocated_size(index: LayerIndex) -> int:
    """Bytes the layer's tree occupies on disk (`st_blocks` * 512), as `du -sB1` counts.

    Every entry counts, directories and the diff root included; a hard-linked
    inode counts once. A sparse file counts only its allocated blocks.
    """
    c = index.columns
    if c is None:
        seen: set[int] = set()
        total = 0
        for entry in index.entries.values():
            if entry.nlink > 1 and not entry.kind.is_dir:
                if entry.ino in seen:
                    continue
                seen.add(entry.ino)
            total += entry.blocks * 512
        return total
    blocks = sum(c.blocks)
    not_dir = [not kind.is_dir for kind, *_ in c.attrs]
    seen = set()
    for i in compress(range(len(c)), map((1).__lt__, c.nlink)):
        if not_dir[c.attr[i]]:
            if c.ino[i] in seen:
                blocks -= c.blocks[i]
            else:
                seen.add(c.ino[i])
    return blocks * 512
