"""Measure the scanner on a synthetic data root: serial vs threads vs processes, against du.

    .venv/bin/python tests/scan/bench_scan.py [--entries 200000] [--repeat 5]

Builds uneven layers (like an image: one big base, smaller ones on top) under
/var/tmp, warms the page cache, times each way of scanning them round-robin,
prints a table (best and median wall time, CPU time), and removes the tree.
Not collected by pytest (no test_ prefix). Numbers are in docs/scanner.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overlayscope.scan import scan_layers, scan_tree
from overlayscope.scan.entry import ScanProblem
from overlayscope.scan.walker import Record, walk_tree

SHARES = [0.35, 0.25, 0.15, 0.10, 0.08, 0.07]  # of the entries, per layer


def build(root: Path, entries: int) -> dict[str, Path]:
    """Layers of dirs holding 20 files and a symlink each; a quarter of the files non-empty."""
    layers = {}
    for n, share in enumerate(SHARES):
        layer = root / f"layer{n}" / "diff"
        made = 0
        d = 0
        while made < entries * share:
            sub = layer / f"top{d // 50}" / f"dir{d}"
            sub.mkdir(parents=True)
            for i in range(20):
                path = sub / f"file{i}.so"
                if i % 4 == 0:
                    path.write_bytes(b"x" * (i * 97))
                else:
                    os.mknod(path)
            os.symlink("file0.so", sub / "link")
            made += 22
            d += 1
        layers[f"layer{n}"] = layer
    return layers


class _CountSink:
    """Walk without building an index: what the walk alone costs."""

    def __init__(self) -> None:
        self.count = 0

    def root(self, record: Record) -> None:
        self.count += 1

    def entries(self, dir_path: str, records: list[Record]) -> None:
        self.count += len(records)

    def problem(self, problem: ScanProblem) -> None:
        pass

    def tick(self, entries: int, current: str) -> None:
        pass


def modes(layers: dict[str, Path]) -> dict[str, Callable[[], int]]:
    paths = [str(p) for p in layers.values()]

    def du() -> int:
        subprocess.run(["du", "-s", *paths], check=True, capture_output=True)
        return 0

    def walk_only() -> int:
        total = 0
        for p in paths:
            sink = _CountSink()
            walk_tree(p, sink)
            total += sink.count
        return total

    def serial() -> int:
        return sum(map(len, scan_layers(layers, workers=1).values()))

    def threads() -> int:
        with ThreadPoolExecutor(2) as pool:
            return sum(map(len, pool.map(scan_tree, paths)))

    def processes() -> int:
        return sum(map(len, scan_layers(layers, workers=2).values()))

    return {
        "du -s": du,
        "serial walk, no index": walk_only,
        "serial (workers=1)": serial,
        "2 threads": threads,
        "2 processes (workers=2)": processes,
    }


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="overlayscope-bench-", dir="/var/tmp"))
    try:
        start = time.monotonic()
        layers = build(root, args.entries)
        print(f"built {args.entries} entries in {len(layers)} layers", end="")
        print(f" in {time.monotonic() - start:.1f}s; cpus={os.cpu_count()}", file=sys.stdout)
        subprocess.run(["du", "-s", str(root)], check=True, capture_output=True)  # warm
        table = modes(layers)
        walls: dict[str, list[float]] = {name: [] for name in table}
        cpus: dict[str, list[float]] = {name: [] for name in table}
        counts: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, run in table.items():
                c0, t0 = cpu_seconds(), time.perf_counter()
                counts[name] = run()
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(cpu_seconds() - c0)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        du_best = min(walls["du -s"])
        print(f"{'mode':26} {'best s':>7} {'median s':>8} {'x du':>6} {'cpu s':>6} entries")
        for name in table:
            best, med = min(walls[name]), statistics.median(walls[name])
            print(
                f"{name:26} {best:7.3f} {med:8.3f} {best / du_best:6.2f}"
                f" {statistics.median(cpus[name]):6.2f} {counts[name] or ''}"
            )
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
