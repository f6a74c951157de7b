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
import queue
import sys
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from overlayscope.record import field, record, replace
from overlayscope.scan import native
from overlayscope.scan.cache import DefaultCache, Identity, ScanCache, default_cache, identity_of
from overlayscope.scan.entry import LayerIndex, ScanProgress
from overlayscope.scan.memory import release_free_memory
from overlayscope.scan.piece import PieceSink
from overlayscope.scan.progress import ProgressCallback, Throttle, check_cancel, gc_paused
from overlayscope.scan.split import Part, Piece, merge
from overlayscope.scan.xattrs import overlay_prefixes

if TYPE_CHECKING:  # the worker processes' modules load when a worker is started
    from overlayscope.scan.process import Inbox, WorkerProcess

_POLL = 0.05  # seconds between cancel checks while only waiting on workers
# entries this process lists before workers beyond the first layers' are started (~15 ms)
_LATE_WORKERS_AFTER = 10_000
# A worker costs ~20 ms of this process's time to start and stop (an interpreter, pipes):
# workers start at once only when more layers than this are to be walked; a container's
# own two small layers beside its cached image are walked here alone, and workers join
# only once this process has listed _LATE_WORKERS_AFTER entries.
_EAGER_AFTER_LAYERS = 2


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
    cache: ScanCache | DefaultCache | None = DefaultCache.DEFAULT,
    eager: bool = True,
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
    or init layer): they are read from `cache` when it holds them, and stored there after
    a scan without problems. A mapping there gives each key the layer id to cache it
    under. Left out, `cache` is `scan.cache.default_cache()` (none when caching is off);
    None is no cache, as `cache_for` answers for a root the cache dir lies in: a refusal
    is never turned back into the default.

    Workers start at once where more than two layers are to be walked; `eager=False`
    (layers small as a rule: every container's rw layer, for `containers`) has this
    process walk first, and workers join only once its walks have listed
    `_LATE_WORKERS_AFTER` entries with layers still to walk, as for one or two layers.

    `progress` gets `ScanProgress(layers_done, layers_total, entries, layer_id)`
    at most about ten times a second, and once more when all is done. Setting
    `cancel` raises `overlayscope.errors.Cancelled` within about 0.1 s (or a
    directory's listing), and kills the workers. A worker that dies raises
    `overlayscope.scan.ScanWorkerError`.
    """
    overlay_prefixes(overlay_xattrs)  # a bad namespace raises ValueError before any worker
    items = [(str(key), os.fspath(path)) for key, path in layers.items()]
    if cache is DefaultCache.DEFAULT:
        cache = default_cache() if cacheable else None
    cached: dict[str, LayerIndex] = {}
    identities: dict[str, Identity] = {}
    cache_keys = dict(cacheable) if isinstance(cacheable, Mapping) else {k: k for k in cacheable}
    n = default_workers() if workers is None else workers
    frozen = getattr(sys, "frozen", False) or not sys.executable  # no interpreter to start
    inbox: Inbox = queue.Queue()
    early: list[WorkerProcess] = []
    certain = sum(1 for key, _ in items if key not in cache_keys)  # never from the cache
    eager_ok = eager and certain > _EAGER_AFTER_LAYERS
    if cache is not None and cache_keys and not frozen and min(n, certain) > 1 and eager_ok:
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
    # one worker a layer at first; the rest (the C walk splits a layer: split.py) only once
    # a walk turns out big enough to be worth one's start-up
    # (only the C walk splits: without it, never more workers than layers)
    splits = native.listdir is not None
    wanted = 1 if frozen or not todo else max(1, n if splits else min(n, len(todo)))
    at_once = min(wanted, len(todo)) if eager and len(todo) > _EAGER_AFTER_LAYERS else 1
    done_entries = sum(map(len, cached.values()))
    with gc_paused():
        scanned = _Scan(
            todo, (max(at_once - 1, len(early)), max(wanted - 1, len(early))), cancel, progress,
            (xattrs, sums, overlay_xattrs), len(items), done_entries, inbox, early,
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
    from overlayscope.scan.process import WorkerProcess

    started: list[WorkerProcess] = []
    for wid in range(first, first + count):
        try:
            started.append(WorkerProcess(wid, inbox))
        except OSError:
            break
    return started


class _HostSink(PieceSink):
    """Builds a piece walked in this process; its ticks also serve the workers."""

    def __init__(self, scan: _Scan, job: _Job) -> None:
        super().__init__(job.content_dir, job.part, job.cold)
        self._scan = scan
        self._job = job

    def tick(self, entries: int, current: str) -> None:
        self._scan.tick(self._job.key, entries, self)

    def cache_cold(self) -> None:
        super().cache_cold()
        self._scan.cold = True  # the walks to come, here and in workers, read ahead at once


@record
class _Job:
    """A walk to make: a whole layer (`part` None), or a subtree another walk delegated."""

    number: int
    key: str
    content_dir: str
    part: Part | None = None
    cold: bool = False  # the walk that delegated it found the page cache cold


@record(frozen=False, slots=False)
class _Layer:
    """A layer whose pieces are walked, maybe by several processes (split.py)."""

    content_dir: str
    pieces: dict[bytes, Piece] = field(default_factory=dict)
    outstanding: int = 1  # pieces still being walked: its own walk, then parts handed out


class _Scan:
    """One `scan_layers` call: a to-do list shared by this process and its workers.

    Layers are the unit of work at first, the biggest first as the caller orders them.
    When a walker (this process or a worker) would sit idle while one still walks, that
    walk hands subtrees it has not entered yet to the to-do list (`Walk.delegate`): this
    process splits its own walk for an idle worker, and asks a busy worker to split its
    walk (`SPLIT`) when it has nothing left itself. A layer is done when all its pieces
    are, and their merge is exactly what one walk would have made (split.py).
    """

    def __init__(
        self,
        items: list[tuple[str, str]],
        extra_workers: tuple[int, int],
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
        options: tuple[bool, bool, str | None],
        total: int,
        done_entries: int,
        inbox: Inbox,
        started: list[WorkerProcess],
    ) -> None:
        self.items = items
        self.extra, self.most = extra_workers  # workers to start now, and at most
        self.cancel = cancel
        self.progress = progress
        self.xattrs, self.sums, self.namespace = options
        self.total = total  # layers, those read from the cache included
        self.jobs = 0
        # pop() takes the next: layers in the order given, then parts as they are handed out
        self.todo: list[_Job] = [self._job(key, path) for key, path in reversed(items)]
        self.layers = {key: _Layer(path) for key, path in items}
        self.results: dict[str, LayerIndex] = {}
        self.remaining = len(items)
        self.entries = done_entries  # in finished pieces
        self.walking: dict[int, int] = {}  # entries so far of pieces in workers, by job
        self.throttle = Throttle()
        self.inbox = inbox
        self.workers = started  # started already; the rest are started by `run`
        self.idle: list[int] = []  # workers ready, with nothing to do yet
        self.busy: dict[int, _Job] = {}  # worker number -> its job
        self.asked: int | None = None  # the worker asked to split its walk, no answer yet
        self.refused: set[int] = set()  # workers whose walk had nothing to hand over
        self.splittable = native.listdir is not None  # only the C walk delegates
        self.cold = False  # a walk found the page cache cold: the next ones need not probe
        self.walked_here = 0  # entries in the walks this process finished

    def _job(
        self, key: str, content_dir: str, part: Part | None = None, cold: bool = False
    ) -> _Job:
        self.jobs += 1
        return _Job(self.jobs, key, content_dir, part, cold)

    def run(self) -> dict[str, LayerIndex]:
        try:
            if len(self.workers) < self.extra:
                self.workers += _start_workers(self.extra - len(self.workers), self.inbox,
                                               first=len(self.workers))  # fmt: skip
            while self.remaining:
                check_cancel(self.cancel)
                self._serve()
                if self.todo:
                    self._walk_here(self.todo.pop())
                    continue
                if self.splittable and self.asked is None:
                    self._ask_split()
                try:
                    wid, frame = self.inbox.get(timeout=_POLL)
                except queue.Empty:
                    continue
                self._receive(wid, frame)
        finally:
            for worker in self.workers:
                worker.stop()
        return {key: self.results[key] for key, _ in self.items}

    def _walk_here(self, job: _Job) -> None:
        sink = _HostSink(self, replace(job, cold=True) if self.cold else job)
        sink.run(xattrs=self.xattrs, overlay_xattrs=self.namespace)
        piece = sink.piece(sums=self.sums)
        self.walked_here += len(piece.columns) if piece.columns else 0
        if self.todo:  # with nothing left to walk, a worker would only start and stop
            self._late_workers(0)
        self._piece(job.key, piece)

    def _late_workers(self, walking: int) -> None:
        """Start the workers not started yet once this process has listed enough entries
        (`walking`: those of the walk under way) for their start-up to pay."""
        if len(self.workers) < self.most and self.walked_here + walking >= _LATE_WORKERS_AFTER:
            self.workers += _start_workers(self.most - len(self.workers), self.inbox,
                                           first=len(self.workers))  # fmt: skip
            self.most = len(self.workers)  # those that failed to start are not tried again

    def _piece(self, key: str, piece: Piece) -> None:
        """A walk of `key` is done; the layer too once all its pieces are."""
        layer = self.layers[key]
        layer.pieces[piece.rel] = piece
        layer.outstanding -= 1
        self.entries += max(len(piece.columns) - (1 if piece.rel else 0), 0) if piece.columns else 0
        if layer.outstanding:
            self._report(key, 0)
            return
        if len(layer.pieces) > 1:
            columns, problems = merge(layer.pieces)
        else:
            columns, problems = piece.columns, piece.problems
        index = (
            LayerIndex.from_columns(layer.content_dir, columns, problems)
            if columns is not None
            else LayerIndex(layer.content_dir, problems=problems)
        )
        self.results[key] = index
        del self.layers[key]
        self.remaining -= 1
        self._report(key, 0)

    def _hand_out(self, key: str, parts: list[Part], cold: bool) -> None:
        """Subtrees a walk of `key` delegated: to the front of the to-do list."""
        if not parts:
            return
        layer = self.layers[key]
        layer.outstanding += len(parts)
        # reversed: pop() then takes them in the order given, the one it would enter first
        self.todo += [self._job(key, layer.content_dir, part, cold) for part in reversed(parts)]

    def tick(self, key: str, entries: int, sink: _HostSink) -> None:
        """Between steps of our own walk: cancel, workers' frames, splitting, progress."""
        check_cancel(self.cancel)
        self._late_workers(entries)
        inbox = self.inbox
        while inbox.queue:  # a peek without the lock: a frame seen late waits one step
            try:
                wid, frame = inbox.get_nowait()
            except queue.Empty:
                break
            self._receive(wid, frame)
        if self.idle and not self.todo:  # a worker would wait: give it part of our walk
            self._hand_out(key, sink.delegate(), sink.cold)
            self._serve()
        self._report(key, entries)

    def _serve(self) -> None:
        """Give idle workers the next jobs."""
        while self.idle and self.todo:
            self._give(self.idle.pop(), self.todo.pop())

    def _give(self, wid: int, job: _Job) -> None:
        self.busy[wid] = job
        self.refused.discard(wid)
        task = (job.key, job.number, job.content_dir, job.part, self.xattrs, self.sums,
                self.namespace, job.cold or self.cold)  # fmt: skip
        self.workers[wid].give(task)

    def _ask_split(self) -> None:
        """Nothing to do here: ask a busy worker to hand part of its walk over."""
        from overlayscope.scan.wire import SPLIT, write_frame

        for wid in self.busy:
            if wid not in self.refused:
                worker = self.workers[wid]
                try:
                    assert worker.proc.stdin is not None
                    write_frame(worker.proc.stdin, SPLIT)
                except OSError as exc:  # it died: say why
                    raise worker.failure() from exc
                self.asked = wid
                return

    def _receive(self, wid: int, frame: bytes | None) -> None:
        import pickle

        from overlayscope.scan.process import ScanWorkerError

        worker = self.workers[wid]
        if frame is None:  # its stdout ended
            self.idle = [w for w in self.idle if w != wid]
            if self.asked == wid:
                self.asked = None
            if worker.task is not None:
                raise worker.failure()
            return
        what, job_number, payload = pickle.loads(frame)
        job = self.busy.get(wid)
        if what == "progress":
            self.walking[job_number] = payload
            self.refused.discard(wid)  # it walked on: it may have subtrees to hand over now
            if job is not None:
                self._report(job.key, 0)
            return
        if what == "parts":
            if self.asked == wid:
                self.asked = None
            parts, cold = payload
            if job is not None and job.number == job_number and parts:
                self._hand_out(job.key, parts, cold)
            else:
                self.refused.add(wid)
            return
        if what == "crash":
            name = job.key if job is not None else "?"
            raise ScanWorkerError(
                f"scanning layer {name} failed in a worker process:\n{payload}",
                hint="retry with workers=1 to see the error in this process",
            )
        if what == "done" and job is not None:
            del self.busy[wid]
            self.walking.pop(job.number, None)
            columns, problems, splices, cold = payload
            self.cold = self.cold or cold
            rel = job.part[0] if job.part else b""
            self._piece(job.key, Piece(rel, columns, problems, splices))
        # a piece finished, or the worker is ready for its first one
        worker.task = None  # not on a layer: its death now is no failure
        if self.todo:
            self._give(wid, self.todo.pop())
        else:
            self.idle.append(wid)

    def _report(self, key: str, in_progress: int) -> None:
        if self.progress is not None and self.throttle.due():
            done = self.total - self.remaining
            entries = self.entries + in_progress + sum(self.walking.values())
            self.progress(ScanProgress(done, self.total, entries, key))
