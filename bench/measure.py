"""Timing commands: wall clock, CPU (user + sys of the process tree) and peak RSS.

Each run is a fresh process waited for with `os.wait4`, whose rusage covers the child and
every descendant it waited for (overlayscope's scan workers included). Peak RSS is the
largest single process of that tree, not their sum, and comes from GNU time (`%M`) when
it is installed: a child forked from this Python process inherits its RSS as a floor of
`ru_maxrss` (the kernel records the old mm's high-water mark at exec), and `time` is small.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

DROP_CACHES = "/proc/sys/vm/drop_caches"


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + sys seconds, the whole waited-for process tree
    maxrss: int  # bytes, the largest process


@dataclass
class Tool:
    """One command to time. `base` names the row its ratio is taken against."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    base: str | None = None
    before: Callable[[], None] | None = None  # untimed, before each run (e.g. clear a cache)
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def maxrss(self) -> int:
        return max(s.maxrss for s in self.samples)


class CommandFailed(RuntimeError):
    pass


def can_drop_caches() -> bool:
    """Is dropping the page cache permitted here (root, writable procfs)?"""
    return os.geteuid() == 0 and os.access(DROP_CACHES, os.W_OK)


def drop_caches() -> None:
    """Write dirty pages back, then drop the page cache, dentries and inodes."""
    os.sync()
    with open(DROP_CACHES, "w") as f:
        f.write("3\n")


GNU_TIME = "/usr/bin/time"


def run_once(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Sample:
    """Run `argv` to completion (stdout discarded); raise CommandFailed on a non-zero exit."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        command = list(argv)
        if os.access(GNU_TIME, os.X_OK):
            command = [GNU_TIME, "-f", "%M", "-o", rss.name, *command]
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, env=dict(env) if env else None
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-1500:].decode(errors="replace").strip()
            raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: {tail}")
        text = rss.read().strip().splitlines()
        maxrss = int(text[-1]) if text and text[-1].isdigit() else usage.ru_maxrss
    return Sample(wall, usage.ru_utime + usage.ru_stime, maxrss * 1024)


def run_rounds(
    tools: list[Tool],
    rounds: int,
    *,
    cold: bool = False,
    warmup: bool = True,
    log: Callable[[str], None] = print,
) -> None:
    """Time every tool `rounds` times, alternating: forward order, then backward, ...

    Warm (default): one untimed run of each first fills the page cache. Cold: the page
    cache is dropped before every run. A tool that fails keeps its error and is skipped.
    """
    if warmup and not cold:
        for tool in tools:
            _one(tool, cold=False, record=False)
    for r in range(rounds):
        order = tools if r % 2 == 0 else list(reversed(tools))
        for tool in order:
            _one(tool, cold=cold, record=True)
        done = ", ".join(f"{t.name} {t.samples[-1].wall:.2f}s" for t in tools if t.samples)
        log(f"  round {r + 1}/{rounds}: {done}")


def _one(tool: Tool, *, cold: bool, record: bool) -> None:
    if tool.error is not None:
        return
    if tool.before is not None:
        tool.before()
    if cold:
        drop_caches()
    try:
        sample = run_once(tool.argv, tool.env)
    except (CommandFailed, OSError) as exc:
        tool.error = str(exc)
        return
    if record:
        tool.samples.append(sample)
