"""Resident memory per indexed entry: `python -m bench.memory ROOT` prints one JSON line.

Run in a fresh process (the benchmark starts one per root), so nothing else is resident:
every layer's `diff/` of ROOT is scanned with `scan_layers` (as `container` and the TUI
do: worker processes, xattrs read, no cache), then

- `rss_per_entry`: growth of this process's RSS over the scan, after a GC, per entry:
  what the indexes hold, plus what the allocator kept of the scan's transient buffers;
- `traced_per_entry`: bytes Python still has allocated for the indexes (tracemalloc run
  separately, on a second scan: it slows allocation down, not what stays);
- `columns_per_entry`: the layout's own arrays and blobs (`Columns.nbytes`);
- `with_lookups_per_entry`: traced, once every index built what path lookups need
  (the sorted hashes of the listed dirs' paths: what `where`, `ls`, `container` add).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc

from overlayscope.scan import scan_layers


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def probe(root: str) -> dict[str, float]:
    overlay2 = os.path.join(root, "overlay2")
    layers = {
        name: os.path.join(overlay2, name, "diff")
        for name in sorted(os.listdir(overlay2))
        if os.path.isdir(os.path.join(overlay2, name, "diff"))
    }
    gc.collect()
    before = _rss()
    start = time.perf_counter()
    indexes = scan_layers(layers)
    seconds = time.perf_counter() - start
    gc.collect()
    rss = _rss() - before
    entries = sum(map(len, indexes.values()))
    columns = sum(ix.columns.nbytes() for ix in indexes.values() if ix.columns is not None)
    del indexes
    gc.collect()
    tracemalloc.start()
    indexes = scan_layers(layers)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    for index in indexes.values():
        if index.columns is not None:
            index.columns.slot_of_path("/")
    gc.collect()
    with_lookups = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "entries": entries,
        "layers": len(layers),
        "scan_seconds": round(seconds, 2),
        "rss_per_entry": round(rss / entries, 1),
        "traced_per_entry": round(traced / entries, 1),
        "columns_per_entry": round(columns / entries, 1),
        "with_lookups_per_entry": round(with_lookups / entries, 1),
    }


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
