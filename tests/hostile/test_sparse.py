"""Bounded work on hostile content: sparse files, huge files, special files (issue 15, item 3).

Real sparse files (`pwrite` of a few pieces, then `ftruncate` to 1 TB) are planted in the
"stopped" container's writable layer of a copy of the captured root and in the image layer
beneath it, plus a fifo, a socket and a character device in the writable layer over regular
files beneath. Most commands run in a subprocess, as a user runs it; a timeout is only a
safety net (reading or hashing 1 TB of holes would take many minutes), never an assertion:
the bytes read are counted instead.

What each test proves:
- `df --containers`, `container` and `audit` classify copy-ups of 1 TB sparse files by their
  content (same, changed, same content with another data/hole layout) without reading holes.
- `audit --hash` and `timeline --hash` give the real SHA-256 (and MD5) of a sparse file's
  whole logical content, and a `not-hashed` problem (never a silent gap) for a file with more
  holes than `--hash-max-holes`.
- `diff` compares 1 TB sparse files by extents and says why their digests are missing.
- `--json cat` streams a 2 GiB file as base64 under a 512 MiB address-space limit (the old
  `f.read()` needed the whole file and its base64 at once), and refuses past `--max-bytes`.
- `diff` and `cat` of a fifo, socket or device over a regular file say what it is.
- What is read is counted (a wrapper on `os.pread`/`os.read` by file, and the kernel's
  `rchar` for whole CLI runs): comparisons, hashes and `cat` read a sparse file's data only,
  and a file past the bound on holes is refused with nothing read.
- The extent functions themselves equal a plain read on random layouts (hypothesis).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import resource
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlayscope.audit.hashing import NOT_HASHED, hash_file, hash_files
from overlayscope.record import replace
from overlayscope.root.load import load_host
from overlayscope.union import changes, same_content, unified_diff
from overlayscope.union.extents import (
    TooSparse,
    hash_fd,
    hole_bytes,
    iter_content,
    same_fd_content,
    segments,
)
from overlayscope.union.host_stacks import build_stack, stack_layers
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot
from tests.hostile.cli import PYTHON, assert_answered, check_json, cli_env, run_inproc, run_sub
from tests.hostile.fuzzing import fuzz_settings
from tests.hostile.reads import ReadCounter, run_counted

pytestmark = pytest.mark.root

TB = 1 << 40
MiB = 1 << 20
GiB = 1 << 30
Pieces = dict[int, bytes]

# (pieces beneath, pieces in the container); both files are TB long and mode 0755, so the
# audit judges them as executables from beneath (a content comparison).
COPY_UPS: dict[str, tuple[Pieces, Pieces]] = {
    "/app/sparse-same": ({0: b"head", TB - 4: b"tail"}, {0: b"head", TB - 4: b"tail"}),
    "/app/sparse-changed": ({0: b"head", TB // 2: b"mid!"}, {0: b"head", TB // 2: b"MID!"}),
    # the same bytes, laid out differently: zeros written as data on one side, a hole on
    # the other (and the other way round further on)
    "/app/sparse-layout": (
        {0: b"head", 4 * MiB: bytes(MiB)},
        {0: b"head", 8 * MiB: bytes(MiB)},
    ),
}
# 64 MiB, beneath and in the container: the same bytes, laid out differently; hashed in full
MID = "/app/sparse-mid"
MID_PIECES = ({0: b"m" * 5000, 40 * MiB: bytes(2 * MiB)}, {0: b"m" * 5000, 3 * MiB: bytes(MiB)})
MID_SIZE = 64 * MiB
# added in the container
SMALL = "/app/sparse-64m"  # 64 MiB, a few data pieces: hashed
SMALL_PIECES: Pieces = {
    0: os.urandom(100_000),
    10 * MiB + 3: b"abc" * 1000,
    MID_SIZE - 5: b"last!",
}
HUGE = "/app/sparse-tb"  # 1 TB, one byte of data: not hashed by default
TWO_G = "/app/sparse-2g"  # 2 GiB, for --json cat
TWO_G_SIZE = 2 * GiB
TWO_G_PIECES: Pieces = {
    0: b"start",
    GiB + 1: os.urandom(300_001),  # odd offsets and lengths: base64 is cut at 3 bytes
    TWO_G_SIZE - 7: b"the end",
}
# regular files beneath, replaced in the container by: path -> (what, type word, kind name)
SPECIAL = {
    "/app/data/big.txt": ("a fifo", "fifo"),
    "/app/perm.txt": ("a socket", "socket"),
    "/app/lib/a.txt": ("a character device", "char-device"),
}

NEW_FIFO = "/app/new-fifo"  # added in the container: no side has content


@dataclass(frozen=True)
class SparseRoot:
    root: Path
    rw: Path  # the stopped container's diff dir
    beneath: Path  # the image's top layer diff dir

    def args(self, *args: str) -> tuple[str, ...]:
        return ("--offline", "--no-cache", "--root", str(self.root), *args)


def _make(path: Path, size: int, pieces: Pieces, mode: int = 0o644, *, later: bool = False) -> None:
    """A sparse file of `size` bytes holding `pieces`; `later`: an hour newer than now, like
    a file written in the container after its image was built (the engine's diff then
    lists it as changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        for offset, data in pieces.items():
            os.pwrite(fd, data, offset)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    os.chmod(path, mode)
    if later:
        now = os.stat(path).st_mtime_ns + 3600 * 10**9
        os.utime(path, ns=(now, now))


def _logical(size: int, pieces: Pieces, offset: int, n: int) -> bytes:
    """Bytes `[offset, offset + n)` of a file made by `_make`, without making it whole."""
    out = bytearray(min(n, size - offset))
    for start, data in pieces.items():
        lo, hi = max(start, offset), min(start + len(data), offset + len(out))
        if lo < hi:
            out[lo - offset : hi - offset] = data[lo - start : hi - start]
    return bytes(out)


def _digest(name: str, size: int, pieces: Pieces) -> str:
    h = hashlib.new(name)
    for offset in range(0, size, 4 * MiB):
        h.update(_logical(size, pieces, offset, 4 * MiB))
    return h.hexdigest()


def _supports_sparse(where: Path) -> None:
    probe = where / "probe"
    try:
        _make(probe, TB, {MiB: b"x"})
    except OSError as exc:
        skip_or_fail(f"{where}: cannot make a 1 TB sparse file: {exc}")
    fd = os.open(probe, os.O_RDONLY)
    try:
        data = os.lseek(fd, 0, os.SEEK_DATA)
        blocks = os.fstat(fd).st_blocks
    finally:
        os.close(fd)
        probe.unlink()
    if data != MiB or blocks * 512 >= TB:
        skip_or_fail(f"{where}: the filesystem does not report holes (SEEK_DATA)")


def _socket_at(path: Path) -> None:
    # AF_UNIX paths are limited to 108 bytes: bind a relative name from inside the dir
    code = "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()"
    subprocess.run([PYTHON, "-c", code, path.name], cwd=path.parent, check=True, timeout=30)


@pytest.fixture(scope="module")
def sparse(captured_root: CapturedRoot) -> Iterator[SparseRoot]:
    parent = Path(tempfile.mkdtemp(prefix="overlayscope-sparse-", dir="/var/tmp"))
    try:
        _supports_sparse(parent)
        root = parent / "root"
        subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
        host = load_host(str(root))
        stopped = next(c for c in host.containers.values() if c.name == "stopped")
        layers = stack_layers(host, stopped)
        rw = Path(host.layers[layers[0][0]].content_dir)
        images = [Path(host.layers[lid].content_dir) for lid, role in layers if role == "image"]
        beneath = images[0]  # the image's top layer
        for path, (below, above) in COPY_UPS.items():
            _make(beneath / path[1:], TB, below, 0o755)
            _make(rw / path[1:], TB, above, 0o755, later=True)
        _make(beneath / MID[1:], MID_SIZE, MID_PIECES[0])
        _make(rw / MID[1:], MID_SIZE, MID_PIECES[1], later=True)
        _make(rw / SMALL[1:], MID_SIZE, SMALL_PIECES)
        _make(rw / HUGE[1:], TB, {12345: b"x"})
        _make(rw / TWO_G[1:], TWO_G_SIZE, TWO_G_PIECES)
        for path, (_, kind) in SPECIAL.items():
            target = rw / path[1:]
            assert any((d / path[1:]).is_file() for d in images), path  # a file beneath
            target.unlink(missing_ok=True)
            if kind == "fifo":
                os.mkfifo(target)
            elif kind == "socket":
                _socket_at(target)
            else:
                os.mknod(target, 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        os.mkfifo(rw / NEW_FIFO[1:])  # nothing beneath it
        yield SparseRoot(root, rw, beneath)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(parent)], check=True)


def _json(sparse: SparseRoot, *args: str, timeout: float = 300) -> object:
    run = run_sub("--json", *sparse.args(*args), timeout=timeout)
    assert_answered(run, {0})
    doc = json.loads(run.out)
    check_json(args[0], doc)
    return doc


# -- comparisons ---------------------------------------------------------------------------


def test_df_containers_classifies_sparse_copy_ups(sparse: SparseRoot) -> None:
    doc = _json(sparse, "df", "--top", "50", "--containers")
    assert isinstance(doc, dict)
    stopped = next(c for c in doc["containers"] if c["name"] == "stopped")
    ups = {u["path"]: u["content"] for u in stopped["copy_ups"]["largest_copy_ups"]}
    assert ups["/app/sparse-same"] == "same"
    assert ups["/app/sparse-layout"] == "same"
    assert ups["/app/sparse-changed"] == "changed"
    assert ups[MID] == "same"
    assert stopped["copy_ups"]["metadata_only_bytes"] >= 2 * TB + MID_SIZE


def test_container_changes_compare_sparse_content(sparse: SparseRoot) -> None:
    doc = _json(sparse, "container", "stopped")
    assert isinstance(doc, dict)
    content = {c["path"]: c["content"] for c in doc["changes"]}
    assert content["/app/sparse-same"] == "same"
    assert content["/app/sparse-layout"] == "same"
    assert content["/app/sparse-changed"] == "changed"
    assert content[MID] == "same"


def test_audit_compares_sparse_executables(sparse: SparseRoot) -> None:
    doc = _json(sparse, "audit")
    assert isinstance(doc, dict)
    modified = {f["path"] for f in doc["findings"] if f["kind"] == "executable-modified"}
    assert "/app/sparse-changed" in modified
    assert not {"/app/sparse-same", "/app/sparse-layout"} & modified
    assert not [p for p in doc["problems"] if "sparse" in p["path"]], doc["problems"]


# -- hashes --------------------------------------------------------------------------------


def test_audit_hash_is_the_logical_sha256_and_says_what_it_left_out(sparse: SparseRoot) -> None:
    doc = _json(sparse, "audit", "--hash")
    assert isinstance(doc, dict)
    hashes = {h["path"]: h for h in doc["hashes"] if h["container"] and "sparse" in h["path"]}
    assert hashes[SMALL]["sha256"] == _digest("sha256", MID_SIZE, SMALL_PIECES)
    assert hashes[SMALL]["size"] == MID_SIZE
    assert hashes[MID]["sha256"] == _digest("sha256", MID_SIZE, MID_PIECES[1])
    unhashed = {
        p["path"].removeprefix(str(sparse.rw)): p
        for p in doc["problems"]
        if p["kind"] == "not-hashed"
    }
    terabyte = {HUGE, *COPY_UPS}
    assert set(unhashed) == terabyte, doc["problems"]
    assert not terabyte & set(hashes)
    assert all("holes" in p["detail"] for p in unhashed.values())
    # a finding about a file left unhashed carries no digest
    for f in doc["findings"]:
        if f["path"] in terabyte:
            assert f["sha256"] is None, f
    # ...and the human report says so
    run = run_sub(*sparse.args("audit", "--hash"))
    assert_answered(run, {0})
    assert "4 sparse files not hashed" in run.text, run.text


def test_hash_max_holes_bounds_what_is_hashed(sparse: SparseRoot) -> None:
    doc = _json(sparse, "audit", "--hash", "--hash-max-holes", "1MiB")
    assert isinstance(doc, dict)
    unhashed = {p["path"].removeprefix(str(sparse.rw)) for p in doc["problems"]}
    assert {SMALL, MID} <= unhashed
    assert SMALL not in {h["path"] for h in doc["hashes"]}
    bad = run_sub(*sparse.args("audit", "--hash", "--hash-max-holes", "lots"))
    assert bad.code == 2 and b"--hash-max-holes" in bad.err and not bad.out


def test_timeline_hash_of_sparse_files(sparse: SparseRoot) -> None:
    doc = _json(sparse, "timeline", "stopped", "--hash")
    assert isinstance(doc, dict)
    entries = {e["path"]: e for e in doc["entries"] if e["role"] == "rw"}
    assert entries[SMALL]["sha256"] == _digest("sha256", MID_SIZE, SMALL_PIECES)
    assert entries[SMALL]["md5"] == _digest("md5", MID_SIZE, SMALL_PIECES)
    assert entries[HUGE]["sha256"] is None and entries[HUGE]["md5"] is None
    kinds = {p["path"].removeprefix(str(sparse.rw)): p["kind"] for p in doc["problems"]}
    assert kinds[HUGE] == "not-hashed"
    for path in SPECIAL:  # listed with their type, never opened
        assert entries[path]["sha256"] is None


# -- diff ----------------------------------------------------------------------------------


def test_diff_of_terabyte_sparse_files(sparse: SparseRoot) -> None:
    for path, identical in (
        ("/app/sparse-same", True),
        ("/app/sparse-layout", True),
        ("/app/sparse-changed", False),
    ):
        doc = _json(sparse, "diff", "stopped", path)
        assert isinstance(doc, dict)
        assert doc["identical"] is identical, doc
        assert doc["old"]["size"] == doc["new"]["size"] == TB
        assert doc["old"]["sha256"] is None and doc["new"]["sha256"] is None
        assert doc["diff"] is None and "not hashed" in doc["note"], doc
    run = run_sub(*sparse.args("diff", "stopped", "/app/sparse-same"))
    assert_answered(run, {0})
    assert "identical content" in run.text and "not hashed" in run.text, run.text


def test_diff_of_a_modest_sparse_file_hashes_it(sparse: SparseRoot) -> None:
    doc = _json(sparse, "diff", "stopped", MID)
    assert isinstance(doc, dict)
    want = _digest("sha256", MID_SIZE, MID_PIECES[0])
    assert doc["old"]["sha256"] == doc["new"]["sha256"] == want
    assert doc["identical"] is True and doc["binary"] is True
    doc = _json(sparse, "diff", "stopped", SMALL)
    assert isinstance(doc, dict)
    assert doc["old"] is None
    assert doc["new"]["sha256"] == _digest("sha256", MID_SIZE, SMALL_PIECES)
    # with a lower bound on holes: not hashed, said, and still compared by extents
    doc = _json(sparse, "diff", "--hash-max-holes", "1MiB", "stopped", MID)
    assert isinstance(doc, dict)
    assert doc["old"]["sha256"] is None and doc["new"]["sha256"] is None
    assert doc["identical"] is True and "not hashed" in doc["note"], doc


# -- cat -----------------------------------------------------------------------------------


def _limit_memory() -> None:
    limit = 512 * MiB  # the old cat needed 2 GiB for the data and 2.7 GiB for its base64
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _read_until(stream: object, marker: bytes, limit: int = 1 << 16) -> bytes:
    buf = b""
    while marker not in buf:
        byte = stream.read(1)  # type: ignore[attr-defined]
        assert byte and len(buf) < limit, buf
        buf += byte
    return buf


@pytest.mark.slow
def test_json_cat_streams_under_a_memory_limit(sparse: SparseRoot) -> None:
    args = ["--json", *sparse.args("cat", "--max-bytes", "3GiB", "stopped", TWO_G)]
    proc = subprocess.Popen(
        [PYTHON, "-m", "overlayscope", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        preexec_fn=_limit_memory,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        head = _read_until(proc.stdout, b'"data": "')
        offset = 0
        pending = b""
        tail = b""
        while True:  # decode as it comes, 4 base64 chars at a time; never the whole file
            block = proc.stdout.read(4 * MiB)
            if not block:
                break
            end = block.find(b'"')
            text = pending + (block if end < 0 else block[:end])
            cut = len(text) - len(text) % 4
            data = base64.b64decode(text[:cut], validate=True)
            assert data == _logical(TWO_G_SIZE, TWO_G_PIECES, offset, len(data)), offset
            offset += len(data)
            pending = text[cut:]
            if end >= 0:
                tail = block[end:] + proc.stdout.read()
                break
        assert not pending
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0 and b"Traceback" not in err, err
    assert offset == TWO_G_SIZE
    # the document is valid JSON: the same with its data left out
    doc = json.loads(head + tail)
    check_json("cat", doc)
    assert doc["size"] == TWO_G_SIZE and doc["encoding"] == "base64"
    assert doc["resolved"] == TWO_G and doc["layer"] == sparse.rw.parent.name


def test_json_cat_refuses_past_the_cap(sparse: SparseRoot) -> None:
    for args in (
        ("--json", "cat", "stopped", TWO_G),  # the default bound with --json: 1 GiB
        ("--json", "cat", "stopped", HUGE),
        ("cat", "--max-bytes", "1KiB", "stopped", SMALL),
    ):
        flags, rest = (("--json",), args[1:]) if args[0] == "--json" else ((), args)
        run = run_sub(*flags, *sparse.args(*rest))
        assert_answered(run, {3})
        assert b"too large" in run.err and b"--max-bytes" in run.err, str(run)


def test_plain_cat_streams_the_logical_bytes(sparse: SparseRoot) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "overlayscope", *sparse.args("cat", "stopped", TWO_G)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        preexec_fn=_limit_memory,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        offset = 0
        while block := proc.stdout.read(8 * MiB):
            assert block == _logical(TWO_G_SIZE, TWO_G_PIECES, offset, len(block)), offset
            offset += len(block)
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0 and not err, err
    assert offset == TWO_G_SIZE


# -- special files -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SPECIAL))
def test_diff_and_cat_of_a_special_file_say_what_it_is(sparse: SparseRoot, path: str) -> None:
    what, kind = SPECIAL[path]
    doc = _json(sparse, "diff", "stopped", path)
    assert isinstance(doc, dict)
    assert doc["new"]["type"] == kind and doc["new"]["entry"] == "other"
    assert doc["old"]["type"] == "file" and doc["old"]["sha256"]
    assert doc["identical"] is False and doc["diff"] is None
    assert f"is {what} now, a regular file beneath" in doc["note"], doc
    run = run_sub(*sparse.args("diff", "stopped", path))
    assert_answered(run, {0})
    assert f"is {what} now, a regular file beneath" in run.text, run.text
    assert f"now     {kind}" in run.text and "@@" not in run.text, run.text
    for flags in ((), ("--json",)):
        run = run_sub(*flags, *sparse.args("cat", "stopped", path), timeout=60)
        assert_answered(run, {3})
        assert f"{path} is {what} in layer".encode() in run.err, str(run)


def test_diff_of_a_special_file_with_nothing_beneath(sparse: SparseRoot) -> None:
    for flags in ((), ("--json",)):
        run = run_sub(*flags, *sparse.args("diff", "stopped", NEW_FIFO), timeout=60)
        assert_answered(run, {3})
        assert f"{NEW_FIFO} is a fifo now, absent beneath".encode() in run.err, str(run)


# -- bytes read: what the work costs, counted (never timed) -----------------------------------


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_comparisons_read_only_the_data(
    sparse: SparseRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = load_host(str(sparse.root))
    stopped = next(c for c in host.containers.values() if c.name == "stopped")
    stack = build_stack(host, stopped)
    reads = ReadCounter().install(monkeypatch)
    found = {c.path: c.content for c in changes(stack)}  # what container / df compare
    diffs = {path: unified_diff(stack, path) for path in COPY_UPS}  # digests left out
    same = {p: same_content(str(sparse.beneath), p, str(sparse.rw), p) for p in COPY_UPS}
    want = {"/app/sparse-same": True, "/app/sparse-layout": True, "/app/sparse-changed": False}
    assert same == want
    assert {p: found[p] == "same" for p in COPY_UPS} == want
    assert {p: d.identical for p, d in diffs.items()} == want
    for path in COPY_UPS:
        for layer in (sparse.beneath, sparse.rw):
            file = layer / path[1:]
            # three passes (changes, diff's comparison, same_content), each at most the
            # file's data: the terabyte of holes is never read
            assert reads.of(file) <= 3 * _allocated(file) < MiB * 4, (file, reads.of(file))
    assert reads.of(sparse.rw / "app/sparse-changed") > 0  # the data itself was compared


def test_hashing_reads_only_the_data(sparse: SparseRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = ReadCounter().install(monkeypatch)
    small = hash_file(str(sparse.rw), SMALL, md5=True)
    assert small.sha256 == _digest("sha256", MID_SIZE, SMALL_PIECES)
    assert small.md5 == _digest("md5", MID_SIZE, SMALL_PIECES) and small.size == MID_SIZE
    mid = hash_file(str(sparse.beneath), MID)
    assert mid.sha256 == _digest("sha256", MID_SIZE, MID_PIECES[0])
    for file in (sparse.rw / SMALL[1:], sparse.beneath / MID[1:]):
        assert 0 < reads.of(file) <= _allocated(file) < MID_SIZE // 16, file
    with pytest.raises(TooSparse):  # past the bound on holes: refused before any read
        hash_file(str(sparse.rw), HUGE)
    assert reads.of(sparse.rw / HUGE[1:]) == 0
    digests, failures = hash_files([(str(sparse.rw), HUGE), (str(sparse.rw), SMALL)])
    assert [(f.path, f.kind) for f in failures] == [(HUGE, NOT_HASHED)]
    assert digests[(str(sparse.rw), SMALL)] == replace(small, md5=None)


@pytest.mark.parametrize("json_out", [False, True], ids=["raw", "json"])
def test_cat_reads_only_the_data(
    sparse: SparseRoot,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
    json_out: bool,
) -> None:
    reads = ReadCounter().install(monkeypatch)
    run = run_inproc(capsysbinary, *("--json",) * json_out, *sparse.args("cat", "stopped", SMALL))
    assert_answered(run, {0})
    data = base64.b64decode(run.json()["data"]) if json_out else run.out
    assert data == _logical(MID_SIZE, SMALL_PIECES, 0, MID_SIZE)
    file = sparse.rw / SMALL[1:]
    assert 0 < reads.of(file) <= _allocated(file) < MID_SIZE // 16


# Python's start-up, the captured root's records and the planted files' data come to 5-15 MiB
# here; any terabyte file, or the 2 GiB one, read through would be far past the bound.
READ_BOUND = 64 * MiB


@pytest.mark.parametrize(
    "args",
    [
        ("df", "--top", "50", "--containers"),
        ("audit", "--hash"),
        ("diff", "stopped", "/app/sparse-changed"),
        pytest.param(
            ("--json", "cat", "--max-bytes", "off", "stopped", TWO_G), marks=pytest.mark.slow
        ),
        ("cat", "stopped", HUGE),
    ],
    ids=["df", "audit-hash", "diff", "json-cat", "cat"],
)
def test_commands_read_only_the_data(sparse: SparseRoot, args: tuple[str, ...]) -> None:
    """Whatever a command does with 4 TB of sparse files (and `cat` writing 1 TB or 2 GiB
    of them), the process reads a few MiB: the kernel's own count, every read syscall."""
    flags, rest = (args[:1], args[1:]) if args[0] == "--json" else ((), args)
    run, read = run_counted(*flags, *sparse.args(*rest), timeout=600)
    assert_answered(run, {0})
    assert read < READ_BOUND, (args, read)


# -- the extent functions against a plain read -----------------------------------------------

BLOCK = 4096
layouts = st.lists(
    st.tuples(st.integers(0, 63), st.integers(1, 3), st.sampled_from([b"", b"\0", b"a", b"b"])),
    max_size=6,
)


def _file(where: Path, name: str, size_blocks: int, layout: list[tuple[int, int, bytes]]) -> int:
    """A file of `size_blocks` blocks with data runs (block, blocks, fill); an fd of it."""
    path = where / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    for block, count, fill in layout:
        if fill:
            os.pwrite(fd, fill * (count * BLOCK - 1) + b"z" * (fill != b"\0"), block * BLOCK)
    os.ftruncate(fd, size_blocks * BLOCK - 17)  # not a whole number of blocks
    os.fsync(fd)
    return fd


@given(
    size_blocks=st.integers(1, 70),
    layout_a=layouts,
    layout_b=layouts,
    chunk=st.sampled_from([BLOCK, 3 * BLOCK + 5, 1 << 20]),
)
@fuzz_settings(scale=2)
def test_extents_equal_a_plain_read(
    tmp_path_factory: pytest.TempPathFactory,
    size_blocks: int,
    layout_a: list[tuple[int, int, bytes]],
    layout_b: list[tuple[int, int, bytes]],
    chunk: int,
) -> None:
    where = tmp_path_factory.mktemp("extents")
    a = _file(where, "a", size_blocks, layout_a)
    b = _file(where, "b", size_blocks, layout_b)
    try:
        size = os.fstat(a).st_size
        plain_a, plain_b = os.pread(a, size + 1, 0), os.pread(b, size + 1, 0)
        runs = list(segments(a, size))
        assert runs[0][0] == 0 and runs[-1][1] == size
        assert all(x[1] == y[0] for x, y in itertools.pairwise(runs))
        assert all(not plain_a[s:e].strip(b"\0") for s, e, data in runs if not data)
        assert hole_bytes(a, size) == sum(e - s for s, e, data in runs if not data)
        assert b"".join(bytes(p) for p in iter_content(a, size, chunk=chunk)) == plain_a
        assert same_fd_content(a, b, chunk=chunk) is (plain_a == plain_b)
        digest = hashlib.sha256()
        assert hash_fd(a, [digest], path="/a", max_hole_bytes=None) == size
        assert digest.hexdigest() == hashlib.sha256(plain_a).hexdigest()
        holes = hole_bytes(a, size)
        if holes:
            with pytest.raises(TooSparse):
                hash_fd(a, [hashlib.sha256()], path="/a", max_hole_bytes=holes - 1)
    finally:
        os.close(a)
        os.close(b)
