"""Measure a whole data root: big trees through the parallel scanner, the rest walked here.

The caller names the trees to scan (`Unit`: a layer's `diff/`, a volume's
`_data`) and how to attribute every other path (`classify`). Trees are
scanned a batch at a time and reduced to byte counts at once, so memory stays
bounded by a batch, not by the size of the host.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from overlayscope.scan import Kind, LayerIndex, ScanProgress, default_workers, docker_size
from overlayscope.scan import scan_layers as scan_trees
from overlayscope.scan.progress import Throttle
from overlayscope.usage.footprint import (
    FileUsage,
    Footprint,
    Links,
    Tally,
    TopFiles,
    UsageProblem,
    add_entry,
)
from overlayscope.usage.rootwalk import Classify, Key, RootWalk

Progress = Callable[[ScanProgress], None]


@dataclass(frozen=True, slots=True)
class Unit:
    """A tree the scanner measures, and where its bytes are counted."""

    path: str  # absolute dir on the host
    category: str
    owner: str


@dataclass
class RootTallies:
    """Raw byte counts of a data root, before they are given meaning."""

    units: dict[str, Footprint] = field(default_factory=dict)  # unit key -> its tree
    unit_sizes: dict[str, int] = field(default_factory=dict)  # unit key -> docker_size
    rest: dict[Key, Footprint] = field(default_factory=dict)  # everything else, by key
    files: tuple[FileUsage, ...] = ()
    skipped_mounts: tuple[str, ...] = ()
    problems: tuple[UsageProblem, ...] = ()


def measure_root(
    root: str,
    units: dict[str, Unit],
    classify: Classify,
    *,
    top_files: int = 10,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RootTallies:
    """Measure `units` (in parallel) and the rest of `root` (skipping the units' trees).

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

        indexes = scan_trees(
            {k: units[k].path for k in chunk}, cancel=cancel, progress=report, workers=workers
        )
        for key in chunk:
            unit, index = units[key], indexes.pop(key)
            out.units[key] = _reduce(unit, index, links, files)
            out.unit_sizes[key] = docker_size(index)
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
        root,
        skip={u.path for u in units.values()},
        classify=classify,
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


def _join(base: str, layer_path: str) -> str:
    return base if layer_path == "/" else base + layer_path
