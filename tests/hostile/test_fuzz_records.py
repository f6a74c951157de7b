"""Fuzzing the metadata parsers with arbitrary bytes and JSON in the real files of a copy of
the captured root (`root/records.py`, `layerdb.py`, `imagedb.py`, `containers.py`,
`overlay2.py`, through `load_host`).

Each example rewrites one record (a container config, an image config, repositories.json,
a layerdb or mount file, a `link` or `lower`) with random bytes, random JSON, or the real
JSON with one value somewhere inside replaced by random JSON, loads the root, and checks:
no exception; every problem well-formed; every container, image and layer of the documented
types; the inventory JSON shapes valid. The record is restored after every example.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlayscope.cli import shapes
from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from overlayscope.root.problems import ProblemKind
from overlayscope.usage.images import image_sizes
from tests.engine import CapturedRoot
from tests.hostile.cli import (
    DIGEST,
    HEX64,
    ROOT_COMMANDS,
    STATES,
    assert_answered,
    check_json,
    run_inproc,
)
from tests.hostile.fuzzing import fuzz_settings

pytestmark = pytest.mark.root


@dataclass(frozen=True)
class Records:
    root: Path
    json_files: tuple[Path, ...]
    text_files: tuple[Path, ...]


@pytest.fixture(scope="module")
def records(captured_root: CapturedRoot, tmp_path_factory: pytest.TempPathFactory) -> Records:
    root = tmp_path_factory.mktemp("fuzz") / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    host = load_host(str(root))
    assert not host.problems
    stopped = next(c for c in host.containers.values() if c.name == "stopped")
    app = next(i for i in host.images.values() if "scope/app:1" in i.tags)
    chain = root / "image/overlay2/layerdb/sha256" / app.layers[-1].chain_id[7:]
    mount = root / "image/overlay2/layerdb/mounts" / stopped.id
    top = root / "overlay2" / (app.layers[-1].id or "")
    json_files = (
        root / "containers" / stopped.id / "config.v2.json",
        root / "image/overlay2/imagedb/content/sha256" / app.id[7:],
        root / "image/overlay2/repositories.json",
    )
    text_files = (
        chain / "cache-id",
        chain / "diff",
        chain / "parent",
        chain / "size",
        mount / "mount-id",
        mount / "init-id",
        mount / "parent",
        top / "link",
        top / "lower",
        root / "image/overlay2/imagedb/metadata/sha256" / app.id[7:] / "parent",
    )
    return Records(root, json_files, text_files)


@pytest.fixture
def restore(records: Records) -> Iterator[None]:
    yield
    # Belt and braces: the examples restore what they change; prove nothing stayed.
    assert not load_host(str(records.root)).problems


@contextmanager
def _rewritten(path: Path, data: bytes) -> Iterator[None]:
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


def check_host(host: Host, root: Path) -> None:
    """Whatever the records hold, the model is well-typed and the problems well-formed."""
    kinds = {str(k) for k in ProblemKind}
    for p in host.problems:
        assert str(p.kind) in kinds and isinstance(p.path, str), p
        assert p.path.startswith(str(root)), p
        assert isinstance(p.detail, str) and p.detail.strip(), p
    for c in host.containers.values():
        assert HEX64.match(c.id) and isinstance(c.name, str) and isinstance(c.image_id, str)
        assert c.state in STATES, c
        assert all(isinstance(x, str) for x in c.stack())
    for image in host.images.values():
        assert DIGEST.match(image.id)
        assert all(isinstance(t, str) for t in image.tags)
        for step in image.layers:
            assert DIGEST.match(step.diff_id) and DIGEST.match(step.chain_id)
            assert isinstance(step.created_by, str)
            assert step.size is None or (isinstance(step.size, int) and step.size >= 0)
    for layer in host.layers.values():
        assert layer.role in Role
        assert all(isinstance(x, str) for x in layer.lower)
    sizes = image_sizes(host)
    documents = {
        "containers": [shapes.container(c, None) for c in host.containers.values()],
        "images": [shapes.image(host, i, sizes[i.id]) for i in host.images.values()],
        "layers": [shapes.layer(host, layer, None) for layer in host.layers.values()],
        "check": {"ok": not host.problems, "problems": [shapes.problem(p) for p in host.problems]},
    }
    for command, doc in documents.items():
        check_json(command, json.loads(json.dumps(doc, ensure_ascii=True)))


def _load_rewritten(records: Records, path: Path, data: bytes) -> None:
    with _rewritten(path, data):
        check_host(load_host(str(records.root)), records.root)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(which=st.integers(0, 12), data=st.binary(max_size=600))
@fuzz_settings(scale=3)
def test_arbitrary_bytes_in_any_record(
    records: Records, restore: None, which: int, data: bytes
) -> None:
    files = records.json_files + records.text_files
    _load_rewritten(records, files[which % len(files)], data)


@given(which=st.integers(0, 2), value=JSON)
@fuzz_settings(scale=3)
def test_arbitrary_json_in_a_json_record(
    records: Records, restore: None, which: int, value: Any
) -> None:
    path = records.json_files[which]
    _load_rewritten(records, path, json.dumps(value, allow_nan=True).encode())


def _paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:5]):
            yield from _paths_in(item, (*prefix, i))


@given(which=st.integers(0, 2), pick=st.integers(0, 10**6), value=JSON, drop=st.booleans())
@fuzz_settings(scale=6)
def test_one_value_replaced_deep_inside_a_real_record(
    records: Records, restore: None, which: int, pick: int, value: Any, drop: bool
) -> None:
    """The real config with one field anywhere in it swapped for random JSON (or removed):
    wrong types at every depth, as an attacker editing a record would make them."""
    path = records.json_files[which]
    doc = json.loads(path.read_bytes())
    candidates = [p for p in _paths_in(doc) if p]
    where = candidates[pick % len(candidates)]
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    if drop:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    _load_rewritten(records, path, json.dumps(doc, allow_nan=True).encode())


TEXT = st.one_of(
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(["sha256:", "sha256:" + "0" * 64, "../..", ".", "", "l/", "-1", "1e9"]).map(
        str.encode
    ),
    st.lists(st.sampled_from(["l/", "A" * 26, ":", "..", "\x1b", "\n"]), max_size=40).map(
        lambda parts: "".join(parts).encode()
    ),
)


@given(which=st.integers(0, 9), data=TEXT)
@fuzz_settings(scale=3)
def test_text_in_a_text_record(records: Records, restore: None, which: int, data: bytes) -> None:
    _load_rewritten(records, records.text_files[which], data)


def test_a_seeded_burst_of_byte_flips(records: Records, restore: None) -> None:
    """Single-byte flips at random offsets of every record (deterministic seed): the kind
    of damage a failing disk or a truncated copy leaves."""
    rng = random.Random(int(os.environ.get("OVERLAYSCOPE_FUZZ_SEED", "8")))
    for path in records.json_files + records.text_files:
        original = path.read_bytes()
        for _ in range(15):
            data = bytearray(original)
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            _load_rewritten(records, path, bytes(data))


@given(which=st.integers(0, 12), pick=st.integers(0, 10**6), value=JSON, data=st.binary())
@fuzz_settings(scale=0.5)
def test_every_command_answers_on_a_fuzzed_record(
    records: Records,
    restore: None,
    capsysbinary: pytest.CaptureFixture[bytes],
    which: int,
    pick: int,
    value: Any,
    data: bytes,
) -> None:
    """The whole CLI, not just the loader: every command exits as documented, with its
    documented JSON shape, whatever one record holds."""
    files = records.json_files + records.text_files
    path = files[which % len(files)]
    if path in records.json_files:
        doc = json.loads(path.read_bytes())
        candidates = [p for p in _paths_in(doc) if p]
        where = candidates[pick % len(candidates)]
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = value
        data = json.dumps(doc).encode()
    host = load_host(str(records.root))
    stopped = next(c for c in host.containers.values() if c.name == "stopped")
    base = ("--json", "--offline", "--root", str(records.root))
    with _rewritten(path, data):
        for command in ROOT_COMMANDS:
            run = run_inproc(capsysbinary, *base, *command)
            assert_answered(run, {0, 1} if command[0] == "check" else {0})
            check_json(command[0], run.json())
        for command in (
            ("container", stopped.id),
            ("ls", stopped.id, "/app"),
            ("diff", stopped.id, "/app/data/big.txt"),
            ("efficiency", "scope/app:1"),
        ):
            run = run_inproc(capsysbinary, *base, *command)
            assert_answered(run, {0, 3})
            if run.code == 0:
                check_json(command[0], run.json())
