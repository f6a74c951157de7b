"""The exporter's state: the last completed scan's figures, refreshed by a background thread.

A scrape (`Exporter.collect`, prometheus_client's collector protocol) reads only what the
last scan left behind: it never walks a layer, and during a rescan it gets the previous
figures. A scan that fails — a damaged root, permission denied, anything — keeps them too
and is published as `overlayscope_scan_errors{kind="failed"}`; the thread goes on.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import Metric

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.metrics.families import ScanStatus, families
from overlayscope.metrics.figures import Figures
from overlayscope.metrics.priority import lower_priority
from overlayscope.names import plural, printable

Scan = Callable[[threading.Event], Figures]  # one scan; the event cancels it
Log = Callable[[str], None]


def log_to_stderr(line: str) -> None:
    sys.stderr.write(f"overlayscope serve: {printable(line)}\n")
    sys.stderr.flush()


def describe(exc: BaseException) -> str:
    """One line saying why a scan failed, as the CLI would say it."""
    if isinstance(exc, OverlayscopeError):
        return f"{exc.title}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")
    if isinstance(exc, OSError):
        where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        return f"cannot read: {exc.strerror or exc}{where}"
    return f"internal error: {type(exc).__name__}: {exc}"


class Exporter:
    """Figures of the last completed scan, and the thread that refreshes them.

    `scan` measures the host once; `interval` is the pause, in seconds, between the end of
    one scan and the start of the next (`rescan()` starts one at once). `root` labels the
    scan status until a scan has named the root itself.
    """

    def __init__(
        self,
        scan: Scan,
        *,
        root: str,
        interval: float,
        top: int,
        log: Log = log_to_stderr,
        priority: Callable[[], str] | None = lower_priority,
    ) -> None:
        self._scan = scan
        self.interval = interval
        self.top = top
        self._log = log
        self._priority = priority
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._figures: Figures | None = None
        self._status = ScanStatus(root, running=False)
        self._attempts = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a scrape sees ---------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Every family, from the last completed scan: no I/O, never waits for a scan."""
        figures, status, _ = self.state()
        yield from families(figures, status, top=self.top)

    def state(self) -> tuple[Figures | None, ScanStatus, int]:
        """(last completed figures, the last attempt's status, attempts finished)."""
        with self._lock:
            return self._figures, self._status, self._attempts

    def wait_for_scans(self, count: int, timeout: float) -> bool:
        """Block until `count` scan attempts have finished; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._attempts >= count, timeout)

    # -- the refreshing thread -----------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="overlayscope-scan", daemon=True)
        self._thread.start()

    def rescan(self) -> None:
        """Start the next scan now (or right after the one under way)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the scan under way and end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._priority is not None:
            self._log(f"scans run at low priority ({self._priority()})")
        while not self._stop.is_set():
            self.scan_once()
            self._wake.wait(self.interval)
            self._wake.clear()

    def scan_once(self) -> bool:
        """One scan attempt; True when it completed. Never raises."""
        with self._lock:
            self._status = ScanStatus(self._status.root, self._status.failed,
                                      self._status.error, running=True)  # fmt: skip
        try:
            figures = self._scan(self._stop)
        except Cancelled:  # the exporter is stopping
            self._finish(None, "")
            return False
        except Exception as exc:  # a damaged or unreadable root must never stop the exporter
            message = describe(exc)
            self._log(f"scan failed: {message}")
            self._finish(None, message)
            return False
        self._log(
            f"scanned {figures.root} in {figures.duration:.1f} s: "
            f"{plural(len(figures.containers), 'container')}, "
            f"{plural(len(figures.images), 'image')}, {plural(figures.orphans, 'orphan')}, "
            f"{plural(sum(figures.problems.values()), 'problem')}"
        )
        self._finish(figures, "")
        return True

    def _finish(self, figures: Figures | None, error: str) -> None:
        with self._changed:
            if figures is not None:
                self._figures = figures
                self._status = ScanStatus(figures.root, running=False)
            elif error:
                self._status = ScanStatus(self._status.root, True, error, running=False)
            else:  # cancelled on the way out: nothing new to say
                self._status = ScanStatus(self._status.root, self._status.failed,
                                          self._status.error, running=False)  # fmt: skip
            self._attempts += 1
            self._changed.notify_all()
