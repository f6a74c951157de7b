"""The walk of one tree by the C helper (`_listdir.Walk`), for a sink that takes columns.

The helper walks the whole tree as walker.py's pure-Python walk does (the same order,
fds, checks and problems) and builds the layer's `Columns` itself, sums included.
Python runs only between steps of about `STEP` entries: it checks cancel and reports
progress (`Sink.tick`), turns the step's problems and overlay xattrs into objects, and
starts a read-ahead when the cache turns out cold. So a walk costs Python a few
microseconds per `STEP` entries, not per directory or entry.

A `SplitSink` is also given the walk between steps, so that it can hand subtrees to
other walks (`Walk.delegate`: split.py), and told at the end where they go (`spliced`).
A walk of such a subtree (a part: `prefix` its path in the layer) reports its problems
by their paths in the layer.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from overlayscope.scan import native
from overlayscope.scan.columns import Columns
from overlayscope.scan.entry import Kind, OverlayXattrs
from overlayscope.scan.problems import errno_problem, problem_for, replaced
from overlayscope.scan.readahead import Detector, ReadAhead
from overlayscope.scan.sizes import LARGEST_KEPT, LayerSums
from overlayscope.scan.split import Part, Splice
from overlayscope.scan.xattrs import HAVE_PROC_FD, overlay_xattrs

if TYPE_CHECKING:
    from overlayscope.scan.walker import ColumnSink

# the helper's kind codes: those the lstat decides, then OPAQUE_DIR (its xattrs do)
KIND_CODES = (Kind.FILE, Kind.DIR, Kind.SYMLINK, Kind.WHITEOUT, Kind.OTHER, Kind.OPAQUE_DIR)
STEP = 4096  # entries read between two returns to Python: cancel, progress
# ... or this long, whichever comes first: a cold page cache makes 4096 entries last
# a second, and requests (a worker to serve, a SPLIT to answer) would wait as long
STEP_NS = 20_000_000
_FIRST_STEP = 1  # the first step ends with the root's listing: a read-ahead starts from there
_SPLICE = -1  # a "problem" with this errno: where a delegated subtree goes


class Delegator(Protocol):
    """A walk that can hand subtrees it has not entered to other walks (`_listdir.Walk`)."""

    def delegate(self) -> list[Part]:
        """Subtrees this walk will now skip, for another walk to read; maybe none."""


@runtime_checkable
class SplitSink(Protocol):
    """A `ColumnSink` whose layer may be walked by several walks (split.py)."""

    def walking(self, walk: Delegator | None) -> None:
        """The walk in progress, between its steps; None once it is done."""

    def spliced(self, splices: list[Splice]) -> None:
        """Where the subtrees this walk delegated go (after `adopt`); not called if none."""

    def cache_cold(self) -> None:
        """The walk found the page cache cold (and reads ahead): so will its parts."""


def walk_native(
    content_dir: str, root_fd: int, sink: ColumnSink, *, read_xattrs: bool,
    namespace: str | None, fd_window: int, batch: int, prefix: bytes = b"", cold: bool = False,
) -> None:  # fmt: skip
    """Walk the tree below `root_fd` (opened from `content_dir`; closed here) into `sink`:
    its problems as found, its `Columns` at the end (`sink.adopt`). `namespace`: the
    overlay xattrs that are metadata, as `walk_tree`'s `overlay_xattrs`. `prefix`: the
    path in the layer of the dir `root_fd` is (b"/a/b"), b"" for the layer's root.
    `cold`: read ahead from the start (the walk that delegated this part found the page
    cache cold: probing again would read the part's first entries one by one)."""
    assert native.listdir is not None
    xmode = native.XATTRS_ALL if read_xattrs else native.XATTRS_EMPTY_FILES
    try:
        walk = native.listdir.Walk(
            root_fd, xmode, fd_window, batch, LARGEST_KEPT, os.fsencode(content_dir) + prefix,
            HAVE_PROC_FD, native.NAMESPACE_CODES[namespace],
        )  # fmt: skip
    except OSError as exc:
        os.close(root_fd)
        sink.problem(problem_for(os.fsdecode(prefix) or "/", exc))
        return
    splitting = sink if isinstance(sink, SplitSink) else None
    marks: list[tuple[bytes, int]] = []  # delegated subtrees reached: path, problems before
    reported = 0
    detector = Detector()
    cold = cold or Detector.forced()
    readahead: ReadAhead | None = None
    found: dict[int, OverlayXattrs] = {}
    entries, current, budget = 1, b"", _FIRST_STEP
    try:
        if splitting is not None:
            splitting.walking(walk)
        while True:
            sink.tick(entries, os.fsdecode(prefix + current) if prefix or current else "/")
            before = entries
            entries, done, problems, xattrs, current = walk.step(budget, STEP_NS)
            for path, code in problems:
                if prefix:
                    path = prefix if path == b"/" else prefix + path
                if code == _SPLICE:
                    marks.append((path, reported))
                    continue
                where = os.fsdecode(path)
                sink.problem(errno_problem(where, code) if code else replaced(where))
                reported += 1
            for i, values, trusted in xattrs:
                found[i] = overlay_xattrs("trusted" if trusted else "user", values)
            if done:
                break
            if not detector.decided and detector.cold(entries - before):
                cold = True
            if cold and readahead is None:
                if splitting is not None:
                    splitting.cache_cold()
                readahead = ReadAhead(root_fd)  # the root's fd is open until the walk is done
                readahead.push(walk.pending())
            budget = STEP if detector.decided else max(1, min(STEP, detector.remaining()))
        columns = columns_of(walk.finish(), found)
        splices = [
            Splice(path[1:], entry, at_entry, at_slot, parent_slot, at_problem)
            for (path, at_problem), (entry, at_entry, at_slot, parent_slot) in zip(
                marks, walk.splices(), strict=True
            )
        ]
    finally:
        if splitting is not None:
            splitting.walking(None)
        if readahead is not None:
            readahead.close()
        walk.close()
    sink.adopt(columns)
    if splices and splitting is not None:
        splitting.spliced(splices)


def columns_of(finished: tuple[Any, ...], xattrs: dict[int, OverlayXattrs]) -> Columns:
    """The `Columns` of what `Walk.finish` returned."""
    names, targets, cols, attrs, rdevs, wide_times, sums = finished
    c = Columns()
    for name, col in cols:
        setattr(c, name, col)
    c.names, c.targets = names, targets
    c.attrs = [(KIND_CODES[kind], mode, uid, gid) for kind, mode, uid, gid in attrs]
    c.rdev = dict(rdevs)
    c.wide_times = {i: (mtime, ctime) for i, mtime, ctime in wide_times}
    c.xattrs = xattrs
    blocks, apparent, docker, linked, largest = sums
    c.sums = LayerSums(blocks, apparent, docker, tuple(linked), tuple(largest))
    return c
