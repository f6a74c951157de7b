"""Giving the memory a scan used only in passing back to the system.

A scan's transient buffers (records, staged columns, a worker's frames) come and go
by the megabyte. glibc's malloc keeps freed heap memory, and raises its mmap
threshold after big frees, so the next big buffers come from the heap too: after
a million-entry scan the process held ~18 bytes an entry more than its indexes
(docs/performance.md). `malloc_trim(0)` hands that back. Elsewhere (musl, macOS)
there is no such call and nothing is done.
"""

from __future__ import annotations

from collections.abc import Callable

_TRIM_AFTER = 100_000  # entries: below this, what could be returned is not worth a call


def _load_trim() -> Callable[[int], object] | None:
    """`malloc_trim(pad)`, or None where there is none; what it returns is not used.

    The C helper's call when it is built (no ctypes, ~3 ms less a command); else ctypes,
    loaded at the first big scan, not at import: ctypes and its library search (which
    may run `ldconfig -p`) are start-up time a small command does not need."""
    from overlayscope.scan import native

    if native.listdir is not None:
        trim_heap = getattr(native.listdir, "trim_heap", None)  # glibc only
        return None if trim_heap is None else lambda _pad: trim_heap()
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
        except OSError:
            return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_trims: list[Callable[[int], object] | None] = []  # the loaded malloc_trim, once


def release_free_memory(entries: int) -> bool:
    """After a scan of `entries` entries, return the heap's free memory to the system.

    Returns whether anything was asked of the allocator."""
    if entries < _TRIM_AFTER:
        return False
    if not _trims:
        _trims.append(_load_trim())
    trim = _trims[0]
    if trim is None:
        return False
    trim(0)
    return True
