"""A progress bar on stderr for scans that last more than a second; silent otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from overlayscope.cli.output import stderr_console
from overlayscope.scan.entry import ScanProgress

DELAY = 1.0  # seconds before a bar appears


@contextmanager
def scan_progress(label: str) -> Iterator[Callable[[ScanProgress], None]]:
    """Yield a progress callback; on a terminal, a bar shows on stderr after DELAY seconds."""
    started = time.monotonic()
    bar: Progress | None = None
    task: TaskID | None = None

    def report(p: ScanProgress) -> None:
        nonlocal bar, task
        if not sys.stderr.isatty() or time.monotonic() - started < DELAY:
            return
        if bar is None:
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn(
                    "{task.completed}/{task.total} layers, {task.fields[entries]:,} entries"
                ),
                TimeElapsedColumn(),
                transient=True,
                console=stderr_console(),
                # Never capture stdout: results stream there while the bar shows.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            bar.start()
            task = bar.add_task(label, total=p.layers_total, entries=p.entries)
        if task is not None:
            bar.update(task, completed=p.layers_done, total=p.layers_total, entries=p.entries)

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()
