"""Read-ahead on a cold cache: threads that warm what the walk will reach, and nothing else."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from overlayscope.errors import Cancelled
from overlayscope.scan import native, native_walk, readahead, scan_tree
from overlayscope.scan import walker as walker_mod
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.walker import walk_tree
from tests.conftest import skip_or_fail
from tests.scan.conftest import IS_ROOT, add


@pytest.fixture(autouse=True)
def _needs_helper() -> None:
    if native.listdir is None:
        skip_or_fail("the scanner's C helper (overlayscope/scan/_listdir.c) is not built")


class _Recorded(readahead.ReadAhead):
    made: list[_Recorded] = []  # noqa: RUF012 (a test's record)

    def __init__(self, root_fd: int, threads: int = readahead.THREADS) -> None:
        super().__init__(root_fd, threads)
        _Recorded.made.append(self)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[_Recorded]:
    _Recorded.made = []
    monkeypatch.setattr(walker_mod, "ReadAhead", _Recorded)  # the pure-Python walk's
    monkeypatch.setattr(native_walk, "ReadAhead", _Recorded)  # the C walk's
    return _Recorded.made


def _tree(root: Path, dirs: int = 60, files: int = 40) -> Path:
    for d in range(dirs):
        for f in range(files):
            add(root, f"d{d % 7}/sub{d}/f{f}", "file", b"x" * f)
        add(root, f"d{d % 7}/sub{d}/deeper/link", "symlink", b"../f1")
    return root


def test_warm_dir_never_leaves_the_root_nor_follows_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "diff"
    add(root, "a/b/c", "dir")
    add(root, "a/file", "file", b"x")
    outside = tmp_path / "outside"
    add(outside, "secret/s", "file", b"s")
    add(root, "a/out", "symlink", str(outside).encode())
    add(root, "a/rel", "symlink", b"b")
    warm = native.listdir.warm_dir  # type: ignore[union-attr]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        stop = bytearray(1)
        assert warm(fd, b"", stop) == [b"a"]
        assert warm(fd, b"a", stop) == [b"b"]  # dirs only; symlinks to dirs are not dirs
        assert warm(fd, b"a/b", stop) == [b"c"]
        not_followed = {-errno.ELOOP, -errno.ENOTDIR}  # O_NOFOLLOW | O_DIRECTORY: either
        for bad, codes in [
            (b"a/out", not_followed),  # a symlink out, absolute
            (b"a/rel", not_followed),  # a symlink within: still not followed
            (b"a/out/secret", {-errno.ELOOP}),  # RESOLVE_NO_SYMLINKS, mid-path
            (b"a/..", {-errno.EINVAL}),
            (b"../diff/a", {-errno.EINVAL}),
            (b"a/file", {-errno.ENOTDIR}),
            (b"missing", {-errno.ENOENT}),
        ]:
            assert warm(fd, bad, stop) in codes, bad
        stop[0] = 1
        assert warm(fd, b"a", stop) == []  # stopped: reads nothing more
    finally:
        os.close(fd)


def test_warm_dir_names_every_subdir_among_many_entries(tmp_path: Path) -> None:
    """Subdirs come from the listing's d_type, and only one other entry in 16 is lstat-ed
    (the rest share its inode-table block): every dir is still named, nothing else is,
    whatever the mix of kinds and however many entries lie between the dirs."""
    root = tmp_path / "diff"
    dirs = set()
    for i in range(200):
        kind = ("file", "symlink", "dir", "file", "fifo")[i % 5] if i % 13 else "dir"
        name = f"e{i:03d}"
        if kind == "dir":
            add(root, f"{name}/inner", "file", b"i")
            dirs.add(name.encode())
        elif kind == "symlink":
            add(root, name, "symlink", b"e002")  # to a dir: still no dir
        else:
            add(root, name, kind, b"x")
    warm = native.listdir.warm_dir  # type: ignore[union-attr]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sorted(warm(fd, b"", bytearray(1))) == sorted(dirs)
    finally:
        os.close(fd)


def test_forced_readahead_changes_nothing_in_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: list[_Recorded]
) -> None:
    root = _tree(tmp_path / "diff")
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", "0")
    plain = scan_tree(root)
    assert recorded == []
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", "1")
    ahead = scan_tree(root)
    assert len(recorded) == 1
    assert recorded[0].dirs > 60  # it warmed (most of) the tree's 135 dirs
    assert dict(ahead.entries) == dict(plain.entries)
    assert ahead.problems == plain.problems == []
    assert not [t for t in threading.enumerate() if t.name.startswith("overlayscope-readahead")]


def test_cancel_stops_the_readahead_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: list[_Recorded]
) -> None:
    root = _tree(tmp_path / "diff")
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", "1")
    monkeypatch.setattr(native_walk, "STEP", 64)  # a tick (a cancel check) every ~64 entries

    class CancelSoon(IndexBuilder):
        ticks = 0

        def tick(self, entries: int, current: str) -> None:
            self.ticks += 1
            if self.ticks == 5:
                raise Cancelled("cancelled")

    with pytest.raises(Cancelled):
        walk_tree(str(root), CancelSoon(str(root)))
    assert len(recorded) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("overlayscope-readahead")]


@pytest.mark.parametrize(
    ("sectors", "setting", "cold"),
    [(0, "auto", False), (255, "auto", False), (256, "auto", True), (10_000, "0", None)],
)
def test_detector_counts_device_reads_not_time(
    monkeypatch: pytest.MonkeyPatch, sectors: int, setting: str, cold: bool | None
) -> None:
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", setting)
    reads = iter([1000, 1000 + sectors])
    monkeypatch.setattr(readahead, "_sectors_read", lambda: next(reads))
    detector = readahead.Detector()
    if cold is None:  # turned off: decided from the start, never probes
        assert detector.decided
        return
    assert not detector.decided
    assert detector.cold(1000) is False and not detector.decided  # too few entries yet
    assert detector.cold(600) is cold and detector.decided


@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop the kernel's caches")
def test_a_cold_cache_starts_a_readahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: list[_Recorded]
) -> None:
    """The real kernel: after dropping its caches, the walk sees device reads and starts one."""
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", "auto")
    root = _tree(tmp_path / "diff", dirs=80)
    warm = scan_tree(root)
    assert recorded == []  # just written: all cached
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    cold = scan_tree(root)
    assert len(recorded) == 1, "no read-ahead after the caches were dropped"
    assert dict(cold.entries) == dict(warm.entries)
