"""overlayscope's bbolt reader against real bbolt files (fixtures/bbolt, written by the real
bbolt library), damaged copies of them, fuzzing, a held flock, strace, and a live containerd
(the session's private one: its meta.db and snapshotter metadata.db, read while it runs).

expected.json is what bbolt itself read back from each file (see fixtures/bbolt/README.md);
the reader must give exactly that, and on damage a problem naming the page, never a
traceback or a hang.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hostile.conftest  # noqa: F401  (registers the hostile-ci / hostile-long profiles)
from overlayscope.root.bbolt import (
    NO_FREELIST,
    BoltDB,
    BoltError,
    BoltProblem,
    Bucket,
    go_time,
    read_settled,
    uvarint,
    varint,
)
from tests.conftest import skip_or_fail
from tests.containerd.engine import PrivateContainerd
from tests.containerd.scenario import ContainerdScenario
from tests.hostile.fuzzing import fuzz_settings
from tests.root.bolt_damage import (
    DB_NAMES,
    FIXTURES,
    Flat,
    PageMap,
    commit_meta,
    copy_db,
    expected,
    expected_flat,
    expected_tree,
    flatten,
    fnv1a64,
    page_map,
    read_tree,
    walk_all,
    write_at,
    xor_at,
)

BRANCH, LEAF = 0x01, 0x02


def _open(path: Path) -> BoltDB:
    return BoltDB.open(str(path))


def _read(path: Path) -> tuple[Flat, list[BoltProblem]]:
    """A full walk, then a lookup of every expected key path; (what was read, problems)."""
    with _open(path) as db:
        flat = walk_all(db)
        for key_path in expected_flat(path.name):
            parent = db.bucket(*key_path[:-1])
            if parent is not None:
                parent.get(key_path[-1])
                parent.bucket(key_path[-1])
        _assert_well_formed(db.problems)
        return flat, list(db.problems)


def _assert_well_formed(problems: list[BoltProblem]) -> None:
    for problem in problems:
        assert isinstance(problem, BoltProblem)
        assert problem.page is None or isinstance(problem.page, int)
        assert problem.detail and "\n" not in problem.detail


def _without(flat: Flat, lost: set[tuple[bytes, ...]]) -> Flat:
    return {k: v for k, v in flat.items() if k not in lost}


# The fixtures, read whole.


@pytest.mark.parametrize("name", DB_NAMES)
def test_every_fixture_reads_exactly_as_bbolt_read_it(name: str) -> None:
    want = expected()["dbs"][name]
    with _open(FIXTURES / name) as db:
        assert (db.page_size, db.txid) == (want["page_size"], want["txid"])
        tree = read_tree(db.root())
        assert tree == expected_tree(want["root"])
        assert db.problems == []
        assert not db.changed()
    # Values are bytes copies: still there, unchanged, after the map is gone.
    flat = flatten(tree)
    assert all(v is None or type(v) is bytes for v in flat.values())
    assert flat == expected_flat(name)


@pytest.mark.parametrize("name", DB_NAMES)
def test_lookups_agree_with_iteration(name: str) -> None:
    flat = expected_flat(name)
    buckets = [()] + [path for path, value in flat.items() if value is None]
    with _open(FIXTURES / name) as db:
        for path, value in flat.items():
            parent = db.bucket(*path[:-1])
            assert parent is not None, path
            if value is None:
                assert parent.get(path[-1]) is None
                assert isinstance(parent.bucket(path[-1]), Bucket)
            else:
                assert parent.get(path[-1]) == value
                assert parent.bucket(path[-1]) is None
        for path in buckets:
            bucket = db.bucket(*path)
            assert bucket is not None
            keys = [p[-1] for p in flat if p[:-1] == path]
            assert list(bucket.keys()) == keys
            present = set(keys)
            probes = {b"\x00", b"\xff" * 9, b"zzz"} | {k + b"\x00" for k in keys}
            probes |= {k[:-1] for k in keys if len(k) > 1}
            for probe in probes - present:
                assert bucket.get(probe) is None and bucket.bucket(probe) is None
        assert db.bucket(b"no-such-bucket") is None
        assert db.bucket(b"no-such-bucket", b"deeper") is None
        assert db.problems == []


def test_fixtures_have_the_shapes_the_tests_need() -> None:
    many = page_map(FIXTURES / "many.db")
    assert many.page_size == 1024
    keys_pages = [p for p in many.pages.values() if p.bucket == (b"keys",)]
    assert max(p.depth for p in keys_pages) >= 2  # a root branch over branches over leaves
    assert [p for p in keys_pages if p.flags == BRANCH and p.depth == 1]
    assert many.bucket_roots[(b"keys", b"sub")] != 0  # a tree bucket inside a deep one
    nested = page_map(FIXTURES / "nested.db")
    assert nested.find(LEAF, (b"big",), overflow=True).overflow >= 2
    inline = [b for b, root in nested.bucket_roots.items() if root == 0]
    assert (b"beta", b"gamma", b"delta", b"epsilon") in inline
    for name in ("nested.db", "many.db"):
        assert any(p["type"] == "free" for p in expected()["dbs"][name]["pages"])
    assert page_map(FIXTURES / "page16k.db").page_size == 16384
    backup = page_map(FIXTURES / "backup.db")  # bbolt's WriteTo: meta 1 says txid - 1
    assert backup.meta_txids == (expected()["dbs"]["backup.db"]["txid"], backup.meta_txids[0] - 1)
    assert (FIXTURES / "backup.db").stat().st_size == backup.hwm * backup.page_size
    raw = (FIXTURES / "nofreelist.db").read_bytes()
    assert struct.unpack_from("<Q", raw, 16 + 32)[0] == NO_FREELIST


def test_buckets_stop_working_after_close_but_values_do_not() -> None:
    with _open(FIXTURES / "nested.db") as db:
        big = db.bucket(b"big")
        assert big is not None
        value = big.get(b"overflow-10k")
        items = list(big.items())
    assert value is not None and len(value) == 10000
    assert [k for k, _ in items] == [b"almost-a-page", b"overflow-10k", b"small"]
    with pytest.raises(ValueError, match="closed"):
        big.get(b"small")
    with pytest.raises(ValueError, match="closed"):
        db.changed()


# Go's encodings, checked against Go's own encoders (the generator's cases).


def test_uvarint_and_varint_match_go() -> None:
    cases = expected()["codecs"]
    with _open(FIXTURES / "nested.db") as db:
        for kind, decode in (("uvarint", uvarint), ("varint", varint)):
            stored = db.bucket(b"gotypes", kind.encode())
            assert stored is not None
            for case in cases[kind]:
                raw = bytes.fromhex(case["hex"])
                assert stored.get(case["value"].encode()) == raw
                assert decode(raw) == (int(case["value"]), len(raw))
                assert decode(b"\xaa" + raw + b"\xbb", 1) == (int(case["value"]), len(raw) + 1)
    for bad in (b"", b"\x80", b"\xff\xff", b"\xff" * 9 + b"\x02", b"\xff" * 10 + b"\x01"):
        with pytest.raises(ValueError):
            uvarint(bad)
        with pytest.raises(ValueError):
            varint(bad)
    with pytest.raises(ValueError):
        uvarint(b"\x01", 1)  # nothing at pos
    assert uvarint(b"\x80\x00") == (0, 2)  # non-minimal, as Go accepts


def test_go_time_matches_go() -> None:
    with _open(FIXTURES / "nested.db") as db:
        stored = db.bucket(b"gotypes", b"time")
        assert stored is not None
        for case in expected()["codecs"]["time"]:
            raw = bytes.fromhex(case["hex"])
            assert stored.get(case["name"].encode()) == raw
            got = go_time(raw)
            if case["zero"] or not 1 <= case["year"] <= 9999:
                assert got is None, case
                continue
            assert got is not None, case
            want = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                seconds=case["unix_sec"], microseconds=case["nsec"] // 1000
            )
            assert got == want, case
            assert got.utcoffset() == timedelta(seconds=case["offset_sec"]), case
            assert (got.tzinfo is UTC) == case["utc"], case
    assert {c["hex"][:2] for c in expected()["codecs"]["time"]} == {"01", "02"}  # both versions
    good = bytes.fromhex(expected()["codecs"]["time"][0]["hex"])
    nsec_too_big = good[:9] + b"\x7f" * 4 + good[13:]
    for bad in (b"", b"\x03" + good[1:], good[:-1], good + b"\x00", nsec_too_big):
        assert go_time(bad) is None


# Meta pages.


def _set_meta(path: Path, page: int, ps: int, **fields: int) -> None:
    """Rewrite fields of a meta page and checksum it again, so only the fields are wrong."""
    names = (
        "magic",
        "version",
        "page_size",
        "flags",
        "root",
        "sequence",
        "freelist",
        "pgid",
        "txid",
    )
    at = page * ps + 16
    raw = bytearray(path.read_bytes()[at : at + 72])
    values = dict(zip(names, struct.unpack_from("<IIIIQQQQQ", raw), strict=True))
    values.update(fields)
    body = struct.pack("<IIIIQQQQQ", *(values[n] for n in names))
    write_at(path, at, body + struct.pack("<Q", fnv1a64(body)))


META_DAMAGE: dict[str, Any] = {
    "magic": lambda p, page, ps: xor_at(p, page * ps + 16),
    "version": lambda p, page, ps: _set_meta(p, page, ps, version=1),
    "checksum": lambda p, page, ps: xor_at(p, page * ps + 16 + 56),
    "checked byte": lambda p, page, ps: xor_at(p, page * ps + 16 + 40, 0x01),
    "page size": lambda p, page, ps: _set_meta(p, page, ps, page_size=3000),
    "root past hwm": lambda p, page, ps: _set_meta(p, page, ps, root=10**6),
    "freelist past hwm": lambda p, page, ps: _set_meta(p, page, ps, freelist=10**6),
}


@pytest.mark.parametrize("how", sorted(META_DAMAGE))
def test_older_meta_damaged_newest_used_with_a_problem(how: str, tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    pages = page_map(path)
    older = 0 if pages.meta_txids[0] < pages.meta_txids[1] else 1
    META_DAMAGE[how](path, older, pages.page_size)
    flat, problems = _read(path)
    assert flat == expected_flat("nested.db")
    assert [p.page for p in problems] == [older]
    assert "invalid meta page" in problems[0].detail


@pytest.mark.parametrize("how", sorted(META_DAMAGE))
def test_newest_meta_damaged_falls_back_to_the_transaction_before(how: str, tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    pages = page_map(path)
    newest = 0 if pages.meta_txids[0] > pages.meta_txids[1] else 1
    META_DAMAGE[how](path, newest, pages.page_size)
    with _open(path) as db:
        assert db.txid == expected()["dbs"]["nested.db"]["txid"] - 1
        flat = walk_all(db)
        assert [p.page for p in db.problems] == [newest]
    # The generator's last transaction rewrote alpha/c; the one before still says "three".
    want = expected_flat("nested.db") | {(b"alpha", b"c"): b"three"}
    assert flat == want


@pytest.mark.parametrize("name", ["many.db", "page16k.db"])
def test_meta_zero_damaged_page_size_found_from_meta_one(name: str, tmp_path: Path) -> None:
    """bbolt finds page 1 by trying each page size when page 0 cannot say; so do we."""
    path = copy_db(name, tmp_path)
    pages = page_map(path)
    xor_at(path, 16)  # page 0's magic
    with _open(path) as db:
        assert db.page_size == pages.page_size
        assert db.txid == pages.meta_txids[1]
        flat = walk_all(db)
        assert [p.page for p in db.problems] == [0]
    if name == "many.db":  # meta 1 is the transaction before the deletes: all 2000 keys
        keys = {p[1] for p in flat if p[0] == b"keys" and len(p) == 2}
        assert keys == {b"k%06d" % i for i in range(2000)}
        assert {k: v for k, v in flat.items() if k in expected_flat(name)}.items() <= (
            expected_flat(name).items()
        )


@pytest.mark.parametrize("name", ["nested.db", "many.db", "empty.db"])
def test_both_metas_damaged_is_an_error(name: str, tmp_path: Path) -> None:
    path = copy_db(name, tmp_path)
    ps = page_map(path).page_size
    xor_at(path, 16 + 56)
    xor_at(path, ps + 16 + 56)
    with pytest.raises(BoltError, match="no valid bbolt meta page") as err:
        _open(path)
    assert "\n" not in str(err.value)
    assert "bad checksum" in str(err.value)


def test_a_file_that_is_not_bbolt_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(8192))
    with pytest.raises(BoltError, match="not a bbolt database"):
        _open(path)


# Truncation.


@pytest.mark.parametrize("name", ["nested.db", "many.db", "page16k.db"])
def test_truncated_copies_give_problems_or_an_error(name: str, tmp_path: Path) -> None:
    pages = page_map(FIXTURES / name)
    ps, hwm = pages.page_size, pages.hwm
    size = (FIXTURES / name).stat().st_size
    cuts = [
        1,
        79,
        80,
        1000,
        ps - 1,
        ps + 50,
        ps + 100,
        2 * ps,
        3 * ps + 7,
        hwm * ps // 2,
        hwm * ps - 1,
        hwm * ps,
        size - 1,
    ]
    want = expected_flat(name)
    for cut in cuts:
        path = copy_db(name, tmp_path)
        os.truncate(path, cut)
        try:
            flat, problems = _read(path)
        except BoltError as exc:
            assert "\n" not in str(exc)
            continue
        assert flat.items() <= want.items(), cut
        if cut >= hwm * ps:
            assert (flat, problems) == (want, []), cut
        else:
            assert any("truncated" in p.detail for p in problems), cut


def test_empty_and_tiny_files_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(BoltError, match="empty"):
        _open(empty)
    tiny = tmp_path / "tiny.db"
    tiny.write_bytes((FIXTURES / "nested.db").read_bytes()[:40])
    with pytest.raises(BoltError, match="too small"):
        _open(tiny)


# Damaged pages: a problem naming the page, everything else read.


def _damage_case(tmp_path: Path, name: str) -> tuple[Path, PageMap]:
    path = copy_db(name, tmp_path)
    return path, page_map(path)


def _assert_only_lost(path: Path, lost: set[tuple[bytes, ...]], page: int) -> list[BoltProblem]:
    flat, problems = _read(path)
    assert flat == _without(expected_flat(path.name), lost)
    assert page in {p.page for p in problems}, problems
    return problems


def test_leaf_element_pointing_outside_its_page(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "many.db")
    leaf = pages.find(LEAF, (b"keys",), depth=2)
    write_at(path, pages.element(leaf.pgid, 3) + 4, struct.pack("<I", 0x7FFF_0000))  # pos
    key = sorted(leaf.keys)[3]
    problems = _assert_only_lost(path, {key}, leaf.pgid)
    assert "element 3" in problems[0].detail


def test_leaf_element_overlapping_the_one_before(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    leaf = pages.find(LEAF, (b"wide",))
    write_at(path, pages.element(leaf.pgid, 5) + 4, struct.pack("<I", 0))  # pos: into headers
    _assert_only_lost(path, {sorted(leaf.keys)[5]}, leaf.pgid)


def test_leaf_count_larger_than_the_page(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    leaf = pages.find(LEAF, (b"wide",))
    write_at(path, leaf.pgid * pages.page_size + 10, struct.pack("<H", 0xFFFF))
    problems = _assert_only_lost(path, leaf.keys, leaf.pgid)
    assert "elements" in problems[0].detail


@pytest.mark.parametrize(
    ("flags", "says"),
    [(0x08, "unknown type"), (0x10, "freelist"), (0x04, "meta"), (0x03, "unknown type")],
)
def test_unknown_or_wrong_page_flags(flags: int, says: str, tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "many.db")
    leaf = pages.find(LEAF, (b"keys",), depth=2)
    write_at(path, leaf.pgid * pages.page_size + 8, struct.pack("<H", flags))
    problems = _assert_only_lost(path, leaf.keys, leaf.pgid)
    assert says in problems[0].detail


def test_page_id_mismatch(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "many.db")
    branch = pages.find(BRANCH, (b"keys",), depth=1)
    write_at(path, branch.pgid * pages.page_size, struct.pack("<Q", branch.pgid + 1))
    problems = _assert_only_lost(path, branch.keys, branch.pgid)
    assert f"calls itself page {branch.pgid + 1}" in problems[0].detail


def _child(path: Path, pages: PageMap, pgid: int, index: int) -> int:
    raw = path.read_bytes()
    return int(struct.unpack_from("<Q", raw, pages.element(pgid, index) + 8)[0])


@pytest.mark.parametrize(
    "target",
    ["past hwm", "past the file", "itself", "its root", "meta page", "another bucket", "freelist"],
)
def test_branch_pointing_where_it_must_not(target: str, tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "many.db")
    branch = pages.find(BRANCH, (b"keys",), depth=1)
    child = pages.pages[_child(path, pages, branch.pgid, 1)]
    root = pages.bucket_roots[(b"keys",)]
    freelist = struct.unpack_from("<Q", path.read_bytes(), 16 + 32)[0]
    to = {
        "past hwm": pages.hwm + 3,
        "past the file": 2**60,
        "itself": branch.pgid,
        "its root": root,
        "meta page": 1,
        "another bucket": pages.bucket_roots[(b"blob",)],
        "freelist": freelist,
    }[target]
    write_at(path, pages.element(branch.pgid, 1) + 8, struct.pack("<Q", to))
    flat, problems = _read(path)
    assert flat == _without(expected_flat("many.db"), child.keys)
    assert problems, target
    assert {p.page for p in problems} <= {to, child.pgid, branch.pgid}, problems


def test_branch_pointing_at_a_sibling_twice(tmp_path: Path) -> None:
    """Two elements naming one child: the child is read once, the lost one's keys are gone."""
    path, pages = _damage_case(tmp_path, "many.db")
    branch = pages.find(BRANCH, (b"keys",), depth=1)
    first, second = (_child(path, pages, branch.pgid, i) for i in (0, 1))
    write_at(path, pages.element(branch.pgid, 1) + 8, struct.pack("<Q", first))
    flat, problems = _read(path)
    assert flat == _without(expected_flat("many.db"), pages.pages[second].keys)
    assert any("referenced twice" in p.detail for p in problems)


def test_empty_branch_page(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    branch = pages.find(BRANCH, (b"wide",))
    write_at(path, branch.pgid * pages.page_size + 10, struct.pack("<H", 0))
    _assert_only_lost(path, branch.keys, branch.pgid)


def test_overflow_count_past_the_end(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    leaf = pages.find(LEAF, (b"big",), overflow=True)
    write_at(path, leaf.pgid * pages.page_size + 12, struct.pack("<I", 10**6))
    problems = _assert_only_lost(path, leaf.keys, leaf.pgid)
    assert "overflow" in problems[0].detail


def test_overflow_count_too_small(tmp_path: Path) -> None:
    """Values that ran into the overflow pages now point outside the page: those are lost."""
    path, pages = _damage_case(tmp_path, "nested.db")
    leaf = pages.find(LEAF, (b"big",), overflow=True)
    write_at(path, leaf.pgid * pages.page_size + 12, struct.pack("<I", 0))
    flat, problems = _read(path)
    kept = _without(expected_flat("nested.db"), leaf.keys)
    assert kept.items() <= flat.items() <= expected_flat("nested.db").items()
    assert (b"big", b"overflow-10k") not in flat
    assert leaf.pgid in {p.page for p in problems}


def test_flipped_bytes_inside_an_overflow_value(tmp_path: Path) -> None:
    """bbolt keeps no checksum of data: the value reads differently, everything else the same."""
    path, pages = _damage_case(tmp_path, "nested.db")
    leaf = pages.find(LEAF, (b"big",), overflow=True)
    for offset in (1, 2):
        xor_at(path, (leaf.pgid + offset) * pages.page_size + 100)
    flat, problems = _read(path)
    want = expected_flat("nested.db")
    changed = {k for k in want if flat.get(k) != want[k]}
    assert problems == [] and flat.keys() == want.keys()
    assert changed == {(b"big", b"overflow-10k")}


def _bucket_entry(path: Path, pages: PageMap, parent: tuple[bytes, ...], key: bytes) -> int:
    """The file offset of the value of bucket entry `key` in `parent` (a tree bucket)."""
    raw = path.read_bytes()
    for info in pages.pages.values():
        if info.bucket != parent or info.flags != LEAF:
            continue
        for i in range(info.count):
            at = pages.element(info.pgid, i)
            _, pos, ksize, _ = struct.unpack_from("<IIII", raw, at)
            if raw[at + pos : at + pos + ksize] == key:
                return int(at + pos + ksize)
    raise LookupError(key)


def _keys_under(flat: Flat, prefix: tuple[bytes, ...]) -> set[tuple[bytes, ...]]:
    return {k for k in flat if k[: len(prefix)] == prefix and len(k) > len(prefix)}


@pytest.mark.parametrize(
    "target", ["meta page", "past hwm", "its parent's root", "big's root", "itself"]
)
def test_bucket_entry_pointing_where_it_must_not(target: str, tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    at = _bucket_entry(path, pages, (), b"wide")
    wide = pages.bucket_roots[(b"wide",)]
    to = {
        "meta page": 1,
        "past hwm": pages.hwm,
        "its parent's root": pages.bucket_roots[()],
        "big's root": pages.bucket_roots[(b"big",)],
        "itself": wide,
    }[target]
    write_at(path, at, struct.pack("<Q", to))
    flat, problems = _read(path)
    want = expected_flat("nested.db")
    lost = _keys_under(want, (b"wide",))
    if target == "itself":
        assert flat == want and problems == []  # unchanged: it already pointed there
        return
    if target in ("its parent's root", "big's root"):
        lost.add((b"wide",))  # the entry itself is refused
    assert _without(flat, {(b"wide",)}) == _without(want, lost | {(b"wide",)})
    assert problems


def test_bucket_cycle_through_a_nested_bucket(tmp_path: Path) -> None:
    """beta/gamma's entry for delta made to name beta's root: a loop of buckets, refused."""
    path, pages = _damage_case(tmp_path, "nested.db")
    at = _bucket_entry(path, pages, (b"beta", b"gamma"), b"delta")
    write_at(path, at, struct.pack("<Q", pages.bucket_roots[(b"beta",)]))
    flat, problems = _read(path)
    want = expected_flat("nested.db")
    lost = _keys_under(want, (b"beta", b"gamma")) - {(b"beta", b"gamma", b"at-gamma")}
    assert flat == _without(want, lost)
    assert any("root of two buckets" in p.detail for p in problems)


def test_inline_bucket_with_a_bad_page(tmp_path: Path) -> None:
    path, pages = _damage_case(tmp_path, "nested.db")
    at = _bucket_entry(path, pages, (), b"binary")  # an inline bucket in the root's leaf
    write_at(path, at + 16 + 8, struct.pack("<H", BRANCH))
    flat, problems = _read(path)
    want = expected_flat("nested.db")
    assert flat == _without(want, _keys_under(want, (b"binary",)) | {(b"binary",)})
    assert any("not a leaf" in p.detail for p in problems)


# Not a file to map: refused at once, nothing followed or blocked on.


@pytest.mark.timeout(20)
def test_fifo_symlink_directory_device_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    with pytest.raises(BoltError, match="special file"):
        _open(fifo)  # a blocking open of a FIFO would hang here, with no writer
    link = tmp_path / "link.db"
    link.symlink_to(FIXTURES / "nested.db")
    with pytest.raises(BoltError, match="symlink; not followed"):
        _open(link)
    with pytest.raises(BoltError, match="directory"):
        _open(tmp_path)
    with pytest.raises(BoltError, match="cannot open") as err:
        _open(tmp_path / "missing.db")
    assert err.value.errno == 2
    if os.geteuid() == 0:
        dev = tmp_path / "null.db"
        os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        with pytest.raises(BoltError, match="special file"):
            _open(dev)


def test_falls_back_without_o_noatime_and_without_mmap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the file's owner (EPERM on O_NOATIME), and a filesystem that cannot map it."""
    real_open = os.open
    calls: list[int] = []

    def no_noatime(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
        calls.append(flags)
        if flags & os.O_NOATIME:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_open(path, flags, *args, **kwargs)

    class NoMmap(mmap.mmap):
        def __new__(cls, *args: Any, **kwargs: Any) -> NoMmap:
            raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(os, "open", no_noatime)
    monkeypatch.setattr(mmap, "mmap", NoMmap)
    with _open(FIXTURES / "many.db") as db:
        assert walk_all(db) == expected_flat("many.db") and db.problems == []
        assert not db.changed()
    assert [bool(f & os.O_NOATIME) for f in calls] == [True, False]


# Fuzzing: random flips and cuts over the real files.

_ORIGINALS = {name: (FIXTURES / name).read_bytes() for name in DB_NAMES}
_PAGE_SIZES = {name: expected()["dbs"][name]["page_size"] for name in DB_NAMES}


@given(
    name=st.sampled_from(["nested.db", "many.db", "page16k.db", "nofreelist.db", "empty.db"]),
    edits=st.lists(
        st.tuples(st.booleans(), st.integers(0, 2**31), st.integers(0, 127), st.integers(1, 255)),
        min_size=1, max_size=12,
    ),
    cut=st.none() | st.integers(0, 2**19),
)  # fmt: skip
@fuzz_settings(scale=3)
def test_fuzz_flips_and_cuts_never_crash_or_hang(
    name: str, edits: list[tuple[bool, int, int, int]], cut: int | None, tmp_path: Path
) -> None:
    data = bytearray(_ORIGINALS[name])
    ps = _PAGE_SIZES[name]
    for near_header, where, offset, mask in edits:
        # Most flips land in page headers and element headers, where they steer the reader.
        at = (where % (len(data) // ps)) * ps + offset if near_header else where % len(data)
        data[at] ^= mask
    if cut is not None:
        del data[cut:]
    path = tmp_path / name
    path.write_bytes(bytes(data))
    started = time.monotonic()
    try:
        with _open(path) as db:
            walk_all(db)
            for key_path in list(expected_flat(name))[:: max(1, len(expected_flat(name)) // 40)]:
                parent = db.bucket(*key_path[:-1])
                if parent is not None:
                    parent.get(key_path[-1])
            db.changed()
            _assert_well_formed(db.problems)
    except BoltError as exc:
        assert str(exc) and "\n" not in str(exc)
    assert time.monotonic() - started < 10


# No lock, no write: beside a live containerd's flock.


def test_reads_while_another_process_holds_an_exclusive_flock(tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    holder = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result: list[Flat] = []

        def read() -> None:
            with _open(path) as db:
                result.append(walk_all(db))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), "the reader blocked on the flock"
        assert result == [expected_flat("nested.db")]
    finally:
        os.close(holder)


_READER = """
import sys
from overlayscope.root.bbolt import BoltDB, read_settled
from tests.root.bolt_damage import walk_all
with BoltDB.open(sys.argv[1]) as db:
    n = len(walk_all(db))
    assert not db.changed()
settled = read_settled(sys.argv[1], lambda db: len(walk_all(db)))
assert settled.value == n and settled.problems == ()
print(n)
"""
_TRACED = (
    "open,openat,openat2,creat,flock,fcntl,write,pwrite64,writev,pwritev,pwritev2,"
    "ftruncate,truncate,fallocate,mmap,mprotect,rename,renameat,renameat2,unlink,unlinkat,"
    "mkdir,mkdirat,link,linkat,symlink,symlinkat,mknod,mknodat"
)


def test_strace_no_lock_no_write_no_create(tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        skip_or_fail("strace not installed (apt-get install strace; `make test` does)")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    path = copy_db("many.db", evidence)
    before = sorted(os.listdir(evidence)), path.stat()
    holder = os.open(path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as containerd holds it
    try:
        trace = tmp_path / "trace"
        proc = subprocess.run(
            ["strace", "-f", "-y", "-qq", "-s", "4096", "-e", f"trace={_TRACED}", "-o", str(trace),
             sys.executable, "-c", _READER, str(path)],
            capture_output=True, timeout=120, check=False, cwd=Path(__file__).parents[2],
        )  # fmt: skip
    finally:
        os.close(holder)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert int(proc.stdout) == len(expected_flat("many.db"))
    lines = [line for line in trace.read_text().splitlines() if str(evidence) in line]
    opens = [line for line in lines if re.search(r"\bopen(at2?)?\(", line)]
    assert opens, "strace saw no open of the database"
    for line in lines:
        call = re.sub(r"^\d+\s+", "", line).split("(", 1)[0]
        assert call in {"openat", "open", "openat2", "mmap", "fcntl"}, line
        if call.startswith("open"):
            flags = set(re.findall(r"O_[A-Z]+", line))
            assert not flags & {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}, line
            assert {"O_NOFOLLOW", "O_NONBLOCK", "O_NOATIME"} <= flags, line
        if call == "mmap":
            assert "PROT_READ" in line and "PROT_WRITE" not in line, line
        if call == "fcntl":
            assert not re.search(r"F_(OFD_)?(SETLKW?|GETLK)", line), line
    assert (sorted(os.listdir(evidence)), path.stat()) == before  # atime included


# A live database changing under the reader.


def test_changed_sees_a_commit_and_growth(tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    with _open(path) as db:
        assert not db.changed()
        txid = commit_meta(path, db.page_size)
        assert txid == db.txid + 1
        assert db.changed()
        assert walk_all(db) == expected_flat("nested.db")  # still the transaction it opened
    with _open(path) as db:
        assert db.txid == txid and not db.changed()
        with path.open("ab") as f:
            f.write(bytes(db.page_size))
        assert db.changed()


def test_read_settled_retries_until_the_file_holds_still(tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    ps = expected()["dbs"]["nested.db"]["page_size"]
    commits = [2]

    def read(db: BoltDB) -> int:
        if commits[0]:
            commits[0] -= 1
            commit_meta(path, ps)  # a writer commits while we read
        return len(walk_all(db))

    settled = read_settled(str(path), read, pause=0)
    assert settled.attempts == 3 and settled.problems == ()
    assert settled.value == len(expected_flat("nested.db"))
    assert settled.txid == expected()["dbs"]["nested.db"]["txid"] + 2


def test_read_settled_reports_a_database_that_never_holds_still(tmp_path: Path) -> None:
    path = copy_db("nested.db", tmp_path)
    ps = expected()["dbs"]["nested.db"]["page_size"]

    def read(db: BoltDB) -> int:
        commit_meta(path, ps)
        return db.txid

    settled = read_settled(str(path), read, attempts=3, pause=0)
    assert settled.attempts == 3 and settled.value == settled.txid
    assert len(settled.problems) == 1 and settled.problems[0].page is None
    assert "changed during each of 3 reads" in settled.problems[0].detail


# A live containerd: its two databases read while it runs, holds their flocks, and commits.

CHURN_NAMESPACE = "overlayscope-bbolt-churn"
_KINDS = {"View": 1, "Active": 2, "Committed": 3}  # containerd's snapshots.Kind


def _live_paths(cd: PrivateContainerd) -> tuple[Path, Path]:
    return (
        cd.root / "io.containerd.metadata.v1.bolt" / "meta.db",
        cd.root / "io.containerd.snapshotter.v1.overlayfs" / "metadata.db",
    )


def _keys(bucket: Bucket | None, *path: bytes) -> set[str]:
    for name in path:
        bucket = None if bucket is None else bucket.bucket(name)
    return set() if bucket is None else {k.decode() for k in bucket.keys()}  # noqa: SIM118


def _read_meta(db: BoltDB) -> dict[str, dict[str, Any]]:
    """meta.db per namespace: image names, blob digests, snapshot key -> backend key, leases."""
    v1 = db.bucket(b"v1")
    assert v1 is not None
    out: dict[str, dict[str, Any]] = {}
    for ns, bucket in v1.items():
        if not isinstance(bucket, Bucket):
            continue  # v1/version
        snapshots = bucket.bucket(b"snapshots")
        overlay = None if snapshots is None else snapshots.bucket(b"overlayfs")
        out[ns.decode()] = {
            "images": _keys(bucket, b"images"),
            "content": _keys(bucket, b"content", b"blob"),
            "leases": _keys(bucket, b"leases"),
            "snapshots": {
                key.decode(): (rec.get(b"name") or b"").decode()
                for key, rec in (overlay.items() if overlay is not None else ())
                if isinstance(rec, Bucket)
            },
        }
    return out


def _read_snapshotter(db: BoltDB) -> dict[str, tuple[int, int]]:
    """The snapshotter's metadata.db: backend key -> (id, kind)."""
    snapshots = db.bucket(b"v1", b"snapshots")
    assert snapshots is not None
    out = {}
    for key, rec in snapshots.items():
        assert isinstance(rec, Bucket)
        out[key.decode()] = (uvarint(rec.get(b"id") or b"")[0], (rec.get(b"kind") or b"\0")[0])
    return out


def _ctr_answers(cd: PrivateContainerd) -> dict[str, dict[str, Any]]:
    return {
        ns: {
            "images": set(cd.ctr("images", "ls", "-q", namespace=ns).split()),
            "content": set(cd.ctr("content", "ls", "-q", namespace=ns).split()),
            "snapshots": cd.snapshots_ls(ns),
        }
        for ns in cd.namespaces()
        if ns != CHURN_NAMESPACE
    }


def _flock_holders(path: Path) -> set[int]:
    """Pids holding a FLOCK write lock on `path`'s inode, from /proc/locks (read, not taken)."""
    ino = path.stat().st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" in fields and "WRITE" in fields and fields[-3].endswith(f":{ino}"):
            holders.add(int(fields[-4]))
    return holders


@pytest.mark.engine
def test_live_containerd_databases_match_ctr(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    cd = containerd
    meta_path, snap_path = _live_paths(cd)
    for path in (meta_path, snap_path):
        assert cd.pid in _flock_holders(path), f"containerd holds no flock on {path}"
    for _ in range(3):  # containerd answers the same before and after our read: no race
        before = _ctr_answers(cd)
        meta = read_settled(str(meta_path), _read_meta)
        snap = read_settled(str(snap_path), _read_snapshotter)
        if _ctr_answers(cd) == before:
            break
    assert meta.problems == () and snap.problems == ()
    assert set(meta.value) - {CHURN_NAMESPACE} == set(before) >= set(containerd_scenario.namespaces)
    backend_keys = set()
    for ns, answer in before.items():
        got = meta.value[ns]
        assert got["images"] == answer["images"], ns
        assert got["content"] == answer["content"], ns
        assert set(got["snapshots"]) == set(answer["snapshots"]), ns
        for key, backend in got["snapshots"].items():
            # The snapshotter's key is "<namespace>/<n>/<key>"; its id names the dir.
            assert re.fullmatch(rf"{re.escape(ns)}/\d+/{re.escape(key)}", backend), backend
            snap_id, kind = snap.value[backend]
            assert kind == _KINDS[answer["snapshots"][key][1]], key
            assert (cd.snapshots_dir / str(snap_id)).is_dir(), key
            backend_keys.add(backend)
    assert set(snap.value) == backend_keys
    assert cd.pid in _flock_holders(meta_path)  # still running, still locked


@pytest.mark.engine
def test_live_containerd_reads_settle_while_it_commits(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    """A thread makes containerd commit lease after lease (in a namespace of this test's own)
    while we read meta.db over and over: every settled read shows a state containerd really
    had, leases l0..lN with no gap, and reads that never settled say so."""
    cd = containerd
    meta_path, _ = _live_paths(cd)
    stop = threading.Event()
    created: list[int] = []

    def churn() -> None:
        while not stop.is_set() and len(created) < 400:
            cd.ctr("leases", "create", "--id", f"l{len(created)}", "-x", "0",
                   namespace=CHURN_NAMESPACE)  # fmt: skip
            created.append(len(created))

    writer = threading.Thread(target=churn, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        seen: list[int] = []
        while time.monotonic() < deadline and (len(seen) < 20 or not created):
            settled = read_settled(str(meta_path), _read_meta, attempts=6, pause=0.01)
            unsettled = [p for p in settled.problems if "changed during" in p.detail]
            assert [p for p in settled.problems if p not in unsettled] == []
            leases = settled.value.get(CHURN_NAMESPACE, {"leases": set()})["leases"]
            if not unsettled:
                assert leases == {f"l{i}" for i in range(len(leases))}
                seen.append(len(leases))
        assert len(seen) >= 5 and seen == sorted(seen)
    finally:
        stop.set()
        writer.join(timeout=60)
        ids = [f"l{i}" for i in created]
        for start in range(0, len(ids), 100):
            cd.ctr("leases", "delete", *ids[start : start + 100], namespace=CHURN_NAMESPACE)
        cd.ctr("namespaces", "remove", CHURN_NAMESPACE)
    with BoltDB.open(str(meta_path)) as db:
        v1 = db.bucket(b"v1")
        assert v1 is not None and v1.bucket(CHURN_NAMESPACE.encode()) is None
