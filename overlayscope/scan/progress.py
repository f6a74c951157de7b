"""Progress and cancel plumbing shared by the in-process and parallel scans."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator

from overlayscope.errors import Cancelled
from overlayscope.scan.entry import ScanProgress

ProgressCallback = Callable[[ScanProgress], None]
INTERVAL = 0.1  # seconds between progress reports: ~10 a second is plenty for a UI


class Throttle:
    """True at most once per `interval` seconds (the first call included)."""

    __slots__ = ("_interval", "_next")

    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._interval
        return True


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` once `cancel` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("scan cancelled")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a scan builds its index.

    A scan allocates millions of long-lived, acyclic objects; each of them makes
    the collector run and re-traverse everything built so far, which measured
    ~25% of a scan. Pausing is process-wide but brief, and nothing is lost: what
    garbage other threads make meanwhile is collected once this ends. The GC is
    re-enabled only if it was enabled on entry.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
