"""A layer's sums (`LayerSums`): what they hold, what the cache keeps of them."""

from __future__ import annotations

import hashlib
import heapq
import os
from pathlib import Path

import pytest

from overlayscope.scan import Kind, allocated_size, docker_size, scan_layers, scan_tree
from overlayscope.scan import cache as scan_cache
from overlayscope.scan.sizes import LARGEST_KEPT, layer_sums
from tests.scan.conftest import add


def _layer(root: Path, files: int) -> Path:
    for i in range(files):
        add(root, f"d{i % 13}/f{i}", "file", b"x" * ((i * 7919) % 20000))
    add(root, "d0/hard", "hardlink", "d1/f1")
    add(root, "d2/hard", "hardlink", "d1/f1")
    add(root, "link", "symlink", b"d0/f0")
    with open(add(root, "sparse", "file"), "r+b") as f:
        f.truncate(1 << 30)
    return root


@pytest.mark.parametrize("files", [40, LARGEST_KEPT * 2])
def test_sums_are_what_the_entries_say(tmp_path: Path, files: int) -> None:
    index = scan_tree(_layer(tmp_path / "diff", files), xattrs=False)
    assert index.columns is not None
    sums = layer_sums(index.columns)
    entries = list(index.entries.values())
    assert sums.blocks == sum(e.blocks for e in entries)
    assert sums.apparent == sum(e.size for e in entries if not e.kind.is_dir)
    assert sums.docker == docker_size(index)
    linked = {e.path for e in entries if e.nlink > 1 and not e.kind.is_dir}
    assert {index.columns.path_at(i) for i in sums.linked} == linked == {
        "/d1/f1", "/d0/hard", "/d2/hard"
    }  # fmt: skip
    by_size = heapq.nlargest(
        LARGEST_KEPT, (e for e in entries if e.kind is Kind.FILE), key=lambda e: e.blocks
    )
    largest = [index.columns.path_at(i) for i in sums.largest]
    assert len(largest) == min(LARGEST_KEPT, files + 3)
    assert largest[0] == "/sparse" or by_size[0].blocks == index.entries[largest[0]].blocks
    assert [index.entries[p].blocks for p in largest] == [e.blocks for e in by_size]
    # hard links once, as du
    assert allocated_size(index) == sums.blocks * 512 - 2 * index.entries["/d0/hard"].blocks * 512


def test_the_cache_keeps_the_sums(tmp_path: Path, cache_home: Path) -> None:
    diff = _layer(tmp_path / "L" / "diff", 50)
    first = scan_layers({"L": diff}, cacheable={"L"}, workers=1)["L"]
    assert first.columns is not None
    expected = layer_sums(first.columns)
    cache = scan_cache.default_cache()
    assert cache is not None
    hit = cache.load("L", str(diff))
    assert hit is not None and hit.columns is not None
    assert hit.columns.sums == expected  # restored, not recomputed


@pytest.mark.parametrize(("inserted", "loads"), [(b"1,", True), (b"99999999,", False)])
def test_damaged_sums_are_a_miss(
    tmp_path: Path, cache_home: Path, inserted: bytes, loads: bool
) -> None:
    """An entry number past the layer's end is a miss; the same edit with a valid one
    loads (so the miss is the check's, not a broken file's)."""
    diff = _layer(tmp_path / "L" / "diff", 20)
    scan_layers({"L": diff}, cacheable={"L"}, workers=1)
    cache = scan_cache.default_cache()
    assert cache is not None
    path = cache.path_for("L")
    data = Path(path).read_bytes()
    start = data.index(b'"linked":[') + len(b'"linked":[')
    damaged = data[:start] + inserted + data[start:]
    # keep the header's length field right: it precedes the JSON
    header_len = int.from_bytes(data[len(scan_cache.MAGIC) : len(scan_cache.MAGIC) + 4], "little")
    fixed = (
        damaged[: len(scan_cache.MAGIC)]
        + (header_len + len(inserted)).to_bytes(4, "little")
        + damaged[len(scan_cache.MAGIC) + 4 : -32]
    )
    fixed += hashlib.sha256(fixed).digest()  # and its checksum (format 5): only the check judges
    Path(path).write_bytes(fixed)
    os.chmod(path, 0o600)
    assert (cache.load("L", str(diff)) is not None) is loads
