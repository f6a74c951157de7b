"""Limits: a layer tree 10,000 levels deep, and one directory with a million entries.

Both are planted in the writable layer of the "stopped" container of a copy of the
captured root, so `container` must list them all (they are `docker diff`'s A lines),
and `ls`, `where` and `df` must walk them. Each command runs in a subprocess; we assert
exit 0, no recursion error, a complete answer, and a peak RSS under a documented bound
(docs/hostile.md), measured with getrusage(RUSAGE_CHILDREN) in a fresh parent process.

Memory bounds (generous, about twice what this 2-core VM measured):
- deep tree: every entry stores its full path, so memory grows with the *sum of path
  lengths* (about 100 MB of paths at 10,000 levels): at most 300 MB + 4 bytes per byte
  of path.
- a million entries in one dir: at most 300 MB + 3 KB per entry (3.3 GB).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from tests.engine import CapturedRoot
from tests.hostile.cli import Measured, run_measured, streamed_items

pytestmark = pytest.mark.root

DEPTH = 10_000
WIDE = 1_000_000
BASE_RSS = 300 * 1024 * 1024
DEEP_RSS_PER_PATH_BYTE = 4
WIDE_RSS_PER_ENTRY = 3 * 1024


def _copy_root(captured: CapturedRoot, parent: Path) -> tuple[Path, Path]:
    """A copy of the captured root under `parent`; (root, the stopped container's rw diff)."""
    root = parent / "root"
    subprocess.run(["cp", "-a", str(captured.path), str(root)], check=True)
    host = load_host(str(root))
    stopped = next(c for c in host.containers.values() if c.name == "stopped")
    return root, Path(host.layers[stopped.layer or ""].content_dir)


def _remove(path: Path) -> None:
    # shutil.rmtree recurses once per level: 10,000 levels exceed Python's recursion limit.
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def _check(run: Measured, bound: int) -> None:
    print(run)  # the measurement, for docs/hostile.md (pytest -s or -rA)
    assert run.code == 0, str(run)
    assert b"Traceback" not in run.err and b"RecursionError" not in run.err, str(run)
    assert run.peak_rss <= bound, f"{run}\npeak RSS above the bound of {bound / 1e6:.0f} MB"


# -- 10,000 levels ------------------------------------------------------------------------


def _make_deep(diff: Path, depth: int) -> None:
    """/deep/d/d/.../d/leaf: made with dir fds, since the path outgrows PATH_MAX."""
    fd = os.open(diff, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in ["deep"] + ["d"] * depth:
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom\n")
        os.close(leaf)
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def deep_root(captured_root: CapturedRoot) -> Iterator[tuple[Path, str]]:
    parent = Path(tempfile.mkdtemp(prefix="overlayscope-deep-", dir="/var/tmp"))
    try:
        root, diff = _copy_root(captured_root, parent)
        _make_deep(diff, DEPTH)
        yield root, "/deep" + "/d" * DEPTH
    finally:
        _remove(parent)


def _deep_bound() -> int:
    path_bytes = sum(len("/deep") + 2 * d for d in range(DEPTH + 2))
    return BASE_RSS + DEEP_RSS_PER_PATH_BYTE * path_bytes


@pytest.mark.parametrize("json_flag", [True, False], ids=["json", "human"])
def test_container_of_a_deep_tree(
    deep_root: tuple[Path, str], tmp_path: Path, json_flag: bool
) -> None:
    root, bottom = deep_root
    args = ["--json"] * json_flag + ["--offline", "--root", str(root), "container", "stopped"]
    run = run_measured(tmp_path / "out", *args)
    _check(run, _deep_bound())
    if json_flag:
        added = {
            c["path"] for c in streamed_items(run.out_path) if "kind" in c and c["kind"] == "A"
        }
        assert bottom + "/leaf" in added
        assert sum(p.startswith("/deep") for p in added) == DEPTH + 2
    else:
        text = run.out_path.read_text()
        assert "leaf" in text and f"{DEPTH + 3} added" in text


def test_ls_where_df_of_a_deep_tree(deep_root: tuple[Path, str], tmp_path: Path) -> None:
    root, bottom = deep_root
    base = ["--offline", "--root", str(root)]
    run = run_measured(tmp_path / "ls", "--json", *base, "ls", "stopped", bottom)
    _check(run, _deep_bound())
    assert '"name": "leaf"' in run.out_path.read_text()
    run = run_measured(tmp_path / "where", "--json", *base, "where", "stopped", bottom + "/leaf")
    _check(run, _deep_bound())
    assert '"visible": true' in run.out_path.read_text()
    run = run_measured(tmp_path / "df", "--json", *base, "df")
    _check(run, _deep_bound())
    assert '"scan_problems": []' in run.out_path.read_text()


# -- a million entries --------------------------------------------------------------------


def _roomy_tmp() -> Path:
    """tmpfs when it can take it (creating a million files there takes seconds, not a
    minute); the root is *inside* that mount, so `df` still counts all of it."""
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
    except OSError:
        return Path("/var/tmp")
    if st.f_favail > 2 * WIDE and st.f_bavail * st.f_frsize > 2 << 30:
        return shm
    return Path("/var/tmp")


def _make_wide(diff: Path, count: int) -> None:
    os.mkdir(diff / "wide")
    fd = os.open(diff / "wide", os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        for i in range(count):
            os.close(os.open(f"f{i:07d}", flags, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def wide_root(captured_root: CapturedRoot) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="overlayscope-wide-", dir=_roomy_tmp()))
    try:
        root, diff = _copy_root(captured_root, parent)
        _make_wide(diff, WIDE)
        yield root
    finally:
        _remove(parent)


WIDE_BOUND = BASE_RSS + WIDE_RSS_PER_ENTRY * WIDE


@pytest.mark.slow
def test_container_and_ls_of_a_million_entries(wide_root: Path, tmp_path: Path) -> None:
    base = ["--offline", "--root", str(wide_root)]
    run = run_measured(tmp_path / "container", "--json", *base, "container", "stopped")
    _check(run, WIDE_BOUND)
    added = sum(1 for c in streamed_items(run.out_path) if c.get("path", "").startswith("/wide/"))
    assert added == WIDE
    run = run_measured(tmp_path / "ls", *base, "ls", "stopped", "/wide")
    _check(run, WIDE_BOUND)
    with run.out_path.open("rb") as f:
        ends = (b" f0000000", b" f0999999")
        lines = sum(1 for line in f if line.rstrip().endswith(ends))
        f.seek(0)
        total = sum(1 for _ in f)
    assert lines == 2 and total == WIDE + 1  # a header and one line per entry


@pytest.mark.slow
def test_where_and_df_of_a_million_entries(wide_root: Path, tmp_path: Path) -> None:
    base = ["--offline", "--root", str(wide_root)]
    run = run_measured(tmp_path / "where", "--json", *base, "where", "stopped", "/wide/f0999999")
    _check(run, WIDE_BOUND)
    assert '"visible": true' in run.out_path.read_text()
    run = run_measured(tmp_path / "df", "--json", *base, "df")
    _check(run, WIDE_BOUND)
    assert '"scan_problems": []' in run.out_path.read_text()
