"""The scan runs in the idle I/O class at nice 19, and so does everything it starts (the
scanner's worker processes); the thread that asked for it keeps its priority."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from overlayscope.metrics.priority import IOPRIO_CLASS_IDLE, NICE, at_low_priority, io_class


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_scan_thread_and_its_children_run_at_low_priority() -> None:
    if io_class() is None:
        pytest.skip("no ioprio_get on this architecture")
    if shutil.which("ionice") is None or shutil.which("nice") is None:
        pytest.skip("no ionice or nice (util-linux, coreutils) on PATH")
    before = (_nice(), io_class())
    seen: dict[str, object] = {}

    def work() -> int:
        seen["nice"], seen["class"] = _nice(), io_class()
        # what a scanner worker process sees: started from this thread
        child = subprocess.run(["sh", "-c", "nice; ionice"], capture_output=True, text=True)
        seen["child"] = child.stdout.split()
        return 7

    assert at_low_priority(work) == 7
    assert (seen["nice"], seen["class"]) == (NICE, IOPRIO_CLASS_IDLE)
    assert seen["child"] == [str(NICE), "idle"]
    assert (_nice(), io_class()) == before  # the caller's thread is left alone


def test_what_the_scan_raises_reaches_the_caller() -> None:
    def work() -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/docker")

    with pytest.raises(PermissionError):
        at_low_priority(work)
