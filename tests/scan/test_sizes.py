"""docker_size as moby's directory.Size() computes it; allocated_size as du does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from overlayscope.scan import allocated_size, docker_size, scan_tree
from tests.scan.conftest import IS_ROOT, add


def _layer(tmp_path: Path) -> Path:
    add(tmp_path, "a", "file", b"x" * 1000)
    add(tmp_path, "sub/b", "file", b"y" * 10)
    add(tmp_path, "sub/empty", "file", b"")
    add(tmp_path, "link", "symlink", "sub/b")  # counts 5: len("sub/b")
    add(tmp_path, "fifo", "fifo")
    add(tmp_path, "hard1", "hardlink", "a")  # same inode as /a: counted once
    add(tmp_path, "sub/hard2", "hardlink", "a")
    if IS_ROOT:
        add(tmp_path, "gone", "chardev00")
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], 1000 + 10 + 5),
        ([("big", "file", b"z" * 4096)], 1000 + 10 + 5 + 4096),
        ([("more/deeper", "dir", b"")], 1000 + 10 + 5),
        ([("link2", "symlink", "a/long/target/path")], 1000 + 10 + 5 + 18),
    ],
)
def test_docker_size(tmp_path: Path, extra: list[tuple[str, str, bytes]], expected: int) -> None:
    _layer(tmp_path)
    for rel, what, value in extra:
        add(tmp_path, rel, what, value)
    assert docker_size(scan_tree(tmp_path)) == expected


def test_sparse_file_allocated_vs_apparent(tmp_path: Path) -> None:
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024)
        f.seek(32 * 1024 * 1024)
        f.write(b"data")
    index = scan_tree(tmp_path)
    assert docker_size(index) == 64 * 1024 * 1024
    entry = index.get("/sparse")
    assert entry is not None
    assert entry.blocks * 512 == os.stat(path).st_blocks * 512 < 1024 * 1024
    assert allocated_size(index) < 1024 * 1024


def test_allocated_size_matches_du(tmp_path: Path) -> None:
    _layer(tmp_path)
    add(tmp_path, "big", "file", b"q" * 100_000)
    du = subprocess.run(["du", "-sB1", str(tmp_path)], capture_output=True, text=True, check=True)
    assert allocated_size(scan_tree(tmp_path)) == int(du.stdout.split()[0])
