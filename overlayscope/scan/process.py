"""The parent's handle on one scan worker process (`overlayscope.scan.worker`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import subprocess
import sys
import threading
from typing import IO

from overlayscope.errors import OverlayscopeError
from overlayscope.scan.wire import Task, read_frame, write_frame

_PIPE_SIZE = 1 << 20  # a roomy pipe keeps a worker from stalling while we are busy
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

# (worker number, one frame, or None once its stdout has ended)
Inbox = queue.Queue[tuple[int, bytes | None]]


class ScanWorkerError(OverlayscopeError):
    """A scanner worker process died or failed; the scan could not be completed."""

    title = "scanner worker failed"


class WorkerProcess:
    """A worker started fresh (never forked from this possibly threaded process),
    the layer it is on, and a thread moving its frames to a shared inbox.

    Raises OSError when the interpreter cannot be started.
    """

    def __init__(self, wid: int, inbox: Inbox) -> None:
        import tempfile  # (and shutil, random) when a worker starts, not at every import

        env = dict(os.environ)
        # the child must import this very package, installed or not
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        # stderr to a file: read only after a death, and never a pipe that could fill
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "overlayscope.scan.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        except OSError:
            self._stderr.close()
            raise
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[bytes] = self.proc.stdin
        with contextlib.suppress(OSError, AttributeError):  # F_SETPIPE_SZ: Linux only
            fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self.task: str | None = None  # the layer it is scanning
        self._reader = threading.Thread(
            target=_read_frames,
            args=(wid, self.proc.stdout, inbox),
            name=f"overlayscope-scan-reader-{wid}",
            daemon=True,
        )
        self._reader.start()

    def give(self, task: Task | None) -> None:
        """Send the next layer, or None: no more work, let it exit."""
        try:
            if task is None:
                self.task = None
                self._stdin.close()
            else:
                self.task = task[0]
                write_frame(self._stdin, task)
        except OSError as exc:  # EPIPE: it died; say why
            raise self.failure() from exc

    def failure(self) -> ScanWorkerError:
        """The error to raise for a worker whose output ended unexpectedly."""
        code = self.proc.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace").strip()
        return ScanWorkerError(
            f"a scanner worker process died (exit code {code}) on layer {self.task}"
            + (f":\n{tail}" if tail else ""),
            hint="out of memory? retry with fewer workers, or with one to scan in-process",
        )

    def stop(self) -> None:
        """Kill and reap. Safe at any point: a worker only reads, and by the time
        a scan finishes every frame it sent has been received."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self._stdin, self.proc.stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._reader.join()


def _read_frames(wid: int, stream: IO[bytes], inbox: Inbox) -> None:
    """Reader thread: move frames from a worker's stdout to the inbox; None at the end."""
    try:
        while (frame := read_frame(stream)) is not None:
            inbox.put((wid, frame))
    except (OSError, ValueError, EOFError):
        pass  # a killed worker, or its pipe closed under us: the end either way
    inbox.put((wid, None))
