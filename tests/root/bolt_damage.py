"""The bbolt fixtures and their truth, a plain map of their pages, and ways to damage a copy.

The map is a deliberately simple walk of a *healthy* file (no checks at all), written apart
from overlayscope's reader so the tests can point at a page ("the second leaf of `wide`",
"a branch of `keys`") and know which keys live beneath it.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from overlayscope.root.bbolt import BoltDB, Bucket

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bbolt"
DB_NAMES = ("backup.db", "empty.db", "many.db", "nested.db", "nofreelist.db", "page16k.db")

# A key path (bucket names, then the key) -> the value, or None where the key holds a bucket.
Flat = dict[tuple[bytes, ...], bytes | None]


@cache
def expected() -> dict[str, Any]:
    """fixtures/bbolt/expected.json, as the Go generator wrote it with bbolt itself."""
    data: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
    return data


def expected_tree(dump: dict[str, Any]) -> dict[str, Any]:
    """A bucket of expected.json as {"sequence", "items": [[key, value | bucket]]} in bytes."""
    return {
        "sequence": dump["sequence"],
        "items": [
            [bytes.fromhex(k), expected_tree(v) if isinstance(v, dict) else bytes.fromhex(v)]
            for k, v in dump["items"]
        ],
    }


def read_tree(bucket: Bucket) -> dict[str, Any]:
    """The same shape, read through overlayscope's reader."""
    return {
        "sequence": bucket.sequence,
        "items": [[k, read_tree(v) if isinstance(v, Bucket) else v] for k, v in bucket.items()],
    }


def flatten(tree: dict[str, Any], prefix: tuple[bytes, ...] = ()) -> Flat:
    """Every key path of a tree (from expected_tree or read_tree)."""
    flat: Flat = {}
    for key, value in tree["items"]:
        if isinstance(value, dict):
            flat[(*prefix, key)] = None
            flat.update(flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


@cache
def expected_flat(name: str) -> Flat:
    """Fixture `name`'s key paths (shared: never change the dict you get)."""
    return flatten(expected_tree(expected()["dbs"][name]["root"]))


def walk_all(db: BoltDB) -> Flat:
    """A full recursive walk of every bucket, flattened."""
    return flatten(read_tree(db.root()))


@dataclass
class PageInfo:
    """One live branch or leaf page of a healthy file."""

    pgid: int
    flags: int
    count: int
    overflow: int
    depth: int  # 0: a bucket's root page
    bucket: tuple[bytes, ...]  # the bucket the page belongs to
    keys: set[tuple[bytes, ...]] = field(default_factory=set)  # key paths at or beneath it


@dataclass
class PageMap:
    path: Path
    page_size: int
    hwm: int
    meta_txids: tuple[int, int]
    pages: dict[int, PageInfo]
    bucket_roots: dict[tuple[bytes, ...], int]  # 0: inline

    def find(
        self,
        flags: int,
        bucket: tuple[bytes, ...] | None = None,
        depth: int | None = None,
        overflow: bool = False,
    ) -> PageInfo:
        """The first page (by id) of that kind."""
        for info in sorted(self.pages.values(), key=lambda p: p.pgid):
            if (
                info.flags == flags
                and (bucket is None or info.bucket == bucket)
                and (depth is None or info.depth == depth)
                and (not overflow or info.overflow > 0)
            ):
                return info
        raise LookupError(f"no page with flags {flags} in {bucket} at depth {depth}")

    def element(self, pgid: int, index: int) -> int:
        """The file offset of element `index` of page `pgid`."""
        return pgid * self.page_size + 16 + 16 * index


def page_map(path: Path) -> PageMap:
    """Walk a healthy file: every live branch/leaf page, its bucket, the keys beneath it."""
    data = path.read_bytes()
    metas = []
    for offset in (0, None):
        at = 0 if offset == 0 else struct.unpack_from("<I", data, 24)[0]
        metas.append(struct.unpack_from("<IIIIQQQQQQ", data, at + 16))
    page_size = metas[0][2]
    best = max(metas, key=lambda m: m[8])
    pages: dict[int, PageInfo] = {}
    roots: dict[tuple[bytes, ...], int] = {(): best[4]}

    def leaf_items(buf: bytes, start: int, count: int) -> list[tuple[int, bytes, bytes]]:
        items = []
        for i in range(count):
            at = start + 16 + 16 * i
            flags, pos, ksize, vsize = struct.unpack_from("<IIII", buf, at)
            key = buf[at + pos : at + pos + ksize]
            items.append((flags, key, buf[at + pos + ksize : at + pos + ksize + vsize]))
        return items

    def bucket_keys(
        bucket: tuple[bytes, ...], items: list[tuple[int, bytes, bytes]]
    ) -> set[tuple[bytes, ...]]:
        found: set[tuple[bytes, ...]] = set()
        for flags, key, value in items:
            found.add((*bucket, key))
            if flags & 1:
                found |= walk_bucket((*bucket, key), value)
        return found

    def walk_bucket(bucket: tuple[bytes, ...], value: bytes) -> set[tuple[bytes, ...]]:
        root = struct.unpack_from("<Q", value)[0]
        roots[bucket] = root
        if root == 0:
            _, _, count, _ = struct.unpack_from("<QHHI", value, 16)
            return bucket_keys(bucket, leaf_items(value, 16, count))
        return walk_page(bucket, root, 0)

    def walk_page(bucket: tuple[bytes, ...], pgid: int, depth: int) -> set[tuple[bytes, ...]]:
        start = pgid * page_size
        _, flags, count, overflow = struct.unpack_from("<QHHI", data, start)
        info = PageInfo(pgid, flags, count, overflow, depth, bucket)
        pages[pgid] = info
        if flags == 0x02:
            info.keys = bucket_keys(bucket, leaf_items(data, start, count))
        else:
            for i in range(count):
                child = struct.unpack_from("<IIQ", data, start + 16 + 16 * i)[2]
                info.keys |= walk_page(bucket, child, depth + 1)
        return info.keys

    walk_page((), best[4], 0)
    return PageMap(path, page_size, best[7], (metas[0][8], metas[1][8]), pages, roots)


def copy_db(name: str, dest: Path) -> Path:
    """A private copy of fixture `name` in `dest`, writable, to damage."""
    target = dest / name
    shutil.copyfile(FIXTURES / name, target)
    return target


def write_at(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def xor_at(path: Path, offset: int, mask: int = 0xFF) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ mask]))


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return h


def commit_meta(path: Path, page_size: int) -> int:
    """Write a newer meta page as a bbolt commit would: the older slot, txid + 1, checksummed.

    The tree is left as it was, so only the txid tells the readers apart. Returns the txid.
    """
    data = path.read_bytes()
    metas = [struct.unpack_from("<IIIIQQQQQQ", data, at + 16) for at in (0, page_size)]
    newest = max(metas, key=lambda m: m[8])
    txid = int(newest[8]) + 1
    fields = (*newest[:8], txid)
    body = struct.pack("<IIIIQQQQQ", *fields)
    slot = txid % 2
    header = struct.pack("<QHHI", slot, 0x04, 0, 0)
    write_at(path, slot * page_size, header + body + struct.pack("<Q", fnv1a64(body)))
    return txid
