"""A scan cache entry that was damaged or replaced is never believed and never waited on.

Each entry ends with a SHA-256 of its header and columns (scan/cache.py, format 5): one
flipped bit anywhere is a miss, the layer is scanned again and the entry rewritten, and the
answer is the fresh scan's. (Before, a bit flipped in the size column turned a file's 26
bytes into 16,410, silently.) An entry is opened O_NONBLOCK | O_NOFOLLOW and checked by
`fstat` before it is read: a FIFO in its place is a miss, not a hang; a symlink is a miss,
and its target is neither read nor touched.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from overlayscope.scan.cache import MAGIC, ScanCache
from tests.engine import CapturedRoot
from tests.hostile.cli import Run, assert_answered, cli_env, run_sub

pytestmark = pytest.mark.root

PATH = "/app/data/big.txt"
SAFETY_NET = 120  # seconds: only so that a hang fails the run instead of stalling it


def _where(root: Path, home: Path, *extra: str) -> Run:
    run = run_sub(
        "--json", "--offline", *extra, "--root", str(root), "where", "web", PATH,
        env=cli_env(XDG_CACHE_HOME=str(home)), timeout=SAFETY_NET,
    )  # fmt: skip
    assert_answered(run, {0})
    return run


class Filled:
    """The captured root's scan cache after one `where`, and what a fresh scan answers."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.fresh = _where(root, home, "--no-cache").json()
        assert _where(root, home).json() == self.fresh  # fills the cache
        self.host: Host = load_host(str(root))
        self.layer = self.host.layers[str(self.fresh["winner"])]
        assert self.layer.cache_key is not None  # an image layer: cached
        self.cache = ScanCache(home / "overlayscope" / "scan-cache")
        self.entry = Path(self.cache.path_for(self.layer.cache_key))
        self.original = self.entry.read_bytes()

    def load(self) -> object:
        key = self.layer.cache_key
        assert key is not None
        return self.cache.load(key, self.layer.content_dir, overlay_xattrs=self.host.overlay_xattrs)


@pytest.fixture
def filled(captured_root: CapturedRoot, tmp_path: Path) -> Filled:
    return Filled(captured_root.path, tmp_path / "cache")


def _size_offset(data: bytes, entry: int) -> int:
    """Where `size[entry]` lies in an entry file (the format of scan/cache.py)."""
    at = len(MAGIC)
    (length,) = struct.unpack_from("<I", data, at)
    header = json.loads(data[at + 4 : at + 4 + length])
    at += 4 + length + header["names"] + header["targets"]
    for name, typecode, count in header["columns"]:
        itemsize = struct.calcsize(typecode)
        if name == "size":
            return int(at + itemsize * entry)
        at += itemsize * int(count)
    raise AssertionError("no size column")


def test_a_flipped_bit_in_a_size_is_rescanned_not_believed(filled: Filled) -> None:
    hit = filled.load()
    assert hit is not None
    columns = getattr(hit, "columns", None)
    assert columns is not None
    i = columns.lookup(PATH)
    assert i is not None
    offset = _size_offset(filled.original, i)
    flipped = bytearray(filled.original)
    flipped[offset + 1] ^= 0x40  # bit 14 of the size: 26 bytes would read as 16,410
    filled.entry.write_bytes(bytes(flipped))
    assert filled.load() is None
    filled.entry.write_bytes(bytes(flipped))  # as the command finds it (a miss may not heal)
    assert _where(filled.root, filled.home).json() == filled.fresh
    assert filled.entry.read_bytes() == filled.original  # scanned again and stored again


def test_any_flipped_bit_is_a_miss(filled: Filled) -> None:
    """Bits all over the file: the magic, the header, names, targets, every column, the
    checksum itself. Each is a miss (in this process: a load, no command)."""
    n = len(filled.original)
    positions = sorted({*range(0, 64), *range(0, n, max(1, n // 300)), *range(n - 64, n)})
    for pos in positions:
        flipped = bytearray(filled.original)
        flipped[pos] ^= 1 << (pos % 8)
        filled.entry.write_bytes(bytes(flipped))
        assert filled.load() is None, f"byte {pos} of {n} flipped, yet loaded"
    filled.entry.write_bytes(filled.original)
    assert filled.load() is not None  # the unflipped file loads: the misses are the sum's


def test_a_fifo_in_place_of_an_entry_is_a_miss_not_a_hang(filled: Filled) -> None:
    filled.entry.unlink()
    os.mkfifo(filled.entry, 0o600)
    assert _where(filled.root, filled.home).json() == filled.fresh
    assert filled.entry.is_file()  # the scan was stored over the FIFO
    assert filled.entry.read_bytes() == filled.original


def test_a_fifo_as_the_cache_dir_is_no_cache(captured_root: CapturedRoot, tmp_path: Path) -> None:
    home = tmp_path / "cache"
    (home / "overlayscope").mkdir(parents=True)
    os.mkfifo(home / "overlayscope" / "scan-cache", 0o600)
    fresh = _where(captured_root.path, home, "--no-cache").json()
    assert _where(captured_root.path, home).json() == fresh
    assert _where(captured_root.path, home).json() == fresh


def test_a_symlink_in_place_of_an_entry_is_neither_read_nor_touched(
    filled: Filled, tmp_path: Path
) -> None:
    """A link to a well-formed entry (here: the real one, moved away) is not followed: a
    miss, and the file it names keeps its bytes and times."""
    elsewhere = tmp_path / "elsewhere.scan"
    os.rename(filled.entry, elsewhere)
    os.utime(elsewhere, ns=(10**18, 10**18))
    os.symlink(elsewhere, filled.entry)
    assert filled.load() is None
    assert _where(filled.root, filled.home).json() == filled.fresh
    st = os.stat(elsewhere)
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**18, 10**18)
    assert elsewhere.read_bytes() == filled.original
    assert not filled.entry.is_symlink() and filled.entry.read_bytes() == filled.original
