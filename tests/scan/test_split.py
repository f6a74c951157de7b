"""One layer walked in pieces (split.py): the merge is exactly one walk's index.

Real trees on disk: subtrees handed to other walks (nested too), hard links whose
inodes fall in several pieces, 0/0 and xattr whiteouts, opaque dirs, origin xattrs,
devices, symlinks, times past 2262, a big dir read in batches. Then the same through
`scan_layers` with a worker process (this process splits its walk for it, and a worker
splits its walk for this process), and the scan cache storing the merged layer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from overlayscope.scan import cache as scan_cache
from overlayscope.scan import native, native_walk, parallel, scan_layers, scan_tree, split
from overlayscope.scan.columns import COLUMNS, Columns
from overlayscope.scan.entry import LayerIndex
from overlayscope.scan.piece import PieceSink
from overlayscope.scan.process import Inbox, WorkerProcess
from overlayscope.scan.split import Part, Piece, merge
from overlayscope.scan.walker import BATCH
from tests.conftest import skip_or_fail
from tests.scan.conftest import IS_ROOT, add, needs_root, setx
from tests.scan.test_robustness import _NOBODY, _python_for_nobody


@pytest.fixture(autouse=True)
def _needs_helper() -> None:
    if native.listdir is None:
        skip_or_fail("the scanner's C helper (overlayscope/scan/_listdir.c) is not built")


def _tree(root: Path, *, subdirs: int = 6, files: int = 40, base: str = "usr") -> Path:
    """A layer-like tree whose `base` dir's subdirs are the subtrees a walk hands out."""
    for d in range(subdirs):
        top = root / base / f"pkg{d}"
        for s in range(3):
            for f in range(files):
                add(top, f"mod{s}/f{f}.py", "file", b"x" * ((d * 131 + s * 17 + f * 7) % 5000))
        add(top, "mod0/link", "symlink", f"../mod1/f{d}.py")
        add(top, "empty", "dir")
        add(top, "zero", "file", b"")
        deep = "/".join(["d"] * 12)
        add(top, f"{deep}/leaf", "file", b"deep")
    b = base + "/" if base else ""
    # hard links across pieces: one inode seen from pkg0, pkg3 and pkg5 (and the root)
    add(root, f"{b}pkg0/shared", "file", b"s" * 3000)
    add(root, f"{b}pkg3/shared-again", "hardlink", f"{b}pkg0/shared")
    add(root, f"{b}pkg5/mod2/and-again", "hardlink", f"{b}pkg0/shared")
    add(root, "shared-at-root", "hardlink", f"{b}pkg0/shared")
    add(root, f"{b}pkg2/fifo", "fifo")
    add(root, f"{b}pkg4/null", "chardev13")
    future = add(root, f"{b}pkg1/future", "file", b"f")
    os.utime(future, ns=(0, 10**19 + 7))  # past 2262: wide_times
    big = root / base / "pkg1" / "big"  # listed in two batches
    big.mkdir()
    for i in range(BATCH + 300):
        (big / f"e{(i * 7919) % (BATCH + 300):05d}").write_bytes(b"")
    if IS_ROOT:
        add(root, f"{b}pkg2/gone", "chardev00")  # a whiteout
        setx(add(root, f"{b}pkg4/xgone", "file"), "trusted.overlay.whiteout", b"")
        setx(add(root, f"{b}pkg5/opq", "dir"), "trusted.overlay.opaque")
        add(root, f"{b}pkg5/opq/inside", "file", b"i")
        copied = add(root, f"{b}pkg3/mod1/copied", "file", b"c")
        setx(copied, "trusted.overlay.origin", b"\x00\xfb\x21\x01")
        setx(copied.parent, "trusted.overlay.impure")
    return root


def _same(merged: Columns, whole: Columns) -> None:
    for name in COLUMNS:
        a, b = getattr(merged, name), getattr(whole, name)
        assert (a.typecode, a) == (b.typecode, b), name
    for name in ("names", "targets", "attrs", "rdev", "xattrs", "wide_times", "sums"):
        assert getattr(merged, name) == getattr(whole, name), name
    assert list(merged.xattrs) == list(whole.xattrs)  # in entry order too


class _Splitting(PieceSink):
    """A walk that hands out subtrees at its `at`-th steps; `out` collects them."""

    def __init__(self, content_dir: str, part: Part | None, at: set[int], out: list[Part]):
        super().__init__(content_dir, part)
        self._at = at
        self._out = out
        self._ticks = 0

    def tick(self, entries: int, current: str) -> None:
        self._ticks += 1
        if self._ticks in self._at:
            self._out += self.delegate()


def _walk_in_pieces(
    root: Path, *, xattrs: bool, at: set[int], nested: bool
) -> tuple[dict[bytes, Piece], int]:
    """Walk `root` as split walks do: the layer, then every part handed out (parts
    handing out parts when `nested`). Returns the pieces and how many parts there were."""
    parts: list[Part] = []
    sink = _Splitting(str(root), None, at, parts)
    sink.run(xattrs=xattrs, overlay_xattrs=None)
    pieces = {b"": sink.piece(sums=True)}
    done = 0
    while done < len(parts):
        part = parts[done]
        done += 1
        child = _Splitting(str(root), part, at if nested else set(), parts)
        child.run(xattrs=xattrs, overlay_xattrs=None)
        pieces[part[0]] = child.piece(sums=True)
    return pieces, len(parts)


@pytest.mark.parametrize("xattrs", [True, False])
@pytest.mark.parametrize(("at", "nested"), [({3}, False), ({3, 4, 6}, True), ({4, 5}, True)])
def test_merged_pieces_are_one_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xattrs: bool, at: set[int], nested: bool
) -> None:
    monkeypatch.setattr(native_walk, "STEP", 50)  # steps of ~50 entries: many chances to split
    root = _tree(tmp_path / "diff")
    pieces, handed = _walk_in_pieces(root, xattrs=xattrs, at=at, nested=nested)
    assert handed >= 2 and any(p.splices for p in pieces.values())
    if nested:  # a part handed parts on
        assert any(rel and p.splices for rel, p in pieces.items())
    columns, problems = merge(pieces)
    whole = scan_tree(root, xattrs=xattrs)
    assert columns is not None and whole.columns is not None
    _same(columns, whole.columns)
    assert problems == whole.problems == []
    merged = LayerIndex.from_columns(str(root), columns, problems)
    assert merged.entries == whole.entries and merged.children == whole.children
    # the shared inode is counted once in Docker's size, though four pieces saw it
    linked = [whole.columns.path_at(i) for i in whole.columns.sums.linked]  # type: ignore[union-attr]
    assert {"/usr/pkg0/shared", "/usr/pkg3/shared-again", "/shared-at-root"} <= set(linked)


def test_problems_keep_their_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subtree replaced before its walk reached it: the merged problems are one walk's,
    at the path a single walk gives, and nothing of the new dir is read."""
    monkeypatch.setattr(native_walk, "STEP", 50)
    root = _tree(tmp_path / "diff", subdirs=8)
    parts: list[Part] = []
    sink = _Splitting(str(root), None, {3}, parts)
    sink.run(xattrs=True, overlay_xattrs=None)
    assert len(parts) >= 2
    gone = root / os.fsdecode(parts[0][0])  # a handed-out subtree, replaced before its walk
    gone.rename(tmp_path / "moved-away")
    gone.mkdir()
    pieces = {b"": sink.piece(sums=True)}
    for part in parts:
        child = PieceSink(str(root), part)
        child.run(xattrs=True, overlay_xattrs=None)
        pieces[part[0]] = child.piece(sums=True)
    columns, problems = merge(pieces)
    where = "/" + os.fsdecode(parts[0][0])
    assert [(p.path, p.kind, p.detail) for p in problems] == [
        (where, "vanished", "replaced while scanning")
    ]
    assert pieces[parts[0][0]].columns is None  # nothing of it was read
    assert columns is not None and len(columns) > 1000


_AS_NOBODY = """
import json, sys
from overlayscope.scan import native_walk, scan_tree
from overlayscope.scan.columns import COLUMNS
from overlayscope.scan.piece import PieceSink
from overlayscope.scan.split import merge
native_walk.STEP = 50
root, parts = sys.argv[1], []
class Splitting(PieceSink):  # hands subtrees out at its 3rd, 4th and 6th steps
    ticks = 0
    def tick(self, entries, current):
        self.ticks += 1
        if self.ticks in (3, 4, 6):
            parts.extend(self.delegate())
sink = Splitting(root)
sink.run(xattrs=True, overlay_xattrs=None)
pieces = {b"": sink.piece(sums=True)}
for part in parts:  # in turn handing parts on
    child = Splitting(root, part)
    child.run(xattrs=True, overlay_xattrs=None)
    pieces[part[0]] = child.piece(sums=True)
columns, problems = merge(pieces)
whole = scan_tree(root)
same = all(getattr(columns, n) == getattr(whole.columns, n) for n in COLUMNS) and all(
    getattr(columns, n) == getattr(whole.columns, n)
    for n in ("names", "targets", "attrs", "rdev", "xattrs", "wide_times", "sums"))
print(json.dumps({"handed": len(parts), "same": same, "nested": any(
    rel and p.splices for rel, p in pieces.items()),
    "problems": [[p.path, p.kind, p.detail] for p in problems],
    "whole": [[p.path, p.kind, p.detail] for p in whole.problems]}))
"""


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_unreadable_dirs_in_pieces(world_tmp: Path) -> None:
    """Dirs user nobody may not list or whose entries it may not lstat, inside handed-out
    subtrees (nested): walked by nobody in pieces, the merge is one walk's index, the
    permission problems included, in one walk's order."""
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no Python >= 3.11 that user nobody can execute")
    root = _tree(world_tmp / "diff", subdirs=8)
    for pkg in (1, 4, 6):
        add(root, f"usr/pkg{pkg}/mod1/locked/secret", "file", b"x")
        add(root, f"usr/pkg{pkg}/noexec/x", "file", b"x")
        (root / f"usr/pkg{pkg}/mod1/locked").chmod(0o000)
        (root / f"usr/pkg{pkg}/noexec").chmod(0o644)  # listable; its entries can't be lstat-ed
    out = subprocess.run(
        [*_NOBODY, python, "-c", _AS_NOBODY, str(root)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["handed"] >= 2 and result["nested"] and result["same"]
    assert result["problems"] == result["whole"]  # one walk's, in its order
    expected = []
    for pkg in (1, 4, 6):
        expected += [[f"/usr/pkg{pkg}/mod1/locked", "permission"],
                     [f"/usr/pkg{pkg}/noexec/x", "permission"]]  # fmt: skip
    assert sorted(p[:2] for p in result["problems"]) == expected


def _hold_until_worker_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[object], None]:
    """A progress callback that, once, waits (at most 60 s) for a worker to say it is
    ready: the walk under way then has a worker to hand subtrees to."""
    inboxes: list[Inbox] = []
    start = parallel._start_workers

    def starting(count: int, inbox: Inbox, first: int = 0) -> list[WorkerProcess]:
        inboxes.append(inbox)
        return start(count, inbox, first)

    monkeypatch.setattr(parallel, "_start_workers", starting)
    waited: list[bool] = []

    def progress(_: object) -> None:
        if waited or not inboxes:
            return
        deadline = time.monotonic() + 60
        while not inboxes[0].queue and time.monotonic() < deadline:
            time.sleep(0.01)
        waited.append(True)

    return progress


def _count_merges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    merges: list[int] = []
    real = split.merge

    def counting(pieces: dict[bytes, Piece]) -> object:
        merges.append(len(pieces))
        return real(pieces)

    monkeypatch.setattr(parallel, "merge", counting)
    return merges


def test_this_process_splits_its_walk_for_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native_walk, "STEP", 50)
    monkeypatch.setattr(parallel, "_LATE_WORKERS_AFTER", 0)  # a worker from the first step
    root = _tree(tmp_path / "diff", subdirs=10)
    merges = _count_merges(monkeypatch)
    progress = _hold_until_worker_ready(monkeypatch)
    split = scan_layers({"L": root}, workers=2, sums=True, progress=progress)["L"]
    assert merges and merges[0] >= 2  # the layer came back in pieces
    whole = scan_tree(root)
    assert split.columns is not None and whole.columns is not None
    _same(split.columns, whole.columns)
    assert split.problems == whole.problems == []


def test_a_worker_splits_its_walk_for_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker gets the big layer (this process waits for it on a tiny one), then this
    process, with nothing left, asks it for subtrees (SPLIT) and walks them."""
    tiny = add(tmp_path / "tiny", "f", "file", b"x").parent
    # subtrees at the top: the worker's walk can hand some over right after its first
    # listing, answering the request this process sent when it ran out of work
    root = _tree(tmp_path / "diff", subdirs=12, files=120, base="")
    merges = _count_merges(monkeypatch)
    progress = _hold_until_worker_ready(monkeypatch)
    monkeypatch.setattr(parallel, "_EAGER_AFTER_LAYERS", 1)  # the worker from the start
    result = scan_layers({"tiny": tiny, "big": root}, workers=2, sums=True, progress=progress)
    assert merges == [merges[0]] and merges[0] >= 2  # one layer, in pieces
    whole = scan_tree(root)
    assert result["big"].columns is not None and whole.columns is not None
    _same(result["big"].columns, whole.columns)
    assert sorted(result["tiny"].entries) == ["/", "/f"]


def test_the_cache_keeps_the_merged_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_home: Path
) -> None:
    monkeypatch.setattr(native_walk, "STEP", 50)
    monkeypatch.setattr(parallel, "_LATE_WORKERS_AFTER", 0)
    root = _tree(tmp_path / "diff", subdirs=10)
    merges = _count_merges(monkeypatch)
    progress = _hold_until_worker_ready(monkeypatch)
    scan_layers({"L": root}, workers=2, cacheable={"L"}, progress=progress)
    assert merges and merges[0] >= 2
    cache = scan_cache.default_cache()
    assert cache is not None
    kept = cache.load("L", str(root))
    whole = scan_tree(root)
    assert kept is not None and kept.columns is not None and whole.columns is not None
    _same(kept.columns, whole.columns)
