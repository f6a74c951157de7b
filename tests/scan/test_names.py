"""Any bytes a name can hold survive the scan and round-trip through os.fsencode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.scan import Kind, scan_layers, scan_tree

# every test here runs under the C listing and the pure-Python one
pytestmark = pytest.mark.usefixtures("each_walk")

NAMES = [
    b"plain.txt",
    b"caf\xc3\xa9",  # valid UTF-8
    b"latin1-\xe9t\xe9",  # not UTF-8
    b"\xff\xfe\x80",
    b"new\nline",
    b"tab\there",
    b"esc\x1b[31mred",
    b"back\\slash",
    b" leading space",
    b"-dash",
    b".wh.looks-like-a-tar-whiteout",
    b"\xe2\x80\xae-rtl-override",
    b"x" * 255,  # NAME_MAX
]


@pytest.mark.parametrize("raw", NAMES, ids=lambda b: repr(b)[:40])
@pytest.mark.parametrize("workers", [1, 2])
def test_name_round_trips(tmp_path: Path, raw: bytes, workers: int) -> None:
    root = os.fsencode(tmp_path)
    for layer in (b"l1", b"l2"):
        os.makedirs(os.path.join(root, layer, raw))
        with open(os.path.join(root, layer, raw, raw), "wb") as f:
            f.write(b"data")
    layers = {"l1": tmp_path / "l1", "l2": tmp_path / "l2"}
    index = scan_layers(layers, workers=workers)["l1"]
    name = os.fsdecode(raw)
    entry = index.get("/" + name + "/" + name)
    assert entry is not None and entry.kind is Kind.FILE
    assert entry.name == name
    assert os.fsencode(entry.path) == b"/" + raw + b"/" + raw
    assert os.path.exists(os.path.join(root, b"l1", os.fsencode(entry.path)[1:]))


def test_symlink_target_bytes(tmp_path: Path) -> None:
    target = b"../\xff\nweird"
    os.symlink(target, os.path.join(os.fsencode(tmp_path), b"l"))
    entry = scan_tree(tmp_path).get("/l")
    assert entry is not None and entry.target is not None
    assert os.fsencode(entry.target) == target
