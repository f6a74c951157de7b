"""A scan worker process: `python -m overlayscope.scan.worker`.

Reads `Task` frames on stdin, walks each layer (or delegated subtree of one) into the
compact layout, and writes `Message` frames on stdout: its progress about ten times a
second, then the piece. While it walks, it answers a `SPLIT` request by handing
subtrees it has not entered yet back to the parent (split.py). Exits at the end of
stdin; the parent kills it to cancel (it only ever reads).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import time
import traceback
from typing import IO

from overlayscope.scan.piece import PieceSink
from overlayscope.scan.progress import INTERVAL
from overlayscope.scan.split import Part
from overlayscope.scan.wire import READY, SPLIT, Message, Task, read_frame, write_frame


class WorkerSink(PieceSink):
    """Builds a piece here; tells the parent how far it got every `INTERVAL` seconds,
    and hands subtrees over when asked."""

    def __init__(
        self, job: int, content_dir: str, part: Part | None, cold: bool, requests: IO[bytes],
        out: IO[bytes],
    ) -> None:  # fmt: skip
        super().__init__(content_dir, part, cold)
        self._job = job
        self._in = requests
        self._fd = _fileno(requests)
        self._out = out
        self._deadline = time.monotonic() + INTERVAL

    def tick(self, entries: int, current: str) -> None:
        # only a C walk can hand subtrees over (and only the parent's SPLIT comes in); it
        # has none before its first step (the root's listing): a request waits till then
        fd = self._fd if self.walk is not None and entries > 1 else None
        if fd is not None and select.select([fd], [], [], 0)[0]:
            frame = read_frame(self._in)
            if frame is not None and pickle.loads(frame) == SPLIT:
                given: Message = ("parts", self._job, (self.delegate(), self.cold))
                write_frame(self._out, given)
        if time.monotonic() >= self._deadline:
            progress: Message = ("progress", self._job, entries)
            write_frame(self._out, progress)
            self._deadline = time.monotonic() + INTERVAL


def _fileno(stream: IO[bytes]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):  # an in-memory stream (tests): no requests
        return None


def main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Say READY, then walk each `Task` read from `stdin` until it ends.

    Returns 0, or 1 after a walk raised (the traceback goes to the parent as a frame).
    `stdin` should be unbuffered: requests are looked for on its fd between steps.
    """
    # What a layer allocates lives until it is sent, and holds no cycles: the cyclic
    # GC would only rescan it, again and again.
    gc.disable()
    write_frame(stdout, READY)
    while (frame := read_frame(stdin)) is not None:
        task: Task | tuple[str] = pickle.loads(frame)
        if task == SPLIT:  # it came after our walk ended: nothing left to hand over
            nothing: Message = ("parts", None, ([], False))
            write_frame(stdout, nothing)
            continue
        _key, job, content_dir, part, xattrs, sums, namespace, cold = task  # type: ignore[misc]
        sink = WorkerSink(job, content_dir, part, cold, stdin, stdout)
        try:
            sink.run(xattrs=xattrs, overlay_xattrs=namespace)
            piece = sink.piece(sums=sums)  # sums here, in parallel, not in the parent
            found = (piece.columns, piece.problems, piece.splices, sink.cold)
            done: Message = ("done", job, found)
            write_frame(stdout, done)
        except Exception:
            crash: Message = ("crash", job, traceback.format_exc())
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
    # unbuffered: SPLIT requests are looked for on the fd, which a buffer could hide
    raise SystemExit(main(os.fdopen(0, "rb", buffering=0), _protocol_stdout()))
