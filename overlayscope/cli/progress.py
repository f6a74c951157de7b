"""Progress bars on stderr for work that lasts more than a second; silent otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from overlayscope.names import plural, printable
from overlayscope.scan.entry import ScanProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from overlayscope.root.model import Container, Host, Image
    from overlayscope.union.stack import LayerStack

DELAY = 1.0  # seconds before a bar appears


class DelayedBar:
    """One bar per task key, shown on a terminal's stderr once the work passes DELAY.

    Thread-safe: workers (hashing threads, scan callbacks) may report at once.
    """

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def update(self, key: str, label: str, done: int, total: int | None, note: str = "") -> None:
        if not sys.stderr.isatty() or time.monotonic() - self._started < DELAY:
            return
        with self._lock:
            if self._bar is None:
                # Loaded here: a command done within DELAY never draws a bar, nor pays for one.
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                from overlayscope.cli.output import stderr_console

                self._bar = Progress(
                    # Labels may name a container or a tag: evidence, so never markup.
                    TextColumn("{task.description}", markup=False),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total} {task.fields[note]}", markup=False),
                    TimeElapsedColumn(),
                    transient=True,
                    console=stderr_console(soft_wrap=False),
                    # Never capture stdout: results may stream there while the bar shows.
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._bar.start()
            if key not in self._tasks:
                self._tasks[key] = self._bar.add_task(printable(label), total=total, note=note)
            self._bar.update(self._tasks[key], completed=done, total=total, note=note)

    def stop(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


@contextmanager
def delayed_bar() -> Iterator[DelayedBar]:
    bar = DelayedBar()
    try:
        yield bar
    finally:
        bar.stop()


@contextmanager
def scan_progress(label: str) -> Iterator[Callable[[ScanProgress], None]]:
    """Yield a scan progress callback that drives a delayed bar."""
    with delayed_bar() as bar:
        yield lambda p: bar.update(
            "scan", label, p.layers_done, p.layers_total,
            f"layers, {plural(p.entries, 'entry', 'entries')}",
        )  # fmt: skip


def stack_with_progress(host: Host, obj: Container | Image) -> LayerStack:
    """The layer stack of `obj`, its layers scanned under a delayed progress bar."""
    from overlayscope.root.refs import describe
    from overlayscope.union.host_stacks import build_stack

    with scan_progress(f"scanning {describe(obj)}") as progress:
        return build_stack(host, obj, progress=progress)
