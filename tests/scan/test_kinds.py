"""Every Kind, and the overlay xattrs that decide some of them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from overlayscope.scan import Kind, OverlayXattrs, scan_tree
from tests.scan.conftest import add, needs_root, setx

# every test here runs under the C listing and the pure-Python one
pytestmark = pytest.mark.usefixtures("each_walk")


@pytest.mark.parametrize(
    ("what", "value", "kind"),
    [
        ("file", b"hello", Kind.FILE),
        ("file", b"", Kind.FILE),
        ("dir", b"", Kind.DIR),
        ("symlink", "target/elsewhere", Kind.SYMLINK),
        ("symlink", "/absolute/dangling", Kind.SYMLINK),
        ("fifo", b"", Kind.OTHER),
        pytest.param("socket", b"", Kind.OTHER, marks=needs_root),
        pytest.param("chardev00", b"", Kind.WHITEOUT, marks=needs_root),
        pytest.param("chardev13", b"", Kind.OTHER, marks=needs_root),
    ],
)
def test_kind_from_lstat(tmp_path: Path, what: str, value: bytes, kind: Kind) -> None:
    add(tmp_path, "x", what, value)
    index = scan_tree(tmp_path)
    entry = index.get("/x")
    assert entry is not None
    assert entry.kind is kind
    assert entry.xattrs is None
    assert index.problems == []


@needs_root
@pytest.mark.parametrize("namespace", ["trusted", "user"])
@pytest.mark.parametrize(
    ("what", "attr", "value", "kind", "expect"),
    [
        ("dir", "opaque", b"y", Kind.OPAQUE_DIR, {"opaque": True}),
        ("dir", "opaque", b"x", Kind.DIR, {"xwhiteouts": True}),
        ("dir", "opaque", b"n", Kind.DIR, {}),
        ("dir", "impure", b"y", Kind.DIR, {"impure": True}),
        ("dir", "redirect", b"/old/name", Kind.DIR, {"redirect": "/old/name"}),
        ("file", "whiteout", b"", Kind.WHITEOUT, {"whiteout": True}),
        ("file", "origin", b"\x00\xfb\x21handle", Kind.FILE, {"origin": b"\x00\xfb\x21handle"}),
        ("file", "metacopy", b"", Kind.FILE, {"metacopy": True}),
    ],
)
def test_overlay_xattrs(
    tmp_path: Path,
    namespace: str,
    what: str,
    attr: str,
    value: bytes,
    kind: Kind,
    expect: dict[str, object],
) -> None:
    path = add(tmp_path, "x", what)
    setx(path, f"{namespace}.overlay.{attr}", value)
    entry = scan_tree(tmp_path).get("/x")
    assert entry is not None
    assert entry.kind is kind
    assert entry.xattrs == OverlayXattrs(namespace=namespace, **expect)  # type: ignore[arg-type]


@needs_root
def test_xattr_whiteout_needs_zero_size(tmp_path: Path) -> None:
    path = add(tmp_path, "x", "file", b"data")
    setx(path, "trusted.overlay.whiteout", b"")
    entry = scan_tree(tmp_path).get("/x")
    assert entry is not None and entry.kind is Kind.FILE
    assert entry.xattrs is not None and entry.xattrs.whiteout


@needs_root
def test_trusted_wins_over_user_and_other_xattrs_are_ignored(tmp_path: Path) -> None:
    path = add(tmp_path, "d", "dir")
    setx(path, "user.overlay.opaque", b"y")
    setx(path, "trusted.overlay.impure", b"y")
    setx(path, "user.something.else", b"z")
    entry = scan_tree(tmp_path).get("/d")
    assert entry is not None
    assert entry.kind is Kind.DIR  # the user.* opaque is not what a rootful overlay reads
    assert entry.xattrs == OverlayXattrs(namespace="trusted", impure=True)


@needs_root
def test_root_xattrs_and_symlink_origin(tmp_path: Path) -> None:
    setx(tmp_path, "trusted.overlay.impure", b"y")
    link = add(tmp_path, "l", "symlink", "nowhere")
    setx(link, "trusted.overlay.origin", b"fh")
    index = scan_tree(tmp_path)
    root, entry = index.get("/"), index.get("/l")
    assert root is not None and root.xattrs == OverlayXattrs(impure=True)
    assert entry is not None and entry.kind is Kind.SYMLINK
    assert entry.xattrs == OverlayXattrs(origin=b"fh")


def test_symlink_to_dir_is_never_descended(tmp_path: Path) -> None:
    add(tmp_path, "real/inside", "file", b"1")
    add(tmp_path, "link", "symlink", "real")
    add(tmp_path, "up", "symlink", "..")  # a loop, if it were followed
    add(tmp_path, "abs", "symlink", "/etc")
    index = scan_tree(tmp_path)
    assert sorted(index.entries) == ["/", "/abs", "/link", "/real", "/real/inside", "/up"]
    link = index.get("/link")
    assert link is not None and link.kind is Kind.SYMLINK and link.target == "real"
    assert "/link" not in index.children


def test_lstat_facts(tmp_path: Path) -> None:
    path = add(tmp_path, "f", "file", b"12345")
    os.chmod(path, 0o4751)
    os.utime(path, ns=(1_000_000_000, 1_234_567_891_000_000_000))
    st = os.lstat(path)
    entry = scan_tree(tmp_path).get("/f")
    assert entry is not None
    assert (entry.mode, entry.uid, entry.gid, entry.size, entry.blocks) == (
        st.st_mode,
        st.st_uid,
        st.st_gid,
        5,
        st.st_blocks,
    )
    assert stat.S_IMODE(entry.mode) == 0o4751
    assert (entry.mtime_ns, entry.ctime_ns, entry.ino, entry.nlink) == (
        1_234_567_891_000_000_000,
        st.st_ctime_ns,
        st.st_ino,
        1,
    )


@needs_root
def test_device_rdev(tmp_path: Path) -> None:
    add(tmp_path, "null", "chardev13")
    entry = scan_tree(tmp_path).get("/null")
    assert entry is not None and entry.rdev == os.makedev(1, 3)


def test_index_shape(tmp_path: Path) -> None:
    add(tmp_path, "a/b/c", "file", b"x")
    add(tmp_path, "a/empty", "dir")
    add(tmp_path, "z", "file", b"y")
    index = scan_tree(tmp_path)
    assert index.content_dir == str(tmp_path)
    paths = [e.path for e in index]
    assert paths[0] == "/"
    assert paths.index("/a") < paths.index("/a/b") < paths.index("/a/b/c")
    assert sorted(paths) == ["/", "/a", "/a/b", "/a/b/c", "/a/empty", "/z"]
    assert index.children["/a/empty"] == []
    assert sorted(index.children["/a"]) == ["/a/b", "/a/empty"]
    assert [e.name for e in index.listdir("/a/b")] == ["c"]
    assert len(index) == 6


@needs_root
def test_without_xattrs_only_empty_files_are_asked(tmp_path: Path) -> None:
    setx(add(tmp_path, "wh", "file", b""), "trusted.overlay.whiteout", b"")
    setx(add(tmp_path, "opq", "dir"), "trusted.overlay.opaque")
    setx(add(tmp_path, "copied", "file", b"data"), "trusted.overlay.origin", b"\x00\xfb")
    add(tmp_path, "gone", "chardev00")
    full, lean = scan_tree(tmp_path), scan_tree(tmp_path, xattrs=False)
    assert full.entries["/opq"].kind is Kind.OPAQUE_DIR
    assert lean.entries["/opq"].kind is Kind.DIR and lean.entries["/opq"].xattrs is None
    assert lean.entries["/copied"].xattrs is None and full.entries["/copied"].xattrs is not None
    for path in ("/wh", "/gone"):  # whiteouts either way: byte counts see the same kinds
        assert lean.entries[path] == full.entries[path]
        assert lean.entries[path].kind is Kind.WHITEOUT
