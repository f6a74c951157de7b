"""Scanning many layers at once: this process and worker processes share the layers.

Processes, not threads: the walk is mostly bytecode between short syscalls,
so threads serialise on the GIL (docs/scanner.md has the numbers). With
`workers=n`, this process scans layers itself and starts n-1 workers; all take
the next layer from one list as they come free, so nothing waits on a worker's
start-up and small jobs never need one. A worker streams the walker's records
back in chunks, which this process turns into `Entry` objects between the
directories of its own walk.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import threading
from collections.abc import Mapping

from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.entry import LayerIndex, ScanProgress
from overlayscope.scan.process import Inbox, ScanWorkerError, WorkerProcess
from overlayscope.scan.progress import ProgressCallback, Throttle, check_cancel, gc_paused
from overlayscope.scan.walker import walk_tree
from overlayscope.scan.wire import ENTRIES, ROOT, Message, Op, Task

_POLL = 0.05  # seconds between cancel checks while only waiting on workers


_MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One per CPU this process may run on, at most 4.

    This process builds every `Entry` (~1.5 µs each, vs ~5 µs to walk one), so
    past about four processes it is the bottleneck and more workers only cost
    memory and start-up.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_DEFAULT_WORKERS))


def scan_layers(
    layers: Mapping[str, str | os.PathLike[str]],
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> dict[str, LayerIndex]:
    """Index many layers' `diff/` trees in parallel; keys are the layer ids, in order given.

    `layers` maps a layer id to its `diff/` directory. `workers` is how many
    processes scan (default: `default_workers()`, never more than layers): this one
    and `workers - 1` started for the job; `workers=1` starts none. Problems
    reading a tree are recorded per layer, as in `scan_tree`; should no worker
    start (no interpreter to run), this process scans everything.

    `progress` gets `ScanProgress(layers_done, layers_total, entries, layer_id)`
    at most about ten times a second, and once more when all is done. Setting
    `cancel` raises `overlayscope.errors.Cancelled` within about 0.1 s (or a
    directory's listing), and kills the workers. A worker that dies raises
    `overlayscope.scan.ScanWorkerError`.
    """
    items = [(str(key), os.fspath(path)) for key, path in layers.items()]
    n = default_workers() if workers is None else workers
    n = max(1, min(n, len(items)))
    if getattr(sys, "frozen", False) or not sys.executable:  # no interpreter to start
        n = 1
    with gc_paused():
        result = _Scan(items, n - 1, cancel, progress).run()
    if progress is not None:
        progress(ScanProgress(len(items), len(items), sum(map(len, result.values())), ""))
    return result


class _HostSink(IndexBuilder):
    """Builds a layer scanned in this process; its ticks also serve the workers."""

    def __init__(self, scan: _Scan, key: str, diff_dir: str) -> None:
        super().__init__(diff_dir)
        self._scan = scan
        self._key = key

    def tick(self, entries: int, current: str) -> None:
        self._scan.tick(self._key, entries)


class _Scan:
    """One `scan_layers` call: a to-do list shared by this process and its workers."""

    def __init__(
        self,
        items: list[tuple[str, str]],
        extra_workers: int,
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.items = items
        self.paths = dict(items)
        self.extra = extra_workers
        self.cancel = cancel
        self.progress = progress
        self.todo: list[Task] = list(reversed(items))  # pop() takes them in order
        self.builders: dict[str, IndexBuilder] = {}
        self.remaining = len(items)
        self.entries = 0  # in finished layers and in workers' frames so far
        self.throttle = Throttle()
        self.inbox: Inbox = queue.Queue()
        self.workers: list[WorkerProcess] = []

    def run(self) -> dict[str, LayerIndex]:
        try:
            for wid in range(self.extra):
                try:
                    self.workers.append(WorkerProcess(wid, self.inbox))
                except OSError:  # e.g. an interpreter this user may not execute
                    break  # scan with those that started, this process at least
            while self.todo:
                check_cancel(self.cancel)
                self._scan_here(*self.todo.pop())
            while self.remaining:
                check_cancel(self.cancel)
                try:
                    wid, frame = self.inbox.get(timeout=_POLL)
                except queue.Empty:
                    continue
                self._receive(wid, frame)
        finally:
            for worker in self.workers:
                worker.stop()
        return {key: self.builders[key].index for key, _ in self.items}

    def _scan_here(self, key: str, diff_dir: str) -> None:
        sink = _HostSink(self, key, diff_dir)
        self.builders[key] = sink
        walk_tree(diff_dir, sink)
        self.entries += len(sink.index)
        self.remaining -= 1
        self._report(key, 0)

    def tick(self, key: str, entries: int) -> None:
        """Between directories of our own walk: cancel, workers' frames, progress."""
        check_cancel(self.cancel)
        while True:
            try:
                wid, frame = self.inbox.get_nowait()
            except queue.Empty:
                break
            self._receive(wid, frame)
        self._report(key, entries)

    def _receive(self, wid: int, frame: bytes | None) -> None:
        worker = self.workers[wid]
        if frame is None:  # its stdout ended
            if worker.task is not None:
                raise worker.failure()
            return
        message: Message = pickle.loads(frame)
        key, ops, done, crash = message
        if crash is not None:
            raise ScanWorkerError(
                f"scanning layer {key} failed in a worker process:\n{crash}",
                hint="retry with workers=1 to see the error in this process",
            )
        if key is not None:
            builder = self.builders.get(key)
            if builder is None:
                builder = self.builders[key] = IndexBuilder(self.paths[key])
            self.entries += _apply(builder, ops)
            if done:
                self.remaining -= 1
            self._report(key, 0)
        if done:  # a layer finished, or the worker is ready for its first one
            worker.give(self.todo.pop() if self.todo else None)

    def _report(self, key: str, in_progress: int) -> None:
        if self.progress is not None and self.throttle.due():
            total = len(self.items)
            self.progress(
                ScanProgress(total - self.remaining, total, self.entries + in_progress, key)
            )


def _apply(builder: IndexBuilder, ops: list[Op]) -> int:
    """Replay a worker's ops on a layer's builder; return the number of entries added."""
    count = 0
    for op in ops:
        tag = op[0]
        if tag == ENTRIES:
            builder.entries(op[1], op[2])
            count += len(op[2])
        elif tag == ROOT:
            builder.root(op[1])
            count += 1
        else:
            builder.problem(op[1])
    return count
