"""Run a scan at low priority: the idle I/O class (ioprio_set) and nice 19.

Both are set for the calling thread only (Linux keeps them per thread), and every thread
and process it starts afterwards inherits them: the scanner's worker processes and
read-ahead threads. The exporter's thread answering scrapes keeps its priority. Lowering
one's own priority needs no privilege.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Callable
from typing import TypeVar

IOPRIO_WHO_PROCESS = 1  # `who` is a thread id (0: the caller)
IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASS_IDLE = 3  # only disk time no one else wants (ionice -c 3)
NICE = 19
_T = TypeVar("_T")
# ioprio_set / ioprio_get, per architecture (the kernel's syscall tables)
_SYSCALLS = {
    "x86_64": (251, 252),
    "i386": (289, 290),
    "i686": (289, 290),
    "aarch64": (30, 31),
    "riscv64": (30, 31),
    "armv7l": (314, 315),
    "ppc64le": (273, 274),
    "s390x": (282, 283),
}


def _syscall(which: int, *args: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = int(libc.syscall(which, *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def set_idle_io(tid: int = 0) -> bool:
    """Put thread `tid` (0: the calling one) in the idle I/O class; False where unsupported."""
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        return False
    try:
        _syscall(numbers[0], IOPRIO_WHO_PROCESS, tid, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT)
    except OSError:
        return False
    return True


def io_class(tid: int = 0) -> int | None:
    """The I/O scheduling class of thread `tid` (0: the calling one); None if unknown."""
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        return None
    try:
        return _syscall(numbers[1], IOPRIO_WHO_PROCESS, tid) >> IOPRIO_CLASS_SHIFT
    except OSError:
        return None


def lower_priority() -> str:
    """Lower the calling thread's I/O and CPU priority; say what was done, for the log."""
    done = []
    if set_idle_io():
        done.append("I/O class idle")
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, NICE)  # with a thread id: this thread alone
        done.append(f"nice {os.getpriority(os.PRIO_PROCESS, tid)}")
    except OSError:
        pass
    return ", ".join(done) or "priority unchanged"


def at_low_priority(work: Callable[[], _T]) -> _T:
    """Run `work` in a thread of its own at low priority and return what it returns (or
    raise what it raises): the caller's own priority is left as it was."""
    result: list[_T] = []
    error: list[BaseException] = []

    def run() -> None:
        lower_priority()
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller, who decides
            error.append(exc)

    thread = threading.Thread(target=run, name="overlayscope-scan", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
