"""`LayerFiles`: the batch reader `changes` uses gives `open_in_layer`'s and `layer_xattr`'s
answers and errors exactly, with `openat2` and without it (the component walk)."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.errors import PathNotFound, UnsafePath
from overlayscope.union import NotARegularFile, layer_xattr, layerfiles, open_in_layer
from overlayscope.union.extents import same_fd_content
from overlayscope.union.layerfiles import LayerFiles

PATHS = [
    "/etc/hostname",
    "/bin/sh",
    "/etc/passwd",  # a symlink at the end is never followed
    "/hostetc/hostname",  # nor one in the middle
    "/hostetc/passwd",
    "/climb/passwd",
    "/etc/../../etc/passwd",  # no `..` at all
    "/./etc/hostname",
    "etc/hostname",  # not absolute: the walk's reading of it
    "//etc//hostname",
    "/etc/",
    "/fifo",  # opening it would block
    "/etc",
    "/",
    "/etc/shadow",
    "/etc/hostname/x",
    "/nope/x",
    "/deep/a/b/c/file",
]


@pytest.fixture(params=["openat2", "openat2-ctypes", "walk"])
def files(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LayerFiles]:
    """Each way of opening: openat2 through the C helper (or ctypes where it is not built),
    openat2 through ctypes, and the walk of one component at a time."""
    if request.param == "walk":
        monkeypatch.setenv("OVERLAYSCOPE_NO_OPENAT2", "1")
    with LayerFiles() as reader:
        if request.param != "walk" and reader._openat2 is None:
            pytest.skip("no openat2 on this kernel")
        if request.param == "openat2-ctypes":
            reader._openat2 = layerfiles._Openat2()
        yield reader


def _outcome(call: object) -> tuple[str, bytes | None]:
    result: list[tuple[str, bytes | None]] = []

    def attempt() -> None:
        try:
            value = call()  # type: ignore[operator]
        except Exception as exc:
            result.append((f"{type(exc).__name__}: {exc}", None))
        else:
            result.append(("ok", value))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "blocked"
    return result[0]


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


@pytest.mark.parametrize("path", PATHS)
def test_open_fd_is_open_in_layer(layer: Path, files: LayerFiles, path: str) -> None:
    def expected() -> bytes:
        with open_in_layer(str(layer), path) as f:
            return f.read()

    assert _outcome(lambda: _read(files.open_fd(str(layer), path))) == _outcome(expected)


@pytest.mark.parametrize("path", PATHS)
def test_xattr_is_layer_xattr(layer: Path, files: LayerFiles, path: str) -> None:
    for target in ("etc/hostname", "etc", "deep/a/b/c/file", "."):
        try:
            os.setxattr(layer / target, "user.overlayscope", target.encode())
        except OSError:
            pytest.skip("no user xattrs here")
    got = _outcome(lambda: files.xattr(str(layer), path, "user.overlayscope"))
    assert got == _outcome(lambda: layer_xattr(str(layer), path, "user.overlayscope"))
    absent = _outcome(lambda: files.xattr(str(layer), path, "user.absent"))
    assert absent == _outcome(lambda: layer_xattr(str(layer), path, "user.absent"))


def test_errors_are_the_walks(layer: Path, files: LayerFiles) -> None:
    for path, error in (
        ("/etc/passwd", NotARegularFile),
        ("/hostetc/hostname", UnsafePath),
        ("/climb/passwd", UnsafePath),
        ("/fifo", NotARegularFile),
        ("/etc/shadow", PathNotFound),
    ):
        with pytest.raises(error):
            files.open_fd(str(layer), path)
    with pytest.raises(PathNotFound):
        files.open_fd(str(layer.parent / "gone"), "/x")


@pytest.mark.root
def test_device_nodes_are_never_opened(layer: Path, files: LayerFiles) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(layer / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(NotARegularFile):
        files.open_fd(str(layer), "/null")
    assert files.xattr(str(layer), "/null", "user.x") is None


def test_a_dir_swapped_for_a_symlink_is_not_followed(layer: Path, files: LayerFiles) -> None:
    assert _read(files.open_fd(str(layer), "/etc/hostname")) == b"container\n"
    os.rename(layer / "etc", layer / "etc.old")
    os.symlink("/etc", layer / "etc")  # the kept dir fd is the old dir, never the host's
    fd = files.open_fd(str(layer), "/etc/hostname")
    assert _read(fd) == b"container\n"
    with LayerFiles() as fresh, pytest.raises(UnsafePath):
        fresh.open_fd(str(layer), "/etc/hostname")


def test_reading_keeps_the_atime(layer: Path, files: LayerFiles) -> None:
    target = layer / "etc" / "hostname"
    os.utime(target, ns=(10**9, 2 * 10**9))  # atime before mtime: relatime would update it
    _read(files.open_fd(str(layer), "/etc/hostname"))
    if os.geteuid() != 0 and target.stat().st_uid != os.geteuid():
        pytest.skip("O_NOATIME is refused to a non-owner")
    assert target.stat().st_atime_ns == 10**9


def test_noatime_falls_back_on_eperm(layer: Path, noatime_refused: list[bool]) -> None:
    with LayerFiles() as files:
        assert _read(files.open_fd(str(layer), "/etc/hostname")) == b"container\n"
    assert noatime_refused


def test_unsupported_openat2_falls_back_to_the_walk(
    layer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoSys:
        def __call__(self, dir_fd: int, path: bytes, flags: int) -> int:
            raise OSError(errno.ENOSYS, "no openat2")

    monkeypatch.setattr(layerfiles, "_usable", True)
    with LayerFiles() as files:
        files._openat2 = NoSys()  # type: ignore[assignment]
        assert _read(files.open_fd(str(layer), "/deep/a/b/c/file")) == b"deep"
        assert files._openat2 is None
        with pytest.raises(UnsafePath):
            files.open_fd(str(layer), "/hostetc/hostname")


def test_every_dir_fd_is_closed(layer: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    with LayerFiles() as files:
        for i in range(LayerFiles.MAX_DIRS + 10):
            (layer / f"d{i}").mkdir()
            (layer / f"d{i}" / "f").write_bytes(b"x")
            os.close(files.open_fd(str(layer), f"/d{i}/f"))
        assert len(files._dirs) <= LayerFiles.MAX_DIRS
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (b"", b"", True),
        (b"x", b"x", True),
        (b"x", b"y", False),
        (b"x", b"xy", False),
        (b"ab" * 100_000, b"ab" * 100_000, True),
        (b"ab" * 100_000, b"ab" * 99_999 + b"ac", False),
    ],
)
def test_same_fd_content(tmp_path: Path, a: bytes, b: bytes, same: bool) -> None:
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    for chunk in (1, 7, 1 << 20):
        fa, fb = os.open(tmp_path / "a", os.O_RDONLY), os.open(tmp_path / "b", os.O_RDONLY)
        try:
            assert same_fd_content(fa, fb, chunk=chunk) is same
        finally:
            os.close(fa)
            os.close(fb)
