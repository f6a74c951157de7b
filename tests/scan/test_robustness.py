"""Depth, long paths, fds, permissions, and trees that change under the scan."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from overlayscope.scan import Kind, ScanProblem, scan_layers, scan_tree
from overlayscope.scan import walker as walker_mod
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.walker import Record, walk_tree
from tests.scan.conftest import IS_ROOT, add, needs_root

# every test here runs under the C listing and the pure-Python one
pytestmark = pytest.mark.usefixtures("each_walk")


_DIR = os.O_RDONLY | os.O_DIRECTORY


def _chain(root: Path, names: list[str]) -> int:
    """mkdir a chain of nested dirs through fds (any depth); return the deepest dir's fd."""
    fd = os.open(root, _DIR)
    for name in names:
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, _DIR, dir_fd=fd)
        os.close(fd)
        fd = child
    return fd


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_ten_thousand_levels(tmp_path: Path) -> None:
    depth = 10_000
    fd = _chain(tmp_path, ["d"] * depth)
    os.close(os.open("leaf", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    os.close(fd)
    baseline = _open_fds()  # the rest of the session (an engine's sockets, logs) holds fds too
    peak = 0

    def watch(_progress: object) -> None:
        nonlocal peak
        peak = max(peak, _open_fds())

    try:
        index = scan_tree(tmp_path, progress=watch)
        assert index.problems == []
        assert len(index) == depth + 2
        leaf = "/d" * depth + "/leaf"
        entry = index.get(leaf)
        assert entry is not None and entry.kind is Kind.FILE
        assert len(os.fsencode(leaf)) > 4096  # past PATH_MAX: only fds could reach it
        assert peak - baseline < walker_mod.FD_WINDOW + 20
    finally:
        subprocess.run(["rm", "-rf", "--", str(tmp_path)], check=True)


@pytest.mark.parametrize("window", [1, 2, 3])
def test_fd_window_reopens_ancestors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """With few fds to spare, dirs left behind are reopened from an open ancestor."""
    monkeypatch.setattr(walker_mod, "FD_WINDOW", window)
    expected = {"/"}
    path = ""
    for level in range(12):
        for sib in ("a", "b", "c"):
            add(tmp_path, f"{path}/{sib}/f{level}".lstrip("/"), "file", b"x")
            expected |= {f"{path}/{sib}", f"{path}/{sib}/f{level}"}
        path += "/b"  # the chain continues in the middle sibling
    index = scan_tree(tmp_path)
    assert index.problems == []
    assert set(index.entries) == expected


@needs_root
def test_overlay_xattrs_past_path_max(tmp_path: Path) -> None:
    names = [f"{i:03d}" + "n" * 196 for i in range(25)]  # 25 * 200 bytes
    fd = _chain(tmp_path, names)
    try:
        os.mkdir("opq", dir_fd=fd)
        opq = os.open("opq", _DIR, dir_fd=fd)
        os.setxattr(opq, "trusted.overlay.opaque", b"y")
        os.close(opq)
        wh = os.open("wh", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.setxattr(wh, "user.overlay.whiteout", b"")
        os.close(wh)
    finally:
        os.close(fd)
    for workers in (1, 2):
        index = scan_layers({"deep": tmp_path, "other": tmp_path / names[0]}, workers=workers)
        deep = index["deep"]
        base = "/" + "/".join(names)
        assert len(os.fsencode(base)) > 4096
        assert deep.problems == []
        opq_entry, wh_entry = deep.get(base + "/opq"), deep.get(base + "/wh")
        assert opq_entry is not None and opq_entry.kind is Kind.OPAQUE_DIR
        assert wh_entry is not None and wh_entry.kind is Kind.WHITEOUT
        assert wh_entry.xattrs is not None and wh_entry.xattrs.namespace == "user"


@pytest.mark.parametrize(("missing", "kind"), [("nope", "vanished"), ("file", "error")])
def test_unusable_root_is_a_problem_not_a_crash(tmp_path: Path, missing: str, kind: str) -> None:
    add(tmp_path, "file", "file", b"x")
    index = scan_tree(tmp_path / missing)
    assert index.entries == {}
    assert index.children == {}
    assert [(p.path, p.kind) for p in index.problems] == [("/", kind)]


_AS_NOBODY = """
import json, sys
from overlayscope.scan import scan_layers
layers = scan_layers({"a": sys.argv[1], "b": sys.argv[1]}, workers=int(sys.argv[2]))
print(json.dumps({k: {"entries": sorted(ix.entries),
                      "problems": sorted([p.path, p.kind] for p in ix.problems)}
                  for k, ix in layers.items()}))
"""


_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _python_for_nobody() -> str | None:
    """A Python >= 3.11 that user nobody may run (a venv's may live under /root)."""
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            [*_NOBODY, python, "-c", "import sys; assert sys.executable; "
             "assert sys.version_info >= (3, 11)"],
            capture_output=True, check=False,
        )  # fmt: skip
        if probe.returncode == 0 and os.access(python, os.X_OK):
            check = subprocess.run(
                [*_NOBODY, python, "-c", "import os, sys; "
                 "sys.exit(not os.access(sys.executable, os.X_OK))"],
                capture_output=True, check=False,
            )  # fmt: skip
            if check.returncode == 0:
                return python
    return None


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("workers", [1, 2])
def test_permission_problems_as_nobody(world_tmp: Path, workers: int) -> None:
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no Python >= 3.11 that user nobody can execute")
    layer = world_tmp / "diff"
    add(layer, "ok/f", "file", b"x")
    add(layer, "locked/secret", "file", b"x")
    add(layer, "noexec/x", "file", b"x")
    (layer / "locked").chmod(0o000)
    (layer / "noexec").chmod(0o644)  # listable, but its entries can't be lstat-ed
    for p in (layer, layer / "ok"):
        p.chmod(0o755)
    out = subprocess.run(
        [*_NOBODY, python, "-c", _AS_NOBODY, str(layer), str(workers)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("a", "b"):
        assert result[key]["entries"] == ["/", "/locked", "/noexec", "/ok", "/ok/f"]
        assert result[key]["problems"] == [["/locked", "permission"], ["/noexec/x", "permission"]]


class _MeddlingSink(IndexBuilder):
    """Changes the tree the moment the root's listing is read: delivered (the Python
    walk), or at the first tick after it (the C walk, whose first step ends there)."""

    def __init__(self, content_dir: Path, meddle: str) -> None:
        super().__init__(str(content_dir))
        self.dir = content_dir
        self.meddle = meddle

    def entries(self, dir_path: str, records: list[Record]) -> None:
        super().entries(dir_path, records)
        self._after(dir_path)

    def _after(self, dir_path: str) -> None:
        if dir_path == "/" and self.meddle:
            victim = self.dir / "victim"
            if self.meddle == "delete":
                shutil.rmtree(victim)
            else:  # a new dir of the same name: not the one we listed
                victim.rename(self.dir / "moved")
                victim.mkdir()
            self.meddle = ""

    def tick(self, entries: int, current: str) -> None:
        if entries > 1:  # the root's children are read
            self._after("/")


@pytest.mark.parametrize("meddle", ["delete", "replace"])
def test_dir_vanishing_between_listing_and_descent(tmp_path: Path, meddle: str) -> None:
    add(tmp_path, "victim/inner/f", "file", b"x")
    add(tmp_path, "stays/g", "file", b"x")
    sink = _MeddlingSink(tmp_path, meddle)
    walk_tree(str(tmp_path), sink)
    index = sink.index
    assert [(p.path, p.kind) for p in index.problems] == [("/victim", "vanished")]
    assert "/victim" in index.entries and "/victim/inner" not in index.entries
    assert "/stays/g" in index.entries


def _big_tree(root: Path, dirs: int, files: int) -> None:
    for d in range(dirs):
        sub = root / f"d{d:04d}"
        sub.mkdir(parents=True)
        for f in range(files):
            os.mknod(sub / f"f{f:04d}")  # an empty regular file; ~10x faster than open()
        os.symlink("f0000", sub / "link")


def _delete_all(root: Path, started: threading.Event) -> None:
    started.set()
    for sub in sorted(root.iterdir(), reverse=True):
        shutil.rmtree(sub, ignore_errors=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_entries_vanishing_mid_scan(tmp_path: Path, workers: int) -> None:
    layers = {}
    for name in ("l1", "l2"):
        _big_tree(tmp_path / name, dirs=60, files=100)
        layers[name] = tmp_path / name
    started = threading.Event()
    deleters = [
        threading.Thread(target=_delete_all, args=(path, started)) for path in layers.values()
    ]
    for t in deleters:
        t.start()
    started.wait()
    try:
        result = scan_layers(layers, workers=workers)
    finally:
        for t in deleters:
            t.join()
    problems: list[ScanProblem] = [p for ix in result.values() for p in ix.problems]
    assert {p.kind for p in problems} <= {"vanished"}, problems[:5]
    for ix in result.values():  # what was indexed is consistent: every child has its parent
        for parent, kids in ix.children.items():
            assert parent in ix.entries
            assert all(k in ix.entries for k in kids)


def test_never_writes_or_changes_atime(tmp_path: Path) -> None:
    add(tmp_path, "d/f", "file", b"x")
    add(tmp_path, "d/l", "symlink", "f")
    os.utime(tmp_path / "d", ns=(1_000_000_000, 1_000_000_000))
    before = {p: os.lstat(p) for p in (tmp_path, tmp_path / "d", tmp_path / "d/f")}
    scan_tree(tmp_path)
    for p, st in before.items():
        after = os.lstat(p)
        assert (after.st_mtime_ns, after.st_ctime_ns) == (st.st_mtime_ns, st.st_ctime_ns)
        if IS_ROOT:  # O_NOATIME: even relatime would update a 1970 atime
            assert after.st_atime_ns == st.st_atime_ns, p
