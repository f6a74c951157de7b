"""A `du -x` of the store's roots outside the trees the scanner measures, attributed by path.

The layers' content trees and the volumes' `_data` trees go through the
parallel scanner; this walk covers everything else (records, logs, `work/`,
`overlay2/l/`, `buildkit/`, content blobs...) in this process. It never follows a symlink
and never crosses into another filesystem: a mount point below the root (a
running container's `merged/`, its `mounts/shm`) is skipped and reported,
as its bytes are elsewhere (the layers themselves, or memory).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator

from overlayscope.root.records import open_dir
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


@contextlib.contextmanager
def _closing(fd: int) -> Iterator[None]:
    try:
        yield
    finally:
        os.close(fd)


Key = tuple[str, str]  # (category, owner), e.g. ("container_logs", "<container key>")


class Areas:
    """Which (category, owner) each path of the walked roots belongs to.

    `areas` maps absolute paths (dirs or files the store's reader named: a layer's dir,
    a volume, a log file, a blob…) to their key; everything beneath a path inherits
    its key. A root's direct children that no area claims are `other` buckets named
    after them (prefixed by the root's own name for every root but the first); a root
    dir itself is the bucket `ROOT_BUCKET` (first root) or its own name.
    """

    ROOT_BUCKET = "."

    def __init__(self, roots: list[str], areas: dict[str, Key], other: str) -> None:
        self.roots = roots
        self.areas = areas
        self.other = other

    def of_root(self, i: int) -> Key:
        if i == 0:
            return (self.other, self.ROOT_BUCKET)
        return (self.other, os.path.basename(self.roots[i]))

    def of(self, path: str, name: str, parent: Key | None, root_index: int) -> Key:
        """The key of `path` (named `name`), whose parent dir's key is `parent` (None for a
        root's direct child)."""
        key = self.areas.get(path)
        if key is not None:
            return key
        if parent is not None:
            return parent
        if root_index == 0:
            return (self.other, name)
        return (self.other, os.path.basename(self.roots[root_index]) + "/" + name)


class RootWalk:
    """Walk `roots`, skipping the absolute dir paths in `skip`, tallying per `areas` key."""

    def __init__(
        self,
        roots: list[str],
        *,
        skip: set[str],
        areas: Areas,
        links: Links,
        files: TopFiles,
        cancel: threading.Event | None = None,
        tick: Callable[[int, str], None] | None = None,
    ) -> None:
        self.roots = roots
        self.skip = skip
        self.areas = areas
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
        for i, root in enumerate(self.roots):
            self._walk(i, root)

    def _walk(self, root_index: int, root: str) -> None:
        try:
            st = os.lstat(root)
        except OSError as exc:
            self._problem(root, exc)
            return
        root_key = self.areas.areas.get(root) or self.areas.of_root(root_index)
        self._count(root_key, root, st)
        stack: list[tuple[str, Key | None, int]] = [(root, None, st.st_dev)]
        while stack:
            path, key, dev = stack.pop()
            check_cancel(self.cancel)
            if self.tick is not None:
                self.tick(self.entries, path)
            try:
                fd = open_dir(path)  # O_NOATIME: a live host's dirs keep their atimes
            except OSError as exc:
                self._problem(path, exc)
                continue
            try:
                it = os.scandir(fd)
            except OSError as exc:
                os.close(fd)
                self._problem(path, exc)
                continue
            with it, _closing(fd):
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
                        if stat.S_ISDIR(cst.st_mode) and cst.st_dev != dev:
                            self.skipped_mounts.append(child)
                            continue
                        ckey = self.areas.of(child, de.name, key, root_index)
                        self._count(ckey, child, cst)
                        if stat.S_ISDIR(cst.st_mode):
                            stack.append((child, ckey, dev))
                except OSError as exc:  # the listing itself failed part way
                    self._problem(path, exc)

    def _problem(self, path: str, exc: OSError) -> None:
        p = problem_for(path, exc)
        self.problems.append(UsageProblem(path, p.kind, p.detail))
