"""`open_in_layer`: reads stay inside the layer tree and never open anything but files."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from overlayscope.errors import PathNotFound, UnsafePath
from overlayscope.union import (
    NotARegularFile,
    layer_xattr,
    open_in_layer,
    read_in_layer,
    same_content,
    sha256_in_layer,
)


def test_reads_a_regular_file(layer: Path) -> None:
    with open_in_layer(str(layer), "/etc/hostname") as f:
        assert f.read() == b"container\n"
    assert read_in_layer(str(layer), "/etc/hostname", max_bytes=4) == b"cont"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/etc/passwd", NotARegularFile),  # a symlink at the end is never followed
        ("/hostetc/hostname", UnsafePath),  # nor one in the middle
        ("/hostetc/passwd", UnsafePath),
        ("/climb/passwd", UnsafePath),
        ("/etc/../../etc/passwd", UnsafePath),  # no `..` at all
        ("/./etc/hostname", UnsafePath),
        ("/fifo", NotARegularFile),  # opening it would block
        ("/etc", NotARegularFile),
        ("/", NotARegularFile),
        ("/etc/shadow", PathNotFound),
        ("/etc/hostname/x", PathNotFound),
        ("/nope/x", PathNotFound),
    ],
)
def test_refuses(layer: Path, path: str, error: type[Exception]) -> None:
    result: list[BaseException] = []

    def attempt() -> None:
        try:
            open_in_layer(str(layer), path).close()
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), f"open_in_layer({path!r}) blocked"
    assert result and isinstance(result[0], error), result


def test_missing_diff_dir(tmp_path: Path) -> None:
    with pytest.raises(PathNotFound):
        open_in_layer(str(tmp_path / "gone"), "/x")


@pytest.mark.root
def test_device_nodes_are_never_opened(layer: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(layer / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(NotARegularFile):
        open_in_layer(str(layer), "/null")


def test_reading_keeps_the_atime(layer: Path) -> None:
    target = layer / "etc" / "hostname"
    os.utime(target, ns=(10**9, 2 * 10**9))  # atime before mtime: relatime would update it
    read_in_layer(str(layer), "/etc/hostname")
    if os.geteuid() != 0 and target.stat().st_uid != os.geteuid():
        pytest.skip("O_NOATIME is refused to a non-owner")
    assert target.stat().st_atime_ns == 10**9


def test_noatime_falls_back_on_eperm(layer: Path, noatime_refused: list[bool]) -> None:
    assert read_in_layer(str(layer), "/etc/hostname") == b"container\n"
    assert noatime_refused


def test_same_content_and_digest(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d, data in ((a, b"x" * 3_000_000), (b, b"x" * 2_999_999 + b"y")):
        d.mkdir()
        (d / "f").write_bytes(data)
        (d / "g").write_bytes(b"x" * 3_000_000)
    assert not same_content(str(a), "/f", str(b), "/f")
    assert same_content(str(a), "/f", str(b), "/g")
    size, digest = sha256_in_layer(str(a), "/f")
    assert size == 3_000_000
    assert digest == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_layer_xattr(layer: Path) -> None:
    try:
        os.setxattr(layer / "etc" / "hostname", "user.overlayscope", b"v")
    except OSError:
        pytest.skip("no user xattrs here")
    assert layer_xattr(str(layer), "/etc/hostname", "user.overlayscope") == b"v"
    assert layer_xattr(str(layer), "/etc/hostname", "user.absent") is None
    assert layer_xattr(str(layer), "/etc/passwd", "user.overlayscope") is None  # symlink
    assert layer_xattr(str(layer), "/fifo", "user.overlayscope") is None
