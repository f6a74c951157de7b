"""Progress reports and the cancel check for the audit's long work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from overlayscope.errors import Cancelled
from overlayscope.record import record


@record
class AuditProgress:
    """Where a long audit or timeline is: `phase` is `scan`, `check`, `hash` or `walk`."""

    phase: str
    done: int
    total: int
    current: str = ""
    # Entries scanned, checked or walked so far in the phase: moves within one big layer,
    # where `done`/`total` (layers) would stand still for minutes.
    entries: int = 0


ProgressCallback = Callable[[AuditProgress], None]


class CancelFlag(Protocol):
    """What a cancel event must offer: a `threading.Event`, or `AnyOf` several."""

    def is_set(self) -> bool: ...


class AnyOf:
    """Set when any of its flags is: the caller's cancel event or an internal stop."""

    def __init__(self, *flags: CancelFlag | None) -> None:
        self._flags = [f for f in flags if f is not None]

    def is_set(self) -> bool:
        return any(f.is_set() for f in self._flags)


def check_cancel(cancel: CancelFlag | None) -> None:
    """Raise `Cancelled` once `cancel` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("audit cancelled")


class Reporter:
    """Calls `progress` at most ten times a second, and always for the first and the last
    step of a phase."""

    def __init__(self, progress: ProgressCallback | None, interval: float = 0.1) -> None:
        self._progress = progress
        self._interval = interval
        self._next = 0.0
        self._phase = ""
        self._lock = threading.Lock()

    def __call__(
        self, phase: str, done: int, total: int, current: str = "", entries: int = 0
    ) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        with self._lock:
            if now < self._next and done < total and phase == self._phase:
                return
            self._next = now + self._interval
            self._phase = phase
        self._progress(AuditProgress(phase, done, total, current, entries))
