"""Progress reported at a bounded rate; cancel raises Cancelled and leaves nothing running."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import pytest

from overlayscope.errors import Cancelled
from overlayscope.scan import LayerIndex, ScanProgress, scan_layers, scan_tree
from overlayscope.scan.cache import ScanCache


def _layers(root: Path, count: int = 3, dirs: int = 20, files: int = 50) -> dict[str, Path]:
    layers = {}
    for n in range(count):
        layer = root / f"layer{n}"
        for d in range(dirs):
            sub = layer / f"d{d}"
            sub.mkdir(parents=True)
            for f in range(files):
                os.mknod(sub / f"f{f}")
        layers[f"id{n}"] = layer
    return layers


def _worker_pids() -> list[int]:
    """Our own live scan worker processes."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"overlayscope.scan.worker" in cmd:
            pids.append(int(pid))
    return pids


def test_scan_tree_progress(tmp_path: Path) -> None:
    layer = _layers(tmp_path, count=1)["id0"]
    seen: list[ScanProgress] = []
    index = scan_tree(layer, progress=seen.append)
    assert seen[0].entries >= 1 and seen[0].layers_total == 1
    assert seen[-1] == ScanProgress(1, 1, len(index), "")
    counts = [p.entries for p in seen]
    assert counts == sorted(counts)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_layers_progress(tmp_path: Path, workers: int) -> None:
    layers = _layers(tmp_path)
    seen: list[tuple[float, ScanProgress]] = []
    start = time.monotonic()
    result = scan_layers(
        layers, workers=workers, progress=lambda p: seen.append((time.monotonic(), p))
    )
    elapsed = time.monotonic() - start
    total = sum(map(len, result.values()))
    assert seen[-1][1] == ScanProgress(3, 3, total, "")
    assert all(p.layers_total == 3 and 0 <= p.layers_done <= 3 for _, p in seen)
    assert [p.entries for _, p in seen] == sorted(p.entries for _, p in seen)
    # at most ~10 a second (+1 for the first report, +1 for the final one)
    assert len(seen) <= elapsed / 0.1 + 2
    if len(seen) > 2:
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen[:-1])]
        assert min(gaps) >= 0.09


def test_progress_throttled_on_a_slow_scan(tmp_path: Path) -> None:
    layer = _layers(tmp_path, count=1, dirs=30, files=5)["id0"]
    calls: list[float] = []

    def slow(p: ScanProgress) -> None:
        calls.append(time.monotonic())
        time.sleep(0.002)

    scan_tree(layer, progress=slow)
    assert 1 <= len(calls) <= 3  # the scan takes well under 0.2 s


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_before_start(tmp_path: Path, workers: int) -> None:
    layers = _layers(tmp_path, count=2, dirs=2, files=2)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        scan_layers(layers, workers=workers, cancel=cancel)
    with pytest.raises(Cancelled):
        scan_tree(layers["id0"], cancel=cancel)
    assert _worker_pids() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_mid_scan_from_progress(tmp_path: Path, workers: int) -> None:
    layers = _layers(tmp_path, count=3, dirs=5, files=10)  # cancelled at the first report
    cancel = threading.Event()
    seen: list[ScanProgress] = []

    def on_progress(p: ScanProgress) -> None:
        seen.append(p)
        if p.entries > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        scan_layers(layers, workers=workers, cancel=cancel, progress=on_progress)
    assert seen and seen[-1].layers_done < 3
    assert _worker_pids() == []


def test_cancel_from_another_thread_is_prompt(tmp_path: Path) -> None:
    layers = _layers(tmp_path, count=2, dirs=30, files=50)
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            # the same layers again and again: far more work than 0.05 s
            scan_layers({f"{k}-{i}": v for i in range(40) for k, v in layers.items()},
                        workers=2, cancel=cancel)  # fmt: skip
    finally:
        timer.cancel()
    assert time.monotonic() - start < 2.0
    assert _worker_pids() == []


def test_workers_started_while_the_cache_is_read_are_stopped_on_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With some layers that no cache can hold, workers start before the cache is read
    (they boot meanwhile); a cancel during the reading leaves none of them behind."""
    layers = _layers(tmp_path, count=4)
    started: list[int] = []

    class CancelOnRead(ScanCache):
        def load(
            self,
            key: str,
            content_dir: str,
            *,
            xattrs: bool = True,
            overlay_xattrs: str | None = None,
        ) -> LayerIndex | None:
            started.extend(_worker_pids())
            raise Cancelled("cancelled while reading the cache")

    cache = CancelOnRead(tmp_path / "cache")
    with pytest.raises(Cancelled):
        scan_layers(layers, workers=3, cacheable={"id3"}, cache=cache)
    assert len(started) == 2  # id0..id2 can only be scanned: two workers beside us
    assert _worker_pids() == []
    # and without a cancel, the early workers do the work
    index = scan_layers(layers, workers=3, cacheable={"id3"}, cache=ScanCache(tmp_path / "c2"))
    assert sorted(index) == sorted(layers) and _worker_pids() == []
