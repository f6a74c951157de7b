"""Random small trees: the scan finds exactly what was made, with the right kinds."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayscope.scan import Kind, scan_tree
from tests.scan.conftest import IS_ROOT

# every test here runs under the C listing and the pure-Python one
pytestmark = pytest.mark.usefixtures("each_walk")

# a node: ("file", size) | ("symlink", target) | ("fifo",) | ("whiteout",) | (dir kind, children)
Node = tuple[Any, ...]

names = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
leaves = st.one_of(
    st.tuples(st.just("file"), st.integers(0, 3000)),
    st.tuples(
        st.just("symlink"), st.binary(min_size=1, max_size=30).filter(lambda b: b"\0" not in b)
    ),
    st.tuples(st.just("fifo")),
    *([st.tuples(st.just("whiteout"))] if IS_ROOT else []),
)
dir_kinds = st.sampled_from(["dir", "opaque"] if IS_ROOT else ["dir"])
trees = st.recursive(
    leaves,
    lambda children: st.tuples(dir_kinds, st.dictionaries(names, children, max_size=5)),
    max_leaves=25,
)
KINDS = {"file": Kind.FILE, "symlink": Kind.SYMLINK, "fifo": Kind.OTHER,
         "whiteout": Kind.WHITEOUT, "dir": Kind.DIR, "opaque": Kind.OPAQUE_DIR}  # fmt: skip


def _make(path: bytes, node: Node, expected: dict[str, Kind], rel: str) -> None:
    what = node[0]
    if what in ("dir", "opaque"):
        os.mkdir(path)
        if what == "opaque":
            os.setxattr(path, b"trusted.overlay.opaque", b"y")
        for name, child in node[1].items():
            _make(path + b"/" + name, child, expected, rel + "/" + os.fsdecode(name))
    elif what == "file":
        with open(path, "wb") as f:
            f.write(b"x" * node[1])
    elif what == "symlink":
        os.symlink(node[1], path)
    elif what == "fifo":
        os.mkfifo(path)
    else:
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
    expected[rel or "/"] = KINDS[what]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(names=st.dictionaries(names, trees, max_size=6))
def test_scan_finds_exactly_what_was_made(names: dict[bytes, Node]) -> None:
    base = tempfile.mkdtemp(prefix="overlayscope-hyp-")
    try:
        root = os.fsencode(base) + b"/diff"
        expected: dict[str, Kind] = {}
        _make(root, ("dir", names), expected, "")
        index = scan_tree(base + "/diff")
        assert index.problems == []
        assert {p: e.kind for p, e in index.entries.items()} == expected
        for path, entry in index.entries.items():
            assert os.path.lexists(root + os.fsencode(path) if path != "/" else root)
            if entry.kind is Kind.SYMLINK:
                assert entry.target is not None
                assert os.fsencode(entry.target) == os.readlink(root + os.fsencode(path))
    finally:
        shutil.rmtree(base)
