"""After a scan, the heap memory it used in passing goes back to the system."""

from __future__ import annotations

import os

import pytest

from overlayscope.scan import memory


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(memory._load_trim() is None, reason="no malloc_trim: not glibc")
def test_freed_heap_memory_is_returned() -> None:
    # 100 MB in 1 KiB pieces: malloc'd from the heap (below the mmap threshold), as a
    # scan's transient buffers are, then freed; glibc keeps most of it until trimmed
    pieces = [bytearray(1024) for _ in range(100_000)]
    pieces.reverse()  # freeing from the top down does not shrink the heap by itself
    del pieces[1:]
    before = _rss()
    assert memory.release_free_memory(1_000_000) is True
    assert before - _rss() > 50 << 20


def test_small_scans_do_not_bother_the_allocator() -> None:
    assert memory.release_free_memory(10) is False
