"""Scanning many layers at once: this process and worker processes share the layers.

Processes, not threads: the walk is mostly bytecode between short syscalls,
so threads serialise on the GIL (docs/scanner.md has the numbers). With
`workers=n`, this process scans layers itself and starts n-1 workers; all take
the next layer from one list as they come free, so nothing waits on a worker's
start-up and small jobs never need one. A worker builds its layer in the compact
layout (`columns.py`) and sends it whole, which this process receives between the
directories of its own walk at next to no cost.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import threading
from collections.abc import Collection, Mapping

from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.cache import Identity, ScanCache, default_cache, identity_of
from overlayscope.scan.entry import LayerIndex, ScanProgress
from overlayscope.scan.memory import release_free_memory
from overlayscope.scan.process import Inbox, ScanWorkerError, WorkerProcess
from overlayscope.scan.progress import ProgressCallback, Throttle, check_cancel, gc_paused
from overlayscope.scan.sizes import layer_sums
from overlayscope.scan.walker import walk_tree
from overlayscope.scan.wire import Message, Task
from overlayscope.scan.xattrs import overlay_prefixes

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
    xattrs: bool = True,
    overlay_xattrs: str | None = None,
    sums: bool = False,
    cacheable: Collection[str] | Mapping[str, str] = (),
    cache: ScanCache | None = None,
) -> dict[str, LayerIndex]:
    """Index many layers' `diff/` trees in parallel; keys are the layer ids, in order given.

    `layers` maps a layer id to its `diff/` directory. `workers` is how many
    processes scan (default: `default_workers()`, never more than layers): this one
    and `workers - 1` started for the job; `workers=1` starts none. Problems
    reading a tree are recorded per layer, as in `scan_tree`; should no worker
    start (no interpreter to run), this process scans everything.

    `xattrs=False` reads extended attributes only of empty files (see `walk_tree`):
    for callers that only count bytes. `overlay_xattrs` is the namespace the layers'
    mounts read overlay metadata from (`Host.overlay_xattrs`): "trusted" (rootful) or
    "user" (rootless); the other one's xattrs are then no overlay metadata. None reads
    either, trusted winning, for trees no host describes. `sums=True` has each index's
    `LayerSums` (`scan.sizes`) made where it was scanned, workers included, for callers
    that will total the layers. `cacheable` names the layers whose trees
    cannot change while they exist (committed image layers; never a container's rw
    or init layer): they are read from `cache` (default: `scan.cache.default_cache()`,
    None when caching is off) when it holds them, and stored there after a scan
    without problems. A mapping there gives each key the layer id to cache it under.

    `progress` gets `ScanProgress(layers_done, layers_total, entries, layer_id)`
    at most about ten times a second, and once more when all is done. Setting
    `cancel` raises `overlayscope.errors.Cancelled` within about 0.1 s (or a
    directory's listing), and kills the workers. A worker that dies raises
    `overlayscope.scan.ScanWorkerError`.
    """
    overlay_prefixes(overlay_xattrs)  # a bad namespace raises ValueError before any worker
    items = [(str(key), os.fspath(path)) for key, path in layers.items()]
    if cacheable and cache is None:
        cache = default_cache()
    cached: dict[str, LayerIndex] = {}
    identities: dict[str, Identity] = {}
    cache_keys = dict(cacheable) if isinstance(cacheable, Mapping) else {k: k for k in cacheable}
    n = default_workers() if workers is None else workers
    frozen = getattr(sys, "frozen", False) or not sys.executable  # no interpreter to start
    inbox: Inbox = queue.Queue()
    early: list[WorkerProcess] = []
    certain = sum(1 for key, _ in items if key not in cache_keys)  # never from the cache
    if cache is not None and cache_keys and not frozen and min(n, certain) > 1:
        early = _start_workers(min(n, certain) - 1, inbox)  # they boot while we read the cache
    try:
        if cache is not None:
            for key, path in items:
                if key in cache_keys:
                    check_cancel(cancel)
                    hit = cache.load(
                        cache_keys[key], path, xattrs=xattrs, overlay_xattrs=overlay_xattrs
                    )
                    if hit is not None:
                        cached[key] = hit
                    else:
                        identity = identity_of(path)
                        if identity is not None:
                            identities[key] = identity
    except BaseException:
        for worker in early:
            worker.stop()
        raise
    todo = [(key, path) for key, path in items if key not in cached]
    n = 1 if frozen else max(1, min(n, len(todo)))
    done_entries = sum(map(len, cached.values()))
    with gc_paused():
        scanned = _Scan(
            todo, max(n - 1, len(early)), cancel, progress, (xattrs, sums, overlay_xattrs),
            len(items), done_entries, inbox, early,
        ).run()  # fmt: skip
    if cache is not None:
        for key, identity in identities.items():
            index = scanned[key]
            if not index.problems:
                cache.store(
                    cache_keys[key], index, identity, xattrs=xattrs, overlay_xattrs=overlay_xattrs
                )
    result = {key: cached[key] if key in cached else scanned[key] for key, _ in items}
    release_free_memory(sum(map(len, scanned.values())))
    if progress is not None:
        progress(ScanProgress(len(items), len(items), sum(map(len, result.values())), ""))
    return result


def _start_workers(count: int, inbox: Inbox, first: int = 0) -> list[WorkerProcess]:
    """Start `count` workers numbered from `first`; fewer if an interpreter fails to start
    (e.g. one this user may not execute): the scan goes on with those, this process at least."""
    started: list[WorkerProcess] = []
    for wid in range(first, first + count):
        try:
            started.append(WorkerProcess(wid, inbox))
        except OSError:
            break
    return started


class _HostSink(IndexBuilder):
    """Builds a layer scanned in this process; its ticks also serve the workers."""

    def __init__(self, scan: _Scan, key: str, content_dir: str) -> None:
        super().__init__(content_dir)
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
        options: tuple[bool, bool, str | None],
        total: int,
        done_entries: int,
        inbox: Inbox,
        started: list[WorkerProcess],
    ) -> None:
        self.items = items
        self.paths = dict(items)
        self.extra = extra_workers
        self.cancel = cancel
        self.progress = progress
        self.xattrs, self.sums, self.namespace = options
        self.total = total  # layers, those read from the cache included
        self.todo: list[tuple[str, str]] = list(reversed(items))  # pop() takes them in order
        self.results: dict[str, LayerIndex] = {}
        self.remaining = len(items)
        self.entries = done_entries  # in finished layers
        self.walking: dict[str, int] = {}  # entries so far of layers in workers
        self.throttle = Throttle()
        self.inbox = inbox
        self.workers = started  # started already; the rest are started by `run`

    def run(self) -> dict[str, LayerIndex]:
        try:
            if len(self.workers) < self.extra:
                self.workers += _start_workers(self.extra - len(self.workers), self.inbox,
                                               first=len(self.workers))  # fmt: skip
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
        return {key: self.results[key] for key, _ in self.items}

    def _scan_here(self, key: str, content_dir: str) -> None:
        sink = _HostSink(self, key, content_dir)
        walk_tree(content_dir, sink, xattrs=self.xattrs, overlay_xattrs=self.namespace)
        if self.sums and sink.index.columns is not None:
            layer_sums(sink.index.columns)
        self._done(key, sink.index)

    def _done(self, key: str, index: LayerIndex) -> None:
        self.results[key] = index
        self.walking.pop(key, None)
        self.entries += len(index)
        self.remaining -= 1
        self._report(key, 0)

    def tick(self, key: str, entries: int) -> None:
        """Between directories of our own walk: cancel, workers' frames, progress."""
        check_cancel(self.cancel)
        inbox = self.inbox
        while inbox.queue:  # a peek without the lock: a frame seen late waits one dir
            try:
                wid, frame = inbox.get_nowait()
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
        key, payload, done, crash = message
        if crash is not None:
            raise ScanWorkerError(
                f"scanning layer {key} failed in a worker process:\n{crash}",
                hint="retry with workers=1 to see the error in this process",
            )
        if key is not None and not done:
            self.walking[key] = payload
            self._report(key, 0)
            return
        if key is not None:
            columns, problems = payload
            self._done(key, LayerIndex.from_columns(self.paths[key], columns, problems))
        # a layer finished, or the worker is ready for its first one
        task: Task | None = (
            (*self.todo.pop(), self.xattrs, self.sums, self.namespace) if self.todo else None
        )
        worker.give(task)

    def _report(self, key: str, in_progress: int) -> None:
        if self.progress is not None and self.throttle.due():
            done = self.total - self.remaining
            entries = self.entries + in_progress + sum(self.walking.values())
            self.progress(ScanProgress(done, self.total, entries, key))
