"""A `du -x` of the data root outside the trees the scanner measures, attributed by path.

The layers' `diff/` trees and the volumes' `_data` trees go through the
parallel scanner; this walk covers everything else (records, logs, `work/`,
`overlay2/l/`, `buildkit/`, ...) in this process. It never follows a symlink
and never crosses into another filesystem: a mount point below the root (a
running container's `merged/`, its `mounts/shm`) is skipped and reported,
as its bytes are elsewhere (the layers themselves, or memory).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable

from overlayscope.scan.progress import check_cancel
from overlayscope.scan.walker import problem_for
from overlayscope.usage.footprint import (
    FileUsage,
    Links,
    Tally,
    TopFiles,
    UsageProblem,
    add_entry,
)

Key = tuple[str, str]  # (category, owner), e.g. ("container_logs", "<container id>")
Classify = Callable[[tuple[str, ...]], Key]


class RootWalk:
    """Walk `root`, skipping the absolute dir paths in `skip`, tallying per `classify` key."""

    def __init__(
        self,
        root: str,
        *,
        skip: set[str],
        classify: Classify,
        links: Links,
        files: TopFiles,
        cancel: threading.Event | None = None,
        tick: Callable[[int, str], None] | None = None,
    ) -> None:
        self.root = root
        self.skip = skip
        self.classify = classify
        self.links = links
        self.files = files
        self.cancel = cancel
        self.tick = tick
        self.tallies: dict[Key, Tally] = {}
        self.skipped_mounts: list[str] = []
        self.problems: list[UsageProblem] = []
        self.entries = 0

    def _count(self, key: Key, path: str, st: os.stat_result) -> None:
        self.entries += 1
        if not self.links.first(st.st_dev, st.st_ino, st.st_nlink, st.st_mode):
            return
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = Tally()
        add_entry(tally, mode=st.st_mode, size=st.st_size, blocks=st.st_blocks)
        allocated = st.st_blocks * 512
        if stat.S_ISREG(st.st_mode) and self.files.wants(allocated, st.st_size):
            self.files.add(FileUsage(path, key[0], key[1], st.st_size, allocated))

    def run(self) -> None:
        try:
            st = os.lstat(self.root)
        except OSError as exc:
            self._problem(self.root, exc)
            return
        self._count(self.classify(()), self.root, st)
        stack: list[tuple[str, tuple[str, ...], int]] = [(self.root, (), st.st_dev)]
        while stack:
            path, parts, dev = stack.pop()
            check_cancel(self.cancel)
            if self.tick is not None:
                self.tick(self.entries, path)
            try:
                it = os.scandir(path)
            except OSError as exc:
                self._problem(path, exc)
                continue
            with it:
                try:
                    for de in it:
                        child = path + "/" + de.name if path != "/" else "/" + de.name
                        if child in self.skip:
                            continue
                        try:
                            cst = de.stat(follow_symlinks=False)
                        except OSError as exc:
                            self._problem(child, exc)
                            continue
                        cparts = (*parts, de.name)
                        if stat.S_ISDIR(cst.st_mode) and cst.st_dev != dev:
                            self.skipped_mounts.append(child)
                            continue
                        self._count(self.classify(cparts), child, cst)
                        if stat.S_ISDIR(cst.st_mode):
                            stack.append((child, cparts, dev))
                except OSError as exc:  # the listing itself failed part way
                    self._problem(path, exc)

    def _problem(self, path: str, exc: OSError) -> None:
        p = problem_for(path, exc)
        self.problems.append(UsageProblem(path, p.kind, p.detail))
