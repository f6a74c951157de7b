"""The C walk (`_listdir.Walk`, native_walk.py) builds the very columns the Python walk does.

test_native.py compares what the two walks find entry by entry; here the layout itself:
each column's values and typecode (widened by the same rules), the sums, and the walk's
handling of fds, reopens and cancel.
"""

from __future__ import annotations

import os
import threading
from array import array
from pathlib import Path

import pytest

from overlayscope.errors import Cancelled
from overlayscope.scan import LayerIndex, native, native_walk, scan_tree
from overlayscope.scan import walker as walker_mod
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.columns import COLUMNS, Columns
from overlayscope.scan.sizes import LARGEST_KEPT, layer_sums
from overlayscope.scan.walker import BATCH, walk_tree
from tests.conftest import skip_or_fail
from tests.scan.conftest import IS_ROOT, add, setx


@pytest.fixture(autouse=True)
def _needs_helper() -> None:
    if native.listdir is None:
        skip_or_fail("the scanner's C helper (overlayscope/scan/_listdir.c) is not built")


def _both(monkeypatch: pytest.MonkeyPatch, path: Path, xattrs: bool = True) -> list[Columns]:
    fast = scan_tree(path, xattrs=xattrs)
    with monkeypatch.context() as m:
        m.setattr(native, "listdir", None)
        slow = scan_tree(path, xattrs=xattrs)
    assert fast.columns is not None and slow.columns is not None
    return [fast.columns, slow.columns]


def _python_sums(c: Columns) -> object:
    """`layer_sums` computed afresh in Python, over a copy without the C walk's."""
    copy = Columns()
    copy.__setstate__({**c.__getstate__(), "sums": None})
    return layer_sums(copy)


def _attrs_of(c: Columns) -> list[object]:
    return [c.attrs[a] for a in c.attr]


def _same_columns(fast: Columns, slow: Columns, *, same_attr_ids: bool = True) -> None:
    for name in COLUMNS:
        col_f, col_s = getattr(fast, name), getattr(slow, name)
        if name == "attr" and not same_attr_ids:
            assert _attrs_of(fast) == _attrs_of(slow)
            continue
        assert (col_f.typecode, col_f) == (col_s.typecode, col_s), name
    if same_attr_ids:
        assert fast.attrs == slow.attrs
    assert (fast.names, fast.targets) == (slow.names, slow.targets)
    assert fast.rdev == slow.rdev
    assert fast.xattrs == slow.xattrs
    assert fast.wide_times == slow.wide_times
    assert fast.sums == _python_sums(fast) == layer_sums(slow)


def _varied(root: Path) -> Path:
    add(root, "etc/passwd", "file", b"root:x:0:0\n")
    add(root, "etc/empty", "file")
    add(root, "etc/link", "symlink", b"passwd")
    add(root, "etc/hard", "hardlink", b"etc/passwd")
    add(root, "bin/sh", "file", b"#!" * 3000)
    add(root, "bin/ash", "hardlink", b"bin/sh")
    add(root, "run/fifo", "fifo")
    for i in range(LARGEST_KEPT + 40):  # more regular files than the sums keep
        add(root, f"data/d{i % 9}/f{i:04d}", "file", b"x" * ((i * 7919) % 9000))
    if IS_ROOT:
        add(root, "gone", "chardev00")
        add(root, "dev/null", "chardev13")
        setx(add(root, "xwh", "file"), "trusted.overlay.whiteout", b"")
        setx(add(root, "opq", "dir"), "trusted.overlay.opaque")
        add(root, "opq/inside", "file", b"x")
        setx(add(root, "data/d1/copied", "file", b"c"), "trusted.overlay.origin", b"\x00\x01")
        setx(add(root, "userns", "dir"), "user.overlay.opaque")
    return root


@pytest.mark.parametrize("xattrs", [True, False])
def test_same_columns_as_the_python_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xattrs: bool
) -> None:
    fast, slow = _both(monkeypatch, _varied(tmp_path / "diff"), xattrs)
    _same_columns(fast, slow)
    assert fast.sums is not None and len(fast.sums.largest) == LARGEST_KEPT
    assert len(fast.sums.linked) == 4


def test_columns_widen_as_the_python_walk_widens_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "diff"
    for mode in range(0o1000):  # 512 (kind, mode, uid, gid): past one byte of attr id
        path = add(root, f"modes/m{mode:03o}", "file")
        path.chmod(mode)
    with open(add(root, "huge", "file"), "r+b") as f:
        f.truncate(5 << 30)  # st_size past 32 bits: 'I' becomes 'q'
    fast, slow = _both(monkeypatch, root)
    (root / "modes").chmod(0o755)
    assert fast.attr.typecode == "H" and fast.size.typecode == "q"
    _same_columns(fast, slow)


def test_a_dir_read_in_several_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "diff"
    big = root / "big"
    big.mkdir(parents=True)
    for i in range(2 * BATCH + 10):  # names out of order on disk
        os.mknod(big / f"f{(i * 7919) % (2 * BATCH + 10):05d}")
    (big / "sub").mkdir()
    add(root, "big/sub/leaf", "symlink", b"../f00001")
    fast, slow = _both(monkeypatch, root)
    # the Python walk numbers attrs before its re-sort of the big dir: compare the values
    _same_columns(fast, slow, same_attr_ids=False)
    index = LayerIndex.from_columns(str(root), fast, [])
    names = index.children["/big"]
    assert names == sorted(names, key=os.fsencode) and len(names) == 2 * BATCH + 11


def test_a_dir_replaced_above_a_closed_fd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, each_walk: str
) -> None:
    """With one fd kept open, /a/b/c's fd is closed while its first subdir is read; /a is
    then replaced. Going back to /a/b/c for its second subdir means reopening /a: a
    problem, and nothing more under /a is read, while the rest of the tree is."""
    root = tmp_path / "diff"
    add(root, "a/b/c/d/in-d", "file", b"x")
    add(root, "a/b/c/e/in-e", "file", b"x")
    add(root, "z/kept", "file", b"x")
    monkeypatch.setattr(walker_mod, "FD_WINDOW", 1)
    monkeypatch.setattr(native_walk, "STEP", 1)  # a tick after every listing

    class Meddling(IndexBuilder):
        first = ""

        def tick(self, entries: int, current: str) -> None:
            if current in ("/a/b/c/d", "/a/b/c/e") and not self.first:
                self.first = current
                os.rename(root / "a", root / "a-old")
                (root / "a").mkdir()

    sink = Meddling(str(root))
    # no xattrs: the Python walk names entries by path for them, which the rename breaks
    walk_tree(str(root), sink, xattrs=False)
    index = sink.index
    first, second = sorted(("/a/b/c/d", "/a/b/c/e"), key=lambda p: p != sink.first)
    assert [(p.path, p.kind) for p in index.problems] == [("/a", "vanished")]
    assert f"{first}/in-{first[-1]}" in index.entries  # read through its own fd
    assert second in index.entries and f"{second}/in-{second[-1]}" not in index.entries
    assert "/z/kept" in index.entries


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_cancel_inside_a_big_dir_closes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "diff" / "a" / "big"
    big.mkdir(parents=True)
    for i in range(3 * BATCH):
        os.mknod(big / f"f{i}")
    monkeypatch.setattr(native_walk, "STEP", BATCH)
    before = _open_fds()
    cancel = threading.Event()

    class CancelInBig(IndexBuilder):
        def tick(self, entries: int, current: str) -> None:
            if current == "/a/big" and entries < 3 * BATCH:  # part way through its listing
                cancel.set()
                raise Cancelled("cancelled")

    with pytest.raises(Cancelled):
        walk_tree(str(tmp_path / "diff"), CancelInBig(str(tmp_path / "diff")))
    assert cancel.is_set()
    assert _open_fds() == before


def test_the_walk_object_refuses_misuse(tmp_path: Path) -> None:
    assert native.listdir is not None
    add(tmp_path, "d/f", "file", b"x")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    walk = native.listdir.Walk(fd, 0, 4, 16, 8, os.fsencode(str(tmp_path)), True)
    with pytest.raises(RuntimeError):
        walk.finish()  # not done yet
    assert walk.step(10**6) == (3, True, [], [], b"")  # entries, done, problems, xattrs, dir
    with pytest.raises(OSError):
        os.fstat(fd)  # the walk closed the root's fd at its end
    names, targets, cols, attrs, rdevs, wide, sums = walk.finish()
    assert names == b"df" and targets == b"" and rdevs == wide == []
    assert {kind for kind, *_ in attrs} == {0, 1}  # FILE and DIR codes
    assert sums[3:] == ([], [2])  # nothing multiply linked; /f is the largest file
    assert [name for name, _ in cols] == list(COLUMNS)
    assert dict(cols)["name_at"] == array("I", [0, 0, 1, 2])
    with pytest.raises(RuntimeError):
        walk.step(1)  # finished
    walk.close()
    walk.close()
