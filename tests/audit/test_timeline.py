"""The timeline walk and its bodyfile and CSV forms."""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from overlayscope.audit.bodyfile import (
    CSV_HEADER,
    bodyfile_line,
    bodyfile_name,
    csv_row,
    escape,
    mode_string,
)
from overlayscope.audit.timeline import TimelineEntry, TimelineLayer, timeline
from overlayscope.audit.walk import FD_WINDOW, walk_layer
from tests.conftest import skip_or_fail

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="whiteout device nodes need root")


def _tree(diff: Path, outside: Path) -> None:
    (diff / "etc").mkdir(parents=True)
    (diff / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.symlink(str(outside), diff / "out")  # a dir outside the layer: never walked into
    os.symlink("../../../../etc/shadow", diff / "etc" / "up")
    (diff / "pipe|name").write_text("p")
    (diff / "new\nline").write_text("n")
    deep = diff / "deep"
    for i in range(FD_WINDOW * 3):
        deep = deep / f"d{i}"
        (deep / "z").mkdir(parents=True)  # walked after d{i+1}: its parent's fd is reopened
        (deep / "z" / "f").write_text(str(i))
    (deep / "leaf").write_text("leaf")


def _lstat_all(diff: Path) -> dict[str, os.stat_result]:
    found: dict[str, os.stat_result] = {}
    for top, dirs, files in os.walk(diff):
        for name in dirs + files:
            full = os.path.join(top, name)
            found["/" + os.path.relpath(full, diff)] = os.lstat(full)
    return found


def test_walk_sees_what_lstat_sees_and_never_leaves(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    diff = tmp_path / "diff"
    _tree(diff, outside)
    problems: list[tuple[str, str]] = []
    walked = {w.path: w for w in walk_layer(str(diff), problems) if w.path != "/"}
    expected = _lstat_all(diff)
    assert problems == []
    assert set(walked) == set(expected)
    for path, st in expected.items():
        got = walked[path].st
        assert (got.st_ino, got.st_mode, got.st_size, got.st_mtime_ns) == (
            st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns,
        )  # fmt: skip
    assert walked["/out"].target == str(outside)
    assert not any(p.startswith("/out/") for p in walked)
    assert walked["/etc/up"].target == "../../../../etc/shadow"


@ROOT_ONLY
def test_walk_marks_whiteouts(tmp_path: Path) -> None:
    diff = tmp_path / "diff"
    diff.mkdir()
    os.mknod(diff / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(diff / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (diff / "xwhiteout").write_bytes(b"")
    os.setxattr(diff / "xwhiteout", "trusted.overlay.whiteout", b"")
    (diff / "empty").write_bytes(b"")
    walked = {w.path: w.whiteout for w in walk_layer(str(diff), [])}
    assert walked == {
        "/": False,
        "/gone": True,
        "/null": False,
        "/xwhiteout": True,
        "/empty": False,
    }


def _entry(path: str, **kw: object) -> TimelineEntry:
    layer = kw.pop("layer", TimelineLayer("ab" * 32, "rw", "/x/diff", "cd" * 32, "web"))
    base: dict[str, object] = dict(
        layer=layer, path=path, type="file", mode=stat.S_IFREG | 0o644, uid=0, gid=0, size=3,
        inode=42, nlink=1, atime_ns=1_500_000_000_900_000_000, mtime_ns=1_600_000_000_000_000_001,
        ctime_ns=-1,
    )  # fmt: skip
    base.update(kw)
    return TimelineEntry(**base)  # type: ignore[arg-type]


def _unescape(name: str) -> str:
    """plaso's unescaping (parsers/bodyfile.py), plus `\\x7c` for the pipe."""
    for code in [*range(0x20), 0x7C, *range(0x7F, 0xA0)]:
        name = name.replace(f"\\x{code:02x}", chr(code))
    return name.replace("\\\\", "\\")


def test_bodyfile_line() -> None:
    line = bodyfile_line(_entry("/etc/passwd", md5="d41d8cd98f00b204e9800998ecf8427e"))
    assert line == (
        "d41d8cd98f00b204e9800998ecf8427e|web:rw:abababababab:/etc/passwd|42|r/rrw-r--r--|0|0|3|"
        "1500000000|1600000000|-1|0"
    )


@pytest.mark.parametrize(
    "path",
    ["/a|b", "/new\nline", "/back\\slash", "/tab\tx", "/esc\x1b[31m", "/x -> y", "/caf\u00e9"],
)
def test_bodyfile_names_round_trip(path: str) -> None:
    line = bodyfile_line(_entry(path))
    assert "\n" not in line
    fields = line.split("|")
    assert len(fields) == 11  # mactime splits on every pipe
    assert _unescape(fields[1]) == "web:rw:abababababab:" + path


def test_bodyfile_symlinks_whiteouts_and_owners() -> None:
    link = _entry("/etc/mtab", type="symlink", mode=stat.S_IFLNK | 0o777, target="/proc/mounts")
    assert bodyfile_name(link) == "web:rw:abababababab:/etc/mtab -> /proc/mounts"
    assert mode_string(link) == "l/lrwxrwxrwx"
    tricky = _entry("/l", type="symlink", mode=stat.S_IFLNK | 0o777, target="a -> b")
    assert bodyfile_name(tricky).rpartition(" -> ")[2] == "a -\\x3e b"
    whiteout = _entry("/etc/group", type="whiteout", mode=stat.S_IFCHR)
    assert mode_string(whiteout) == "w/c---------"
    image = TimelineLayer("ef" * 32, "image", "/x/diff")
    assert bodyfile_name(_entry("/bin/sh", layer=image)) == "@image:image:efefefefefef:/bin/sh"
    evil = TimelineLayer("ab" * 32, "rw", "/x/diff", "cd" * 32, "=x:y/z")
    assert bodyfile_name(_entry("/f", layer=evil)).startswith("\\x3dx\\x3ay\\x2fz:rw:")


def test_csv_row_escapes_and_defuses_formulas() -> None:
    row = csv_row(_entry("/a,b\nc", type="symlink", target="=HYPERLINK(1)"))
    assert len(row) == len(CSV_HEADER)
    assert row[CSV_HEADER.index("path")] == "/a,b\\x0ac"
    assert row[CSV_HEADER.index("target")] == "'=HYPERLINK(1)"
    assert row[CSV_HEADER.index("mtime")] == "2020-09-13T12:26:40.000000001Z"
    buf = io.StringIO()
    csv.writer(buf).writerow(row)
    assert next(csv.reader(io.StringIO(buf.getvalue()))) == row


def test_escape_keeps_plain_names() -> None:
    assert escape("/usr/bin/env") == "/usr/bin/env"
    assert escape("/a|b", pipe=False) == "/a|b"
    assert escape("/x\u202ey") == "/x\\u202ey"
    assert escape("/\udcff") == "/\\xff"


def test_timeline_hashes_files(tmp_path: Path) -> None:
    diff = tmp_path / "diff"
    diff.mkdir()
    (diff / "f").write_bytes(b"abc")
    os.symlink("/etc/passwd", diff / "l")  # never read through
    layer = TimelineLayer("ab" * 32, "rw", str(diff), "cd" * 32, "web")
    got = {e.path: e for e in timeline([layer], hash=True)}
    assert got["/f"].md5 == "900150983cd24fb0d6963f7d28e17f72"
    assert got["/f"].sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert got["/l"].md5 is None and got["/l"].target == "/etc/passwd"


def test_mactime_reads_our_bodyfile(tmp_path: Path) -> None:
    if shutil.which("mactime") is None:
        skip_or_fail("mactime not installed (apt-get install sleuthkit; `make test` does)")
    entries = [
        _entry("/etc/passwd"),
        _entry("/a|b"),
        _entry("/etc/mtab", type="symlink", mode=stat.S_IFLNK | 0o777, target="/proc/mounts"),
        _entry("/etc/group", type="whiteout", mode=stat.S_IFCHR),
    ]
    body = tmp_path / "body"
    body.write_text("".join(bodyfile_line(e) + "\n" for e in entries))
    out = subprocess.run(
        ["mactime", "-b", str(body), "-d", "-y", "-z", "UTC"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "web:rw:abababababab:/etc/passwd" in out
    assert "web:rw:abababababab:/a\\x7cb" in out
    assert "w/c---------" in out
    assert "2020-09-13T12:26:40" in out  # the mtime, as mactime reads it
