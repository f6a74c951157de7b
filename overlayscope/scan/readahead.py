"""Read-ahead for a walk on a cold cache: threads that list and lstat the dirs it will reach.

On a cold page cache a walk waits on the disk for every inode, one read at a time.
A `ReadAhead` keeps more reads in flight: a few threads walk the part of the tree
the walk has not reached yet, depth first from the dirs it will visit next (a shared
stack, so they work near its front and then ahead of it), through the C helper's
`warm_dir`, which runs without the GIL and discards what it reads. The walk then
finds the inodes cached. Nothing it reads is trusted: it only warms the kernel's
caches, so the walk's own results are what they would be without it.

The walk starts a read-ahead only once it sees a cold cache (`Detector`): on a warm
one, warming is pure overhead. `OVERLAYSCOPE_READAHEAD=0` turns it off, `=1`
starts it with every walk.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Iterable

from overlayscope.scan import native

THREADS = 3  # reads in flight per walk, beside the walk's own (two walks run at once)
_PROBE_ENTRIES = 1500  # entries listed before deciding
_COLD_SECTORS = 256  # 128 KiB read from the device meanwhile: the cache is cold
_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)


def _setting() -> str:
    return os.environ.get("OVERLAYSCOPE_READAHEAD", "auto")


def _sectors_read() -> int:
    """512-byte blocks this thread has made the kernel read from a device."""
    assert _RUSAGE_THREAD is not None
    return resource.getrusage(_RUSAGE_THREAD).ru_inblock


class Detector:
    """Watches the start of a walk to tell a cold cache from a warm one.

    Not by timing (a loaded machine makes a warm walk slow too) but by what the
    kernel counts: the blocks this thread had to read from the device
    (`ru_inblock`) while listing the first `_PROBE_ENTRIES` entries. A warm
    cache reads none.
    """

    __slots__ = ("decided", "entries", "start")

    def __init__(self) -> None:
        usable = native.listdir is not None and _RUSAGE_THREAD is not None
        self.decided = not usable or _setting() in ("0", "1")
        self.entries = 0
        self.start = 0 if self.decided else _sectors_read()

    @staticmethod
    def forced() -> bool:
        """Read ahead from the start of every walk (`OVERLAYSCOPE_READAHEAD=1`)."""
        return native.listdir is not None and _setting() == "1"

    def remaining(self) -> int:
        """Entries still to list before deciding."""
        return _PROBE_ENTRIES - self.entries

    def cold(self, entries: int) -> bool:
        """Count one listing; True once (when enough is listed) if the cache is cold."""
        self.entries += entries
        if self.entries < _PROBE_ENTRIES:
            return False
        self.decided = True
        return _sectors_read() - self.start >= _COLD_SECTORS


class ReadAhead:
    """Threads warming the dirs below `root_fd` (a dup is kept) given by `push`."""

    def __init__(self, root_fd: int, threads: int = THREADS) -> None:
        assert native.listdir is not None
        self._warm = native.listdir.warm_dir
        self._fd = os.dup(root_fd)
        self._stop = bytearray(1)
        self._stack: list[bytes] = []
        self._wake = threading.Condition()
        self.dirs = 0  # dirs warmed, for tests and the curious
        self._threads = [
            threading.Thread(target=self._run, name=f"overlayscope-readahead-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def push(self, relpaths: Iterable[bytes]) -> None:
        """Dirs (relative to the root, no leading '/') to warm; the last pushed go first."""
        with self._wake:
            self._stack.extend(relpaths)
            self._wake.notify_all()

    def _run(self) -> None:
        warm, stop, stack, wake = self._warm, self._stop, self._stack, self._wake
        while True:
            with wake:
                while not stack and not stop[0]:
                    wake.wait()
                if stop[0]:
                    return
                rel = stack.pop()
            found = warm(self._fd, rel, stop)
            if isinstance(found, int):  # vanished or refused: the walk will say so
                continue
            prefix = rel + b"/" if rel else b""
            children = [prefix + name for name in reversed(found)]
            with wake:  # the count too: `+=` from several threads can lose updates
                self.dirs += 1
                stack.extend(children)
                wake.notify(len(children))

    def close(self) -> None:
        """Stop the threads (each within one directory's listing) and close the fd."""
        with self._wake:
            self._stop[0] = 1
            self._stack.clear()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join()
        os.close(self._fd)
