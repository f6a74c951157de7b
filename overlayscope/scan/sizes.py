"""Sizes of a scanned layer: as Docker reports them, and as the disk holds them."""

from __future__ import annotations

import heapq
from itertools import compress

from overlayscope.record import record
from overlayscope.scan.columns import Columns
from overlayscope.scan.entry import Kind, LayerIndex

LARGEST_KEPT = 256  # regular files kept in LayerSums.largest, the biggest by blocks


@record
class LayerSums:
    """Whole-layer sums over the columns, made once per index and kept with it (and in
    the scan cache, so a cached layer needs no pass over its columns at all).

    `linked` and `largest` hold entry numbers: the non-dirs with more than one link
    (what hard-link accounting must look at), and the largest regular files by
    (blocks, size), ties to the earlier entry."""

    blocks: int  # st_blocks of every entry
    apparent: int  # st_size of every non-dir
    docker: int  # docker_size
    linked: tuple[int, ...]
    largest: tuple[int, ...]


def layer_sums(c: Columns) -> LayerSums:
    """`c.sums`, computed on first use."""
    if c.sums is None:
        not_dir = [not kind.is_dir for kind, *_ in c.attrs]
        counted = list(map(not_dir.__getitem__, c.attr))
        sizes = list(compress(c.size, counted))
        inos = list(compress(compress(c.ino, counted), sizes))  # zero-size ones do not count
        nonzero = list(compress(sizes, sizes))
        # the first entry of each inode wins, as in moby (a reversed dict keeps the first)
        docker = sum(dict(zip(reversed(inos), reversed(nonzero), strict=True)).values())
        linked = tuple(
            i for i in compress(range(len(c)), map((1).__lt__, c.nlink)) if not_dir[c.attr[i]]
        )
        largest = tuple(largest_files(c, LARGEST_KEPT))
        c.sums = LayerSums(sum(c.blocks), sum(sizes), docker, linked, largest)
    return c.sums


def largest_files(c: Columns, n: int) -> list[int]:
    """The entries of the `n` largest regular files by (blocks, size), the earlier entry
    first on ties (as a walk in entry order would offer them), largest first."""
    is_file = [kind is Kind.FILE for kind, *_ in c.attrs]
    floor = heapq.nlargest(n, compress(c.blocks, map(is_file.__getitem__, c.attr)))
    if not floor:
        return []
    # only files at least as big as the n-th largest can be among the largest
    big = compress(range(len(c)), map(floor[-1].__le__, c.blocks))
    candidates = [(c.blocks[i], c.size[i], -i) for i in big if is_file[c.attr[i]]]
    return [-neg for _, _, neg in heapq.nlargest(n, candidates)]


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
    return layer_sums(c).docker


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
    sums = layer_sums(c)
    blocks = sums.blocks
    seen = set()
    for i in sums.linked:
        if c.ino[i] in seen:
            blocks -= c.blocks[i]
        else:
            seen.add(c.ino[i])
    return blocks * 512
