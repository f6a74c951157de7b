"""Measure a host's whole storage: big trees through the parallel scanner, the rest walked here.

The caller names the roots, the trees to scan (`Unit`: a layer's content dir, a
volume's `_data`) and how to attribute every other path (`Areas`). Trees are
scanned a batch at a time and reduced to byte counts at once, so memory stays
bounded by a batch, not by the size of the host.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from overlayscope.record import field, record
from overlayscope.scan import (
    Kind,
    LayerIndex,
    ScanProgress,
    allocated_size,
    default_workers,
    docker_size,
)
from overlayscope.scan import scan_layers as scan_trees
from overlayscope.scan.cache import ScanCache
from overlayscope.scan.columns import Columns
from overlayscope.scan.progress import Throttle
from overlayscope.scan.sizes import LARGEST_KEPT, LayerSums, largest_files, layer_sums
from overlayscope.usage.footprint import (
    FileUsage,
    Footprint,
    Links,
    Tally,
    TopFiles,
    UsageProblem,
    add_entry,
)
from overlayscope.usage.rootwalk import Areas, Key, RootWalk

Progress = Callable[[ScanProgress], None]


@record
class Unit:
    """A tree the scanner measures, and where its bytes are counted."""

    path: str  # absolute dir on the host
    category: str
    owner: str
    cache_key: str | None = None  # a committed image layer's id: its scan may be cached
    weight: int = 0  # a guess at its size (layer store bytes): the biggest are scanned first
    # Its engine sizes it as allocated bytes of every inode (containerd), not as apparent
    # bytes of non-directories (Docker): see `SizeRule`.
    allocated: bool = False


@record(frozen=False, slots=False)
class RootTallies:
    """Raw byte counts of a data root, before they are given meaning."""

    units: dict[str, Footprint] = field(default_factory=dict)  # unit key -> its tree
    unit_sizes: dict[str, int] = field(default_factory=dict)  # unit key -> its engine's size
    rest: dict[Key, Footprint] = field(default_factory=dict)  # everything else, by key
    files: tuple[FileUsage, ...] = ()
    skipped_mounts: tuple[str, ...] = ()
    problems: tuple[UsageProblem, ...] = ()


def measure_root(
    roots: list[str],
    units: dict[str, Unit],
    areas: Areas,
    *,
    top_files: int = 10,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    cache: ScanCache | None = None,
    overlay_xattrs: str | None = None,
) -> RootTallies:
    """Measure `units` (in parallel) and the rest of `roots` (skipping the units' trees).

    Units with a `cache_key` are read from `cache` when it holds them (`scan/cache.py`).
    `overlay_xattrs`: the namespace the host's overlay mounts read (`scan_layers`); the
    scan reads only empty files' xattrs, but those tell xattr whiteouts.
    `progress` counts the units and the walk of the rest as `layers`.
    """
    out = RootTallies()
    links = Links()
    files = TopFiles(top_files)
    problems: list[UsageProblem] = []
    total = len(units) + 1
    keys = list(units)
    n = default_workers() if workers is None else workers
    batch = max(32, 8 * n)  # bounds memory to a batch of indexes, yet keeps workers busy
    done = entries = 0
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]

        def report(p: ScanProgress, done: int = done, entries: int = entries) -> None:
            if progress is not None:
                progress(ScanProgress(done + p.layers_done, total, entries + p.entries, p.current))

        cacheable = {k: key for k in chunk if (key := units[k].cache_key) is not None}
        # Biggest first, so that no big tree starts last and runs alone on one CPU; and
        # first of all those of unknown size (a container's rw layer: the layer store
        # records none), which may be the biggest of all on a host whose disk filled up.
        biggest_first = sorted(chunk, key=lambda k: (units[k].weight > 0, -units[k].weight))
        indexes = scan_trees(
            {k: units[k].path for k in biggest_first},
            cancel=cancel,
            progress=report,
            workers=workers,
            xattrs=False,  # bytes only: no opaque dirs, origins... needed
            overlay_xattrs=overlay_xattrs,
            sums=True,  # made in the workers: reducing a layer here is then cheap
            cacheable=cacheable,
            cache=cache if cacheable else None,
        )
        for key in chunk:
            unit, index = units[key], indexes.pop(key)
            out.units[key] = _reduce(unit, index, links, files)
            out.unit_sizes[key] = allocated_size(index) if unit.allocated else docker_size(index)
            problems.extend(
                UsageProblem(_join(unit.path, p.path), p.kind, p.detail) for p in index.problems
            )
            entries += len(index)
            done += 1

    throttle = Throttle()

    def tick(count: int, current: str) -> None:
        if progress is not None and throttle.due():
            progress(ScanProgress(done, total, entries + count, current))

    walk = RootWalk(
        roots,
        skip={u.path for u in units.values()},
        areas=areas,
        links=links,
        files=files,
        cancel=cancel,
        tick=tick,
    )
    walk.run()
    if progress is not None:
        progress(ScanProgress(total, total, entries + walk.entries, ""))
    out.rest = {key: tally.freeze() for key, tally in walk.tallies.items()}
    out.files = files.largest()
    out.skipped_mounts = tuple(sorted(walk.skipped_mounts))
    out.problems = tuple(problems + walk.problems)
    return out


def _reduce(unit: Unit, index: LayerIndex, links: Links, files: TopFiles) -> Footprint:
    try:
        dev = os.stat(unit.path).st_dev
    except OSError:
        dev = -1  # nothing was scanned either; the scan recorded the problem
    if index.columns is not None:
        return _reduce_columns(unit, index.columns, dev, links, files)
    tally = Tally()
    first = links.first
    for e in index.entries.values():
        if not first(dev, e.ino, e.nlink, e.mode):
            continue
        add_entry(tally, mode=e.mode, size=e.size, blocks=e.blocks)
        if e.kind is Kind.FILE and files.wants(e.blocks * 512, e.size):
            path = _join(unit.path, e.path)
            files.add(FileUsage(path, unit.category, unit.owner, e.size, e.blocks * 512))
    return tally.freeze()


def _reduce_columns(unit: Unit, c: Columns, dev: int, links: Links, files: TopFiles) -> Footprint:
    """`_reduce` on the compact layout, from the layer's sums (`scan.sizes.layer_sums`,
    kept in the scan cache): a loop only for the few multiply-linked inodes and the few
    largest files. Same result."""
    sums = layer_sums(c)
    blocks, size = sums.blocks, sums.apparent
    counted_again: set[int] = set()  # entries of inodes some earlier entry counted
    for i in sums.linked:
        if not links.first(dev, c.ino[i], c.nlink[i], c.attrs[c.attr[i]][1]):
            counted_again.add(i)
            blocks -= c.blocks[i]
            size -= c.size[i]
    if files.limit:
        _largest_files(unit, c, sums, files, counted_again)
    return Footprint(size, blocks * 512)


def _largest_files(
    unit: Unit, c: Columns, sums: LayerSums, files: TopFiles, skip: set[int]
) -> None:
    """Offer `files` the unit's largest regular files by (allocated, apparent)."""
    kept = [i for i in sums.largest if i not in skip][: files.limit]
    if len(kept) == files.limit or len(sums.largest) < LARGEST_KEPT:
        order = kept  # the largest `limit` not counted elsewhere, or every file there is
    else:  # hard links counted in other layers pushed past the kept ones: look at all
        order = [i for i in largest_files(c, files.limit + len(skip)) if i not in skip]
    for i in order:
        blk, apparent = c.blocks[i], c.size[i]
        if not files.wants(blk * 512, apparent):
            continue
        path = _join(unit.path, c.path_at(i))
        files.add(FileUsage(path, unit.category, unit.owner, apparent, blk * 512))


def _join(base: str, layer_path: str) -> str:
    return base if layer_path == "/" else base + layer_path
