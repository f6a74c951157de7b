"""Layer sizes as dive reads them from a layer tar: a hard-linked inode once, first name wins."""

from __future__ import annotations

import os
from pathlib import Path

from overlayscope.scan import scan_tree
from overlayscope.usage.efficiency import tar_sizes


def test_first_name_in_walk_order_carries_the_bytes(tmp_path: Path) -> None:
    diff = tmp_path / "diff"
    (diff / "a").mkdir(parents=True)
    (diff / "a" / "x").write_bytes(b"x" * 100)
    os.link(diff / "a" / "x", diff / "b")  # "/a/x" < "/b": /a/x is written first
    os.link(diff / "a" / "x", diff / "a.z")  # "a.z" sorts after "a" as a name ("a" < "a.z")
    (diff / "z").write_bytes(b"z" * 7)
    os.link(diff / "z", diff / "y")  # "/y" < "/z": /y carries the bytes
    (diff / "s").symlink_to("a/x")
    sizes = tar_sizes(scan_tree(diff))
    assert sizes == {"/a/x": 100, "/y": 7}
    assert sum(sizes.values()) == 107
