"""The scan cache of committed image layers: hits, misses, what it never caches or writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Role
from overlayscope.scan import (
    LayerIndex,
    allocated_size,
    docker_size,
    piece,
    scan_layers,
    scan_tree,
)
from overlayscope.scan import cache as scan_cache
from overlayscope.scan.cache import ScanCache, cache_for, identity_of
from overlayscope.union.host_stacks import build_stack
from tests.engine import CapturedRoot
from tests.scan.conftest import IS_ROOT, add, setx


def _layer(root: Path) -> Path:
    add(root, "etc/passwd", "file", b"root:x:0:0")
    add(root, "etc/alt", "symlink", "passwd")
    add(root, "bin/sh", "file", b"\x7fELF" * 100)
    add(root, "bin/ash", "hardlink", "bin/sh")
    add(root, "run/fifo", "fifo")
    add(root, "caf\xe9/n\udcffme", "file", b"odd bytes")
    (root / "many").mkdir()
    for i in range(5000):  # listed in two batches
        os.mknod(root / "many" / f"f{i}")
    if IS_ROOT:
        add(root, "gone", "chardev00")
        setx(add(root, "opq", "dir"), "trusted.overlay.opaque")
        setx(root / "etc" / "passwd", "trusted.overlay.origin", b"\x00\xfb\x01")
    return root


def _no_walking(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("walked a layer the cache holds")

    monkeypatch.setattr(piece, "walk_tree", refuse)  # every walk of scan_layers goes there


def _same(a: LayerIndex, b: LayerIndex) -> None:
    assert a.entries == b.entries
    assert a.children == b.children
    assert a.content_dir == b.content_dir
    assert docker_size(a) == docker_size(b) and allocated_size(a) == allocated_size(b)


def test_second_scan_is_a_hit(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diff = _layer(tmp_path / "L")
    first = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    files = list((cache_home / "overlayscope" / "scan-cache").iterdir())
    assert len(files) == 1 and not files[0].name.startswith(".tmp-")
    _no_walking(monkeypatch)
    second = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    _same(second, first)
    _same(second, scan_tree(diff))
    assert second.entries["/etc/alt"].target == "passwd"
    if IS_ROOT:
        assert second.entries["/opq"].kind.value == "opaque-dir"
        assert second.entries["/etc/passwd"].xattrs == first.entries["/etc/passwd"].xattrs


def test_not_cacheable_is_never_stored(tmp_path: Path, cache_home: Path) -> None:
    diff = _layer(tmp_path / "L")
    scan_layers({"L": diff, "M": diff}, cacheable={"M"}, workers=1)
    names = [p.name for p in (cache_home / "overlayscope" / "scan-cache").iterdir()]
    assert len(names) == 1  # M's entry; L was not cacheable


def test_miss_after_the_diff_dir_changes_identity(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diff = _layer(tmp_path / "L")
    scan_layers({"L": diff}, cacheable={"L"}, workers=1)
    cache = scan_cache.default_cache()
    assert cache is not None and cache.load("L", str(diff)) is not None
    add(diff, "new-file", "file", b"x")  # changes diff/'s ctime
    assert cache.load("L", str(diff)) is None
    again = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    assert "/new-file" in again.entries
    assert cache.load("L", str(diff)) is not None
    # a layer removed and re-created under the same id: a new inode
    fresh = tmp_path / "fresh"
    add(fresh, "only", "file", b"y")
    os.rename(diff, tmp_path / "gone")
    os.rename(fresh, diff)
    assert cache.load("L", str(diff)) is None
    assert sorted(scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"].entries) == [
        "/",
        "/only",
    ]


def test_without_xattrs_serves_only_callers_that_need_none(
    tmp_path: Path, cache_home: Path
) -> None:
    diff = _layer(tmp_path / "L")
    scan_layers({"L": diff}, cacheable={"L"}, workers=1, xattrs=False)
    cache = scan_cache.default_cache()
    assert cache is not None
    assert cache.load("L", str(diff), xattrs=False) is not None
    assert cache.load("L", str(diff), xattrs=True) is None
    scan_layers({"L": diff}, cacheable={"L"}, workers=1)  # a full scan replaces it
    assert cache.load("L", str(diff), xattrs=False) is not None
    assert cache.load("L", str(diff), xattrs=True) is not None


@pytest.mark.parametrize(
    "damage",
    ["empty", "garbage", "truncated", "magic", "header", "lengths", "other-layer", "other-owner"],
)
def test_a_damaged_cache_file_is_a_miss(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    diff = _layer(tmp_path / "L")
    expected = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    cache = scan_cache.default_cache()
    assert cache is not None
    path = Path(cache.path_for("L"))
    data = path.read_bytes()
    if damage == "empty":
        data = b""
    elif damage == "garbage":
        data = os.urandom(len(data))
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "magic":
        data = b"X" + data[1:]
    elif damage == "header":
        data = data[:12] + b"[" + data[13:]
    elif damage == "lengths":
        data = data.replace(b'"entries":', b'"entries":1', 1)
    elif damage == "other-layer":
        identity = identity_of(str(diff))
        assert identity is not None
        cache.store("M", scan_layers({"L": diff}, workers=1)["L"], identity, xattrs=True)
        data = Path(cache.path_for("M")).read_bytes()
    path.write_bytes(data)
    if damage == "other-owner":
        if not IS_ROOT:
            pytest.skip("needs root to give the file away")
        os.chown(path, 65534, 65534)
    assert cache.load("L", str(diff)) is None
    _same(scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"], expected)


def test_never_written_for_a_read_only_layer(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diff = _layer(tmp_path / "L")
    real_statvfs = os.statvfs

    class _ReadOnly:
        def __init__(self, path: str) -> None:
            self._st = real_statvfs(path)

        def __getattr__(self, name: str) -> object:
            return getattr(self._st, name)

        @property
        def f_flag(self) -> int:
            return self._st.f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", _ReadOnly)
    index = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    assert not (cache_home / "overlayscope" / "scan-cache").exists()
    _same(index, scan_tree(diff))


def test_an_unwritable_cache_is_harmless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diff = _layer(tmp_path / "L")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    index = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    _same(index, scan_tree(diff))


def test_no_cache_inside_the_inspected_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "root" / "cache"))
    assert cache_for(str(tmp_path / "root")) is None
    assert cache_for(str(tmp_path / "elsewhere")) is not None
    scan_cache.set_enabled(False)
    try:
        assert cache_for(str(tmp_path / "elsewhere")) is None
    finally:
        scan_cache.set_enabled(True)


def test_scan_layers_keeps_the_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cache_for` says None for a root the cache dir lies in: `scan_layers` scans without
    a cache then (it used to take None for "left out" and use the default cache, inside)."""
    root = tmp_path / "root"
    diff = _layer(root / "L")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    cache = cache_for(str(root))
    assert cache is None
    index = scan_layers({"L": diff}, cacheable={"L"}, workers=1, cache=cache)["L"]
    _same(index, scan_tree(diff))
    assert not (root / "cache").exists()


def test_a_cache_dir_turned_into_a_link_to_the_root_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache checks again before each read and write: its dir made a symlink into
    the root after `cache_for` gave it is neither written nor believed."""
    root = tmp_path / "root"
    diff = _layer(root / "L")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    cache = cache_for(str(root))
    assert cache is not None
    first = scan_layers({"L": diff}, cacheable={"L"}, workers=1, cache=cache)["L"]
    entry = Path(cache.path_for("L"))
    assert entry.is_file() and cache.load("L", str(diff)) is not None
    # the cache's contents moved into the root, its dir now a link there
    (root / "planted").mkdir()
    os.rename(entry, root / "planted" / entry.name)
    os.rmdir(cache.directory)
    os.symlink(root / "planted", cache.directory)
    assert cache.load("L", str(diff)) is None  # a well-formed entry, yet inside: not read
    before = sorted(os.listdir(root / "planted"))
    second = scan_layers({"L": diff}, cacheable={"L"}, workers=1, cache=cache)["L"]
    _same(second, first)
    assert sorted(os.listdir(root / "planted")) == before  # nothing written there


def test_stale_entries_are_pruned(tmp_path: Path) -> None:
    cache = ScanCache(tmp_path / "c")
    diff = _layer(tmp_path / "L")
    index = scan_layers({"L": diff}, workers=1)["L"]
    identity = identity_of(str(diff))
    assert identity is not None and cache.store("old", index, identity, xattrs=True)
    os.utime(cache.path_for("old"), (0, 0))
    assert cache.store("new", index, identity, xattrs=True)
    assert [str(p) for p in (tmp_path / "c").iterdir()] == [cache.path_for("new")]


# -- on a real data root: which layers, the CLI flag, nothing written into the root -------


def _manifest(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every path under `root` with its mode, size, mtime and ctime (atime may change)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (
                st.st_mode,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
            )
    return out


def _cli(root: Path, home: Path, *args: str) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(home)}
    cmd = [sys.executable, "-m", "overlayscope.cli.main", "--root", str(root), "--offline", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout


@pytest.mark.root
def test_only_image_layers_are_cached_and_the_root_is_untouched(
    captured_root: CapturedRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = captured_root.path
    home = tmp_path / "xdg"
    before = _manifest(root)
    first = json.loads(_cli(root, home, "--json", "df"))
    host = load_host(str(root))
    cached = {
        p.name.removesuffix(".scan") for p in (home / "overlayscope" / "scan-cache").iterdir()
    }
    images = {lid for lid, layer in host.layers.items() if layer.role is Role.IMAGE}
    assert cached == images  # every image layer, and never an rw, init or orphan dir
    second = json.loads(_cli(root, home, "--json", "df"))
    assert second == first
    web = next(c for c in host.containers.values() if c.name == "web")
    changes = _cli(root, home, "--json", "container", "web")
    assert _cli(root, home, "--no-cache", "--json", "container", "web") == changes
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    stack = build_stack(host, web)
    assert {layer.id for layer in stack.layers if layer.role == "image"} <= cached
    assert {web.layer, web.init_layer}.isdisjoint(cached)
    assert _manifest(root) == before


@pytest.mark.root
def test_no_cache_neither_reads_nor_writes(captured_root: CapturedRoot, tmp_path: Path) -> None:
    root = captured_root.path
    home = tmp_path / "xdg"
    real = json.loads(_cli(root, home, "--no-cache", "--json", "df"))
    assert not (home / "overlayscope").exists()
    _cli(root, home, "--json", "df")
    # plant a wrong but well-formed entry for the biggest image layer: an empty tree
    host = load_host(str(root))
    layer = max(
        (layer for layer in host.layers.values() if layer.role is Role.IMAGE),
        key=lambda layer: layer.recorded_size or 0,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    fake = LayerIndex.from_columns(layer.content_dir, scan_tree(empty).columns, [])  # type: ignore[arg-type]
    cache = ScanCache(home / "overlayscope" / "scan-cache")
    identity = identity_of(layer.content_dir)
    assert identity is not None and cache.store(
        layer.id, fake, identity, xattrs=True, overlay_xattrs=host.overlay_xattrs
    )
    planted = json.loads(_cli(root, home, "--json", "df"))
    assert planted["total"] != real["total"]  # the planted entry was read
    assert json.loads(_cli(root, home, "--no-cache", "--json", "df")) == real


@pytest.mark.parametrize("workers", [1, 2])
def test_times_past_2262_survive_scan_wire_and_cache(
    tmp_path: Path, cache_home: Path, workers: int
) -> None:
    """st_mtime_ns past 2**63 (ext4 stores times up to 2446): exact after a worker's
    wire and a cache round trip, beside ordinary times in the same flush."""
    diff = tmp_path / "L" / "diff"
    future = add(diff, "future", "file", b"x")
    past = add(diff, "past", "file", b"y")
    os.utime(future, ns=(0, 10**19 + 7))
    os.utime(past, ns=(0, -(2**63) + 5))  # before 1678: fits, as the smallest allowed
    expected = {p: (os.lstat(p).st_mtime_ns, os.lstat(p).st_ctime_ns) for p in (future, past)}
    assert expected[future][0] > 2**63  # the filesystem kept it
    first = scan_layers({"L": diff, "M": diff}, cacheable={"L"}, workers=workers)
    cached = scan_layers({"L": diff}, cacheable={"L"}, workers=workers)["L"]
    cache = scan_cache.default_cache()
    assert cache is not None and cache.load("L", str(diff)) is not None
    for index in (first["L"], first["M"], cached):
        for path, (mtime, ctime) in expected.items():
            entry = index.entries["/" + path.name]
            assert (entry.mtime_ns, entry.ctime_ns) == (mtime, ctime)


def test_a_real_read_only_mount_is_kept_only_when_allowed(tmp_path: Path, cache_home: Path) -> None:
    """A layer on a read-only bind mount: not kept by default (mounted evidence), kept once
    `set_read_only_mounts(True)` (what `serve` sets for a live root given read-only)."""
    if not IS_ROOT:
        pytest.skip("needs root to bind-mount read-only")
    diff = _layer(tmp_path / "L")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "--bind", str(diff), str(mnt)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)
        store = cache_home / "overlayscope" / "scan-cache"
        expected = scan_tree(str(mnt))
        _same(scan_layers({"L": str(mnt)}, cacheable={"L"}, workers=1)["L"], expected)
        assert not store.exists() or not list(store.glob("*.scan"))
        scan_cache.set_read_only_mounts(True)
        try:
            _same(scan_layers({"L": str(mnt)}, cacheable={"L"}, workers=1)["L"], expected)
            assert len(list(store.glob("*.scan"))) == 1
            cached = ScanCache(str(store)).load("L", str(mnt))
            assert cached is not None
            _same(cached, expected)
        finally:
            scan_cache.set_read_only_mounts(False)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
