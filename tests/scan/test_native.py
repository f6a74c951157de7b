"""The C listing (`_listdir.c`) and the pure-Python one find exactly the same things.

Every other scan test runs under both (`each_walk`); these compare the two
walks entry for entry, field for field, on trees that hold everything a diff/
tree can: the captured engine root and a hand-made tree with the awkward cases.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.scan import Kind, LayerIndex, native, scan_tree
from overlayscope.scan.walker import BATCH
from tests.conftest import CapturedRoot, skip_or_fail
from tests.scan.conftest import add, needs_root, setx

BIG = 3 * BATCH + 100  # the helper reads at least BATCH, in 64 KiB getdents buffers


@pytest.fixture(autouse=True)
def _needs_helper() -> None:
    if native.listdir is None:
        skip_or_fail("the scanner's C helper (overlayscope/scan/_listdir.c) is not built")


def _both(monkeypatch: pytest.MonkeyPatch, path: Path, xattrs: bool) -> tuple[LayerIndex, ...]:
    fast = scan_tree(path, xattrs=xattrs)
    with monkeypatch.context() as m:
        m.setattr(native, "listdir", None)
        slow = scan_tree(path, xattrs=xattrs)
    return fast, slow


def _same(fast: LayerIndex, slow: LayerIndex) -> None:
    assert dict(fast.entries) == dict(slow.entries)
    assert {p: sorted(c) for p, c in fast.children.items()} == {
        p: sorted(c) for p, c in slow.children.items()
    }
    assert sorted(fast.problems) == sorted(slow.problems)


@needs_root
@pytest.mark.parametrize("xattrs", [True, False])
def test_awkward_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xattrs: bool) -> None:
    root = tmp_path / "diff"
    add(root, "etc/passwd", "file", b"root:x:0:0\n")
    add(root, "etc/empty", "file")
    add(root, "etc/link", "symlink", b"../" * 300 + b"passwd")
    add(root, "etc/hard", "hardlink", b"etc/passwd")
    add(root, "gone", "chardev00")
    add(root, "dev/null", "chardev13")
    add(root, "run/fifo", "fifo")
    add(root, "run/sock", "socket")
    setx(add(root, "xwh", "file"), "trusted.overlay.whiteout", b"")
    setx(add(root, "opaque", "dir"), "trusted.overlay.opaque")
    add(root, "opaque/inside", "file", b"x")
    copied = add(root, "usr/bin/tool", "file", b"#!/bin/sh\n")
    setx(copied, "trusted.overlay.origin", b"\x00\xfb\x21\x01")
    setx(copied.parent, "trusted.overlay.impure")
    setx(add(root, "moved", "dir"), "trusted.overlay.redirect", b"/old/place")
    setx(add(root, "userns", "dir"), "user.overlay.opaque")
    setx(add(root, "plain-xattr", "file"), "user.other", b"not overlay")
    add(root, os.fsdecode(b"names/latin1-\xe9t\xe9"), "file", b"e")
    add(root, "names/new\nline", "file")
    add(root, "names/" + "x" * 255, "file")
    with open(add(root, "sparse", "file"), "r+b") as f:
        f.truncate(1 << 30)
    # st_mtime_ns past 2**63 (the year 2262): Python's exact int, not a wrapped one
    future = add(root, "future", "file")
    os.utime(future, ns=(0, 10**19 + 7))
    for big in (root / "big", root / "big2"):  # each read in several batches, one after
        big.mkdir()  # the other
        for i in range(BIG):
            (big / f"f{(i * 7919) % BIG:05d}").write_bytes(b"")
        (big / "sub").mkdir()  # the dir listed next, with overlay xattrs to set kinds by
        setx(add(big, "sub/leaf", "file"), "trusted.overlay.whiteout", b"")
        setx(big / "sub", "trusted.overlay.opaque")
    deep = root
    for _ in range(60):
        deep = deep / "d"
    add(root, str(deep.relative_to(root) / "leaf"), "file", b"deep")
    fast, slow = _both(monkeypatch, root, xattrs)
    _same(fast, slow)
    assert len(fast) > 2 * BIG
    assert len(fast.children["/big"]) == len(fast.children["/big2"]) == BIG + 1
    assert fast.entries["/big2/sub/leaf"].kind is Kind.WHITEOUT
    assert fast.entries["/future"].mtime_ns == os.lstat(future).st_mtime_ns > 2**63


def test_captured_root(captured_root: CapturedRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay2 = captured_root.path / "overlay2"
    layers = [d / "diff" for d in sorted(overlay2.iterdir()) if (d / "diff").is_dir()]
    entries = 0
    for diff in layers:
        fast, slow = _both(monkeypatch, diff, True)
        _same(fast, slow)
        entries += len(fast)
    assert entries > 300  # busybox's tree and the containers' changes
