"""Counting the bytes a command reads: structural proof that work is bounded by data.

Two counters, neither a clock:
- `ReadCounter` wraps `os.read` and `os.pread` in this process and adds up the bytes each
  returned, by the file they came from (`/proc/self/fd`), so a test can say "no more than
  its allocated blocks were read from this 1 TB file".
- `run_counted` runs the CLI in a subprocess that writes its own `/proc/self/io` at exit:
  `rchar` is every byte the process got from read-type syscalls, whatever Python object
  made them, so reading a hole by any path at all would show.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.hostile.cli import PYTHON, Run, cli_env


class ReadCounter:
    """Bytes returned by `os.read`/`os.pread` in this process, by real path of the fd."""

    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> ReadCounter:
        real_read, real_pread = os.read, os.pread

        def read(fd: int, n: int) -> bytes:
            data = real_read(fd, n)
            self._add(fd, len(data))
            return data

        def pread(fd: int, n: int, offset: int) -> bytes:
            data = real_pread(fd, n, offset)
            self._add(fd, len(data))
            return data

        monkeypatch.setattr(os, "read", read)
        monkeypatch.setattr(os, "pread", pread)
        return self

    def _add(self, fd: int, n: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = "?"
        with self._lock:
            self.by_path[path] += n

    def of(self, path: Path) -> int:
        return self.by_path[str(path)]


# Runs the CLI as `python -m overlayscope` does, then records the process's I/O counters.
_SHIM = """\
import sys
from overlayscope.cli.main import main
code = main(sys.argv[2:])
sys.stdout.flush()
with open("/proc/self/io") as src, open(sys.argv[1], "w") as dst:
    dst.write(src.read())
raise SystemExit(code)
"""


def run_counted(*args: str, timeout: float = 300) -> tuple[Run, int]:
    """`overlayscope ARGS` in a subprocess, stdout to /dev/null (never kept: `cat` of a
    2 GiB file); its run and the bytes it read (`rchar` of `/proc/self/io`)."""
    with tempfile.NamedTemporaryFile(prefix="overlayscope-io-") as io_file:
        res = subprocess.run(
            [PYTHON, "-c", _SHIM, io_file.name, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cli_env(),
            timeout=timeout,
            check=False,
        )
        fields = dict(line.split(": ") for line in Path(io_file.name).read_text().splitlines())
    return Run(tuple(args), res.returncode, b"", res.stderr), int(fields["rchar"])
