"""`unified_diff`: a changed file against the version beneath the top layer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from overlayscope.errors import PathNotFound
from overlayscope.union import NotARegularFile, unified_diff
from tests.union.real import real_stack


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_text_file_gives_a_unified_diff(tmp_path: Path) -> None:
    st = real_stack(
        tmp_path,
        ("rw", "f /etc/passwd data=root\nf /etc/motd data=hello"),
        ("img", "f /etc/passwd data=root\nf /etc/motd data=hi"),
    )
    # data= cannot hold newlines: rewrite the files with several lines.
    (tmp_path / "rw/diff/etc/motd").write_text("one\ntwo changed\nthree\n")
    (tmp_path / "img/diff/etc/motd").write_text("one\ntwo\nthree\n")
    diff = unified_diff(st, "/etc/motd")
    assert diff.text is not None and not diff.binary and not diff.identical
    assert "-two\n" in diff.text and "+two changed\n" in diff.text
    assert diff.text.startswith("--- /etc/motd\t(layer img)\n+++ /etc/motd\t(layer rw)\n")
    assert diff.old is not None and diff.new is not None
    assert (diff.old.layer_id, diff.new.layer_id) == ("img", "rw")
    assert diff.new.sha256 == _sha(b"one\ntwo changed\nthree\n")


def test_identical_copy_up(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /etc/passwd data=x"), ("img", "f /etc/passwd data=x"))
    diff = unified_diff(st, "/etc/passwd")
    assert diff.identical and diff.text == ""


def test_binary_gives_sizes_and_digests(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /x"), ("img", "f /x"))
    new, old = b"\x7fELF\0new" * 10, b"\x7fELF\0old"
    (tmp_path / "rw/diff/x").write_bytes(new)
    (tmp_path / "img/diff/x").write_bytes(old)
    diff = unified_diff(st, "/x")
    assert diff.binary and diff.text is None and diff.note and "binary" in diff.note
    assert diff.old is not None and diff.new is not None
    assert (diff.old.sha256, diff.new.sha256) == (_sha(old), _sha(new))


def test_invalid_utf8_is_binary(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /x"), ("img", "f /x"))
    (tmp_path / "rw/diff/x").write_bytes(b"caf\xe9\n")
    assert unified_diff(st, "/x").binary


def test_too_large_for_text(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /x"), ("img", "f /x"))
    (tmp_path / "rw/diff/x").write_text("a\n" * 100)
    diff = unified_diff(st, "/x", max_text_bytes=50)
    assert diff.text is None and not diff.binary and diff.note and "larger" in diff.note
    assert diff.new is not None and diff.new.sha256 == _sha(b"a\n" * 100)


def test_added_and_deleted(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /new data=fresh\nf /etc"), ("img", "f /etc/gone data=x"))
    added = unified_diff(st, "/new")
    assert added.old is None and added.text is not None and "+fresh" in added.text
    # /etc/gone is hidden by the file /etc above it: deleted from the container's view.
    gone = unified_diff(st, "/etc/gone")
    assert gone.new is None and gone.text is not None and "-x" in gone.text


def test_symlinks_compare_targets(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "l /lnk -> /b"), ("img", "l /lnk -> /a"))
    diff = unified_diff(st, "/lnk")
    assert diff.text is not None and "-/a" in diff.text and "+/b" in diff.text
    assert diff.new is not None and diff.new.target == "/b"


def test_errors(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "d /srv"), ("img", "d /srv"))
    with pytest.raises(NotARegularFile):
        unified_diff(st, "/srv")
    with pytest.raises(PathNotFound):
        unified_diff(st, "/nothing")
