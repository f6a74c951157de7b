"""The overlay xattr namespace a scan is told to read (`overlay_xattrs`).

A mount reads overlay metadata from one namespace only: rootful overlayfs
`trusted.overlay.*`, rootless (`userxattr`) `user.overlay.*`. Told which, the scanner
takes the other namespace's `*.overlay.*` xattrs for plain ones: the entry is what its
mode says (no opaque dir, no xattr whiteout, no origin…). None keeps "either, trusted
wins" for trees no host describes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from overlayscope.scan import Kind, OverlayXattrs, scan_layers, scan_tree
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.cache import ScanCache
from overlayscope.scan.walker import walk_tree
from tests.scan.conftest import add, needs_root, setx

# every test here runs under the C walk and the pure-Python one
pytestmark = [pytest.mark.usefixtures("each_walk"), needs_root]

NAMESPACES = ["trusted", "user", None]


def _other(namespace: str) -> str:
    return "user" if namespace == "trusted" else "trusted"


@pytest.mark.parametrize("written", ["trusted", "user"])
@pytest.mark.parametrize("read", NAMESPACES)
@pytest.mark.parametrize("xattrs", [True, False])
def test_an_xattr_whiteout_is_one_only_in_the_namespace_read(
    tmp_path: Path, written: str, read: str | None, xattrs: bool
) -> None:
    setx(add(tmp_path, "gone", "file", b""), f"{written}.overlay.whiteout", b"")
    entry = scan_tree(tmp_path, xattrs=xattrs, overlay_xattrs=read).get("/gone")
    assert entry is not None
    if read in (written, None):
        assert entry.kind is Kind.WHITEOUT
        assert entry.xattrs == OverlayXattrs(namespace=written, whiteout=True)
    else:  # a plain empty file, whatever the scan reads of it
        assert entry.kind is Kind.FILE
        assert entry.xattrs is None


@pytest.mark.parametrize("written", ["trusted", "user"])
@pytest.mark.parametrize("read", NAMESPACES)
def test_an_opaque_dir_is_one_only_in_the_namespace_read(
    tmp_path: Path, written: str, read: str | None
) -> None:
    setx(add(tmp_path, "d", "dir"), f"{written}.overlay.opaque", b"y")
    add(tmp_path, "d/kept", "file", b"x")
    index = scan_tree(tmp_path, overlay_xattrs=read)
    entry = index.get("/d")
    assert entry is not None
    if read in (written, None):
        assert entry.kind is Kind.OPAQUE_DIR
        assert entry.xattrs == OverlayXattrs(namespace=written, opaque=True)
    else:
        assert entry.kind is Kind.DIR
        assert entry.xattrs is None
    assert [e.name for e in index.listdir("/d")] == ["kept"]  # listed either way


@pytest.mark.parametrize("written", ["trusted", "user"])
@pytest.mark.parametrize(
    ("what", "attr", "value", "expect"),
    [
        ("dir", "impure", b"y", {"impure": True}),
        ("dir", "opaque", b"x", {"xwhiteouts": True}),
        ("dir", "redirect", b"/old", {"redirect": "/old"}),
        ("file", "origin", b"\x00\xfbfh", {"origin": b"\x00\xfbfh"}),
        ("file", "metacopy", b"", {"metacopy": True}),
    ],
)
def test_no_overlay_xattr_of_the_other_namespace_is_metadata(
    tmp_path: Path, written: str, what: str, attr: str, value: bytes, expect: dict[str, object]
) -> None:
    setx(add(tmp_path, "x", what), f"{written}.overlay.{attr}", value)
    mine = scan_tree(tmp_path, overlay_xattrs=written).get("/x")
    other = scan_tree(tmp_path, overlay_xattrs=_other(written)).get("/x")
    assert mine is not None and other is not None
    assert mine.xattrs == OverlayXattrs(namespace=written, **expect)  # type: ignore[arg-type]
    assert other.xattrs is None
    assert mine.kind is other.kind


def test_a_symlinks_origin(tmp_path: Path) -> None:
    """(Linux allows no user.* xattr on a symlink: only trusted.* can be there.)"""
    setx(add(tmp_path, "l", "symlink", "nowhere"), "trusted.overlay.origin", b"fh")
    for read, expect in [("trusted", OverlayXattrs(origin=b"fh")), ("user", None)]:
        entry = scan_tree(tmp_path, overlay_xattrs=read).get("/l")
        assert entry is not None and entry.kind is Kind.SYMLINK
        assert entry.xattrs == expect, read


def test_the_layer_roots_xattrs_too(tmp_path: Path) -> None:
    setx(tmp_path, "user.overlay.impure", b"y")
    setx(tmp_path, "user.overlay.opaque", b"y")
    for read, expect in [
        ("trusted", None),
        ("user", OverlayXattrs(namespace="user", impure=True, opaque=True)),
        (None, OverlayXattrs(namespace="user", impure=True, opaque=True)),
    ]:
        root = scan_tree(tmp_path, overlay_xattrs=read).get("/")
        assert root is not None and root.xattrs == expect, read
        assert root.kind is (Kind.OPAQUE_DIR if expect else Kind.DIR)


def test_both_namespaces_on_one_entry(tmp_path: Path) -> None:
    """Each namespace is read alone; None is today's "either, trusted wins"."""
    path = add(tmp_path, "d", "dir")
    setx(path, "trusted.overlay.impure", b"y")
    setx(path, "user.overlay.opaque", b"y")
    setx(path, "user.overlay.origin", b"fh")
    setx(path, "user.something.else", b"z")
    seen = {read: scan_tree(tmp_path, overlay_xattrs=read).entries["/d"] for read in NAMESPACES}
    assert seen["trusted"].kind is Kind.DIR
    assert seen["trusted"].xattrs == OverlayXattrs(namespace="trusted", impure=True)
    assert seen["user"].kind is Kind.OPAQUE_DIR
    assert seen["user"].xattrs == OverlayXattrs(namespace="user", opaque=True, origin=b"fh")
    assert seen[None] == seen["trusted"]


def test_the_default_is_either_trusted_winning(tmp_path: Path) -> None:
    setx(add(tmp_path, "u", "dir"), "user.overlay.opaque", b"y")
    setx(add(tmp_path, "t", "file", b""), "trusted.overlay.whiteout", b"")
    default, either = scan_tree(tmp_path), scan_tree(tmp_path, overlay_xattrs=None)
    assert default.entries == either.entries
    assert default.entries["/u"].kind is Kind.OPAQUE_DIR
    assert default.entries["/t"].kind is Kind.WHITEOUT
    layers = scan_layers({"L": tmp_path}, workers=1)
    assert layers["L"].entries == default.entries


@pytest.mark.parametrize("read", NAMESPACES)
def test_workers_read_the_namespace_they_are_told(tmp_path: Path, read: str | None) -> None:
    """Through the worker wire: each layer as `scan_tree` sees it in this process."""
    layers = {}
    for n in range(4):
        diff = tmp_path / f"l{n}"
        setx(add(diff, "opq", "dir"), "user.overlay.opaque", b"y")
        setx(add(diff, "wh", "file", b""), "trusted.overlay.whiteout", b"")
        setx(add(diff, f"f{n}", "file", b"data"), "user.overlay.origin", b"fh")
        layers[f"L{n}"] = diff
    scanned = scan_layers(layers, workers=3, overlay_xattrs=read)
    for key, diff in layers.items():
        assert scanned[key].entries == scan_tree(diff, overlay_xattrs=read).entries
    kinds = {p: e.kind for p, e in scanned["L0"].entries.items()}
    assert kinds["/opq"] is (Kind.DIR if read == "trusted" else Kind.OPAQUE_DIR)
    assert kinds["/wh"] is (Kind.FILE if read == "user" else Kind.WHITEOUT)


@pytest.mark.parametrize("bad", ["TRUSTED", "security", ""])
def test_an_unknown_namespace_is_refused(tmp_path: Path, bad: str) -> None:
    add(tmp_path, "f", "file", b"x")
    with pytest.raises(ValueError, match="overlay xattrs"):
        scan_tree(tmp_path, overlay_xattrs=bad)
    with pytest.raises(ValueError, match="overlay xattrs"):
        scan_layers({"L": tmp_path}, workers=2, overlay_xattrs=bad)
    with pytest.raises(ValueError, match="overlay xattrs"):
        walk_tree(str(tmp_path), IndexBuilder(str(tmp_path)), overlay_xattrs=bad)


@pytest.mark.parametrize("xattrs", [True, False])
def test_the_cache_never_serves_a_scan_of_another_namespace(tmp_path: Path, xattrs: bool) -> None:
    diff = tmp_path / "L" / "diff"
    setx(add(diff, "opq", "dir"), "user.overlay.opaque", b"y")
    setx(add(diff, "wh", "file", b""), "user.overlay.whiteout", b"")
    cache = ScanCache(tmp_path / "cache")

    def scan(read: str | None) -> dict[str, Kind]:
        index = scan_layers(
            {"L": diff}, workers=1, xattrs=xattrs, overlay_xattrs=read, cacheable={"L"},
            cache=cache,
        )["L"]  # fmt: skip
        return {p: e.kind for p, e in index.entries.items() if p != "/"}

    rootless = {"/opq": Kind.OPAQUE_DIR if xattrs else Kind.DIR, "/wh": Kind.WHITEOUT}
    rootful = {"/opq": Kind.DIR, "/wh": Kind.FILE}
    assert scan("user") == rootless  # stored as a "user" scan
    assert cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs="user") is not None
    for other in ("trusted", None):
        assert cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs=other) is None
    assert scan("trusted") == rootful  # not the cached "user" scan; stored in its place
    assert cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs="user") is None
    hit = cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs="trusted")
    assert hit is not None and {p: e.kind for p, e in hit.entries.items() if p != "/"} == rootful
    assert scan(None) == rootless  # either: the user.* xattrs count again
    assert cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs="trusted") is None
    assert cache.load("L", str(diff), xattrs=xattrs, overlay_xattrs=None) is not None
