"""Scanning one layer's `diff/` tree in this process."""

from __future__ import annotations

import os
import threading

from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.entry import LayerIndex, ScanProgress
from overlayscope.scan.progress import ProgressCallback, Throttle, check_cancel, gc_paused
from overlayscope.scan.walker import walk_tree
from overlayscope.scan.xattrs import overlay_prefixes


class _TreeSink(IndexBuilder):
    """Builds the index as the walk goes, reporting progress and honouring cancel."""

    def __init__(
        self, content_dir: str, cancel: threading.Event | None, progress: ProgressCallback | None
    ) -> None:
        super().__init__(content_dir)
        self._cancel = cancel
        self._progress = progress
        self._throttle = Throttle()

    def tick(self, entries: int, current: str) -> None:
        check_cancel(self._cancel)
        if self._progress is not None and self._throttle.due():
            self._progress(ScanProgress(0, 1, entries, current))


def scan_tree(
    content_dir: str | os.PathLike[str],
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    xattrs: bool = True,
    overlay_xattrs: str | None = None,
) -> LayerIndex:
    """Index every entry of one layer's `diff/` tree, in this process.

    Never follows a symlink inside the tree (the `content_dir` path itself is
    resolved as given), never writes. What cannot be read becomes a
    `ScanProblem` in `LayerIndex.problems` ("vanished", "permission" or
    "error"), a missing or unreadable `content_dir` included, so a live
    container's changing layer never makes this raise.

    `progress` gets `ScanProgress(0, 1, entries, current_dir)` at most about
    ten times a second, and `ScanProgress(1, 1, total, "")` at the end.
    Setting `cancel` makes the scan raise `overlayscope.errors.Cancelled`
    before the next directory (or the next 4096 entries of a big one).
    `xattrs=False` reads extended attributes only of empty files (see `walk_tree`).
    `overlay_xattrs` is the namespace the layer's mounts read overlay metadata from:
    "trusted" (rootful), "user" (rootless); None, either, trusted winning (see `walk_tree`).
    """
    overlay_prefixes(overlay_xattrs)  # a bad namespace raises ValueError before any walk
    sink = _TreeSink(os.fspath(content_dir), cancel, progress)
    with gc_paused():
        walk_tree(sink.content_dir, sink, xattrs=xattrs, overlay_xattrs=overlay_xattrs)
    check_cancel(cancel)
    if progress is not None:
        progress(ScanProgress(1, 1, len(sink.index), ""))
    return sink.index
