"""A scan worker process: `python -m overlayscope.scan.worker`.

Reads `Task` frames on stdin, walks each tree into the compact layout, and writes
`Message` frames on stdout: its progress about ten times a second, then the layer.
Exits at the end of stdin; the parent kills it to cancel (it only ever reads).
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import time
import traceback
from typing import IO

from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.progress import INTERVAL
from overlayscope.scan.sizes import layer_sums
from overlayscope.scan.walker import walk_tree
from overlayscope.scan.wire import READY, Message, Task, read_frame, write_frame


class WorkerSink(IndexBuilder):
    """Builds a layer here, and tells the parent how far it got every `INTERVAL` seconds."""

    def __init__(self, key: str, content_dir: str, out: IO[bytes]) -> None:
        super().__init__(content_dir)
        self._key = key
        self._out = out
        self._deadline = time.monotonic() + INTERVAL

    def tick(self, entries: int, current: str) -> None:
        if time.monotonic() >= self._deadline:
            progress: Message = (self._key, entries, False, None)
            write_frame(self._out, progress)
            self._deadline = time.monotonic() + INTERVAL

    def finish(self) -> None:
        index = self.index
        done: Message = (self._key, (index.columns, index.problems), True, None)
        write_frame(self._out, done)


def main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Say READY, then scan each `Task` read from `stdin` until it ends.

    Returns 0, or 1 after a walk raised (the traceback goes to the parent as a frame).
    """
    # What a layer allocates lives until it is sent, and holds no cycles: the cyclic
    # GC would only rescan it, again and again.
    gc.disable()
    write_frame(stdout, READY)
    while (frame := read_frame(stdin)) is not None:
        task: Task = pickle.loads(frame)
        key, content_dir, xattrs, sums, namespace = task
        sink = WorkerSink(key, content_dir, stdout)
        try:
            walk_tree(content_dir, sink, xattrs=xattrs, overlay_xattrs=namespace)
            if sums and sink.index.columns is not None:
                layer_sums(sink.index.columns)  # here, in parallel, not in the parent
            sink.finish()
        except Exception:
            crash: Message = (key, None, True, traceback.format_exc())
            write_frame(stdout, crash)
            return 1
        del sink
    return 0


def _protocol_stdout() -> IO[bytes]:
    """Our own handle on fd 1; fd 1 itself then points at stderr, so that a stray
    print from anywhere cannot corrupt the frames."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return out


if __name__ == "__main__":
    raise SystemExit(main(sys.stdin.buffer, _protocol_stdout()))
