"""A scan worker process: `python -m overlayscope.scan.worker`.

Reads `Task` frames on stdin, walks each tree, and streams `Message` frames on
stdout in chunks, so the parent builds the index while the walk goes on. Exits
at the end of stdin; the parent kills it to cancel (it only ever reads).
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import time
import traceback
from typing import IO

from overlayscope.scan.entry import ScanProblem
from overlayscope.scan.progress import INTERVAL
from overlayscope.scan.walker import Record, walk_tree
from overlayscope.scan.wire import (
    ENTRIES,
    PROBLEM,
    READY,
    ROOT,
    Message,
    Op,
    Task,
    read_frame,
    write_frame,
)

CHUNK_ENTRIES = 16384  # ship at least this often (entries) ...
CHUNK_SECONDS = INTERVAL  # ... or this often, so the parent's progress stays live


class WireSink:
    """A walker `Sink` that buffers ops and writes them to the parent in chunks."""

    def __init__(self, key: str, out: IO[bytes]) -> None:
        self._key = key
        self._out = out
        self._ops: list[Op] = []
        self._count = 0
        self._deadline = time.monotonic() + CHUNK_SECONDS

    def root(self, record: Record) -> None:
        self._ops.append((ROOT, record))
        self._count += 1

    def entries(self, dir_path: str, records: list[Record]) -> None:
        self._ops.append((ENTRIES, dir_path, records))
        self._count += len(records)
        if self._count >= CHUNK_ENTRIES:
            self.flush(False)

    def problem(self, problem: ScanProblem) -> None:
        self._ops.append((PROBLEM, problem))

    def tick(self, entries: int, current: str) -> None:
        if time.monotonic() >= self._deadline:
            self.flush(False)

    def flush(self, done: bool) -> None:
        if self._ops or done:
            message: Message = (self._key, self._ops, done, None)
            write_frame(self._out, message)
        self._ops = []
        self._count = 0
        self._deadline = time.monotonic() + CHUNK_SECONDS


def main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Say READY, then scan each `Task` read from `stdin` until it ends.

    Returns 0, or 1 after a walk raised (the traceback goes to the parent as a frame).
    """
    # The records are acyclic tuples, dropped once written: the cyclic GC would
    # only rescan them, again and again.
    gc.disable()
    write_frame(stdout, READY)
    while (frame := read_frame(stdin)) is not None:
        task: Task = pickle.loads(frame)
        key, diff_dir = task
        sink = WireSink(key, stdout)
        try:
            walk_tree(diff_dir, sink)
        except Exception:
            crash: Message = (key, [], True, traceback.format_exc())
            write_frame(stdout, crash)
            return 1
        sink.flush(True)
    return 0


def _protocol_stdout() -> IO[bytes]:
    """Our own handle on fd 1; fd 1 itself then points at stderr, so that a stray
    print from anywhere cannot corrupt the frames."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return out


if __name__ == "__main__":
    raise SystemExit(main(sys.stdin.buffer, _protocol_stdout()))
