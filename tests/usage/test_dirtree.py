"""`walk_dir_tree`, the ncdu view of a data root: bytes per directory on a real tree, a hard
link counted once, a symlink never followed, a mount point never crossed, the smaller
files summed, and nothing in the tree written or its atimes touched."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from overlayscope.errors import Cancelled
from overlayscope.usage.dirtree import walk_dir_tree


def blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_bytes_entries_links_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    big = root / "a" / "deep" / "big"
    big.write_bytes(b"x" * 100_000)
    os.link(big, root / "b" / "same-inode")  # counted once, where first met
    outside = tmp_path / "outside"
    outside.write_bytes(b"y" * 500_000)
    (root / "b" / "link").symlink_to(outside)  # never followed: counts as itself
    atimes = {p: os.lstat(p).st_atime_ns for p in (root, root / "a", root / "b")}

    [top] = walk_dir_tree([str(root)])
    a, b = top.dirs["a"], top.dirs["b"]
    assert top.items == 6  # a, b, deep, big, same-inode, link
    assert a.items == 2 and b.items == 2
    assert a.apparent + b.apparent < 500_000  # the symlink's target is not counted
    assert a.apparent + b.apparent == 100_000 + len(str(outside))
    assert top.allocated == sum(
        blocks(p)
        for p in (root, root / "a", root / "a" / "deep", big, root / "b", root / "b" / "link")
    )
    kinds = {os.path.basename(f.path): f.kind for f in b.files + a.dirs["deep"].files}
    assert kinds["link"] == "symlink" and kinds["big"] == "file"
    assert {p: os.lstat(p).st_atime_ns for p in atimes} == atimes


def test_the_smaller_files_are_summed(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i:02}").write_bytes(b"z" * (i + 1) * 1000)
    [top] = walk_dir_tree([str(tmp_path)], keep_files=5)
    assert [os.path.basename(f.path) for f in top.files] == ["f19", "f18", "f17", "f16", "f15"]
    assert top.other_files == 15
    assert top.other_apparent == sum((i + 1) * 1000 for i in range(15))
    assert top.apparent == sum((i + 1) * 1000 for i in range(20))


@pytest.mark.root
def test_a_mount_point_is_marked_and_not_crossed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        (mnt / "inside").write_bytes(b"q" * 1_000_000)
        [top] = walk_dir_tree([str(tmp_path)])
        node = top.dirs["mnt"]
        assert node.mount and node.items == 0 and node.allocated == 0
        assert top.allocated < 1_000_000
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_missing_root_is_a_problem_and_cancel_stops(tmp_path: Path) -> None:
    [top] = walk_dir_tree([str(tmp_path / "nope")])
    assert top.problem is not None and top.items == 0
    (tmp_path / "d").mkdir()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        walk_dir_tree([str(tmp_path)], cancel=cancel)
