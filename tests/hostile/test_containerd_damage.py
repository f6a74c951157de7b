"""Damaged copies of a live containerd root (and Docker 29's data root beside it), and every
command on each.

In the house style of tests/hostile/test_damage_all_commands.py: each case copies the
scenario's roots (`cp -a`), breaks one thing the way a crash, a bad copy or an attacker
would, and checks that

- `check` exits 1 and reports the expected problem kinds, every problem well-formed;
- every other command still answers, in JSON (of its documented shape) and in human
  output: the root-wide ones exit 0, the ones about one container or image 0 or 3 (one
  line on stderr) when that object is what was damaged; never a traceback, never an
  "internal error", never a hang (a FIFO in place of a database);
- the damage never makes anything in use look disposable: no layer an image or a container
  stood on before the damage is listed by `orphans`, called collectable, or counted
  reclaimable by `df` when it was not before (except the one whose record the damage cut
  from its owner, named per case); when meta.db cannot be read, nothing is collectable;
  when the snapshotter's records are damaged, no dir is called an orphan (which dir holds
  which snapshot is written there alone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from overlayscope.root.problems import ProblemKind
from tests.conftest import skip_or_fail
from tests.containerd.scenario import ContainerdScenario
from tests.hostile.cli import (
    OPT_INT,
    OPT_STR,
    ROOT_COMMANDS,
    _fields,
    assert_answered,
    assert_no_raw_control,
    check_json,
    run_inproc,
)
from tests.root.bolt_damage import page_map, xor_at
from tests.root.containerd_oracle import layers_by_key, used_layers

pytestmark = pytest.mark.engine

META = Path("containerd/io.containerd.metadata.v1.bolt/meta.db")
SNAPSHOTTER = Path("containerd/io.containerd.snapshotter.v1.overlayfs")
SNAPDB = SNAPSHOTTER / "metadata.db"
BLOBS = Path("containerd/io.containerd.content.v1.content/blobs/sha256")
APP = "docker.io/library/ovs-app:1"
STATES = {"created", "running", "paused", "restarting", "removing", "exited", "dead", "unknown"}


@dataclass(frozen=True)
class Pristine:
    """The undamaged copy: its host, df, and the facts the cases aim at."""

    path: Path  # holds containerd/ and docker/
    host: Host
    df: dict[str, Any]
    sc: ContainerdScenario

    def layer_dir(self, namespace: str, key: str) -> Path:
        layer = layers_by_key(self.host, namespace)[key]
        return SNAPSHOTTER / "snapshots" / layer.id

    def app(self) -> Any:
        return self.sc.image("default", APP)


@pytest.fixture(scope="module")
def pristine(
    containerd_scenario: ContainerdScenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pristine]:
    path = tmp_path_factory.mktemp("containerd-pristine") / "copy"
    path.mkdir()
    try:
        for src in (containerd_scenario.root, containerd_scenario.docker_root):
            subprocess.run(["cp", "-a", str(src), str(path)], check=True)
        host = load_host(str(path / "containerd"))
        assert not host.problems
        yield Pristine(path, host, _df(path / "containerd"), containerd_scenario)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def copy(pristine: Pristine, tmp_path: Path) -> Iterator[Path]:
    """A fresh `cp -a` of the pristine roots to damage; removed afterwards, with whatever a
    damage moved out beside it."""
    dest = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(pristine.path), str(dest)], check=True)
    try:
        yield dest
    finally:
        for path in tmp_path.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()


def _df(root: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "overlayscope", "--offline", "--root", str(root), "--json", "df"],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


# --------------------------------------------------------------------------- damages


def _truncate(rel: Path, size: int | Callable[[Path], int]) -> Callable[[Path, Pristine], None]:
    def damage(root: Path, p: Pristine) -> None:
        path = root / rel
        with path.open("r+b") as f:
            f.truncate(size if isinstance(size, int) else size(path))

    return damage


def _half_of_the_tree(path: Path) -> int:
    """Half of the pages in use: the tree's later pages are cut off."""
    pm = page_map(path)
    return pm.page_size * (pm.hwm // 2)


def _flip_page(rel: Path, pick: Callable[[Any], int]) -> Callable[[Path, Pristine], None]:
    """Flip the bytes of a live page's header (flags, count) or of one element's position."""

    def damage(root: Path, p: Pristine) -> None:
        path = root / rel
        pm = page_map(path)
        offset = pick(pm)
        for i in range(4):
            xor_at(path, offset + i, 0x5A)

    return damage


def _branch_header(pm: Any) -> int:
    info = next(i for i in sorted(pm.pages.values(), key=lambda i: i.pgid) if i.flags == 0x01)
    return int(info.pgid * pm.page_size + 8)  # flags (2 bytes) and count (2 bytes)


def _leaf_element(*bucket: bytes) -> Callable[[Any], int]:
    """The `pos` of the middle element of the largest leaf page of `bucket` (one the
    reader reads: the snapshotter's `v1/parents` index, say, it never needs)."""

    def pick(pm: Any) -> int:
        leaves = [i for i in pm.pages.values() if i.flags == 0x02 and i.bucket == bucket]
        info = max(leaves, key=lambda i: i.count)
        return int(pm.element(info.pgid, info.count // 2) + 4)

    return pick


def _remove(rel: Path | Callable[[Pristine], Path]) -> Callable[[Path, Pristine], None]:
    def damage(root: Path, p: Pristine) -> None:
        path = root / (rel(p) if callable(rel) else rel)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()

    return damage


def _fifo(rel: Path) -> Callable[[Path, Pristine], None]:
    def damage(root: Path, p: Pristine) -> None:
        (root / rel).unlink()
        os.mkfifo(root / rel)  # opened naively, a read would block forever

    return damage


def _move_out_and_link(rel: Path | Callable[[Pristine], Path]) -> Callable[[Path, Pristine], None]:
    """Move it beside the copy and leave a symlink to it in its place."""

    def damage(root: Path, p: Pristine) -> None:
        path = root / (rel(p) if callable(rel) else rel)
        outside = root.parent / f"outside-{path.name}"
        shutil.move(str(path), outside)
        path.symlink_to(outside)

    return damage


def _top_app_layer(p: Pristine) -> Path:
    return p.layer_dir("default", p.app().chain_id)


def _ctr_add_layer(p: Pristine) -> Path:
    return p.layer_dir("default", "ctr-add")


def snapshot_dir_without_record(root: Path, p: Pristine) -> None:
    (root / SNAPSHOTTER / "snapshots" / "9999" / "fs" / "stray").mkdir(parents=True)


def meta_names_a_gone_backend(root: Path, p: Pristine) -> None:
    """ctr-add's snapshot record names a backend key the snapshotter never had (the same
    length, so meta.db's pages stay well-formed)."""
    layer = layers_by_key(p.host, "default")["ctr-add"]
    path = root / META
    data = path.read_bytes()
    name = next(s.name for s in _backends(p) if s.id == layer.id).encode()
    ns, seq, key = name.split(b"/", 2)
    gone = b"/".join((ns, b"9" * len(seq), key))
    assert data.count(name) >= 1 and gone not in data
    path.write_bytes(data.replace(name, gone))


def _backends(p: Pristine) -> list[Any]:
    from overlayscope.root.stores.containerd.snapshotter import read_snapshotter

    return list(read_snapshotter(str(p.path / SNAPSHOTTER)).snapshots.values())


def _blob(pick: Callable[[Pristine], str]) -> Callable[[Pristine], Path]:
    return lambda p: BLOBS / pick(p).removeprefix("sha256:")


_GZIP_LAYER = _blob(lambda p: p.app().layer_digests[2])
_MANIFEST = _blob(lambda p: p.app().manifest_digest)
_CONFIG = _blob(lambda p: p.app().config_digest)


def _truncate_blob(which: Callable[[Pristine], Path]) -> Callable[[Path, Pristine], None]:
    def damage(root: Path, p: Pristine) -> None:
        path = root / which(p)
        os.chmod(path, 0o644)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)

    return damage


def blob_altered(which: Callable[[Pristine], Path]) -> Callable[[Path, Pristine], None]:
    def damage(root: Path, p: Pristine) -> None:
        path = root / which(p)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))

    return damage


def docker_config_missing(root: Path, p: Pristine) -> None:
    batch = p.sc.docker29["batch"]
    (root / "docker" / "containers" / batch.id / "config.v2.json").unlink()


Damage = Callable[[Path, Pristine], None]


@dataclass(frozen=True)
class Case:
    name: str
    damage: Damage
    kinds: set[str]
    no_gc: bool = False  # meta.db damaged, or at odds with the snapshotter: nothing collectable
    owners_lost: bool = False  # meta.db records lost: layers left with no known owner
    snapshots_unreadable: bool = False  # no dir may be an orphan
    orphans: set[str] = field(default_factory=set)  # the dirs `orphans` must list, exactly
    unlinked: Callable[[Pristine], set[str]] = lambda p: set()  # cut from their owner
    docker: bool = False  # read through the Docker 29 data root


def _ctr_add_id(p: Pristine) -> set[str]:
    return {layers_by_key(p.host, "default")["ctr-add"].id}


BAD_DB, SYMLINK = {"bad-database"}, {"symlink-in-root"}
_META_LEAF = _leaf_element(b"v1", b"default", b"containers")
_SNAPDB_LEAF = _leaf_element(b"v1", b"snapshots")
CASES = [
    Case("meta_truncated_empty", _truncate(META, 0), BAD_DB, no_gc=True, owners_lost=True),
    Case("meta_truncated_one_page", _truncate(META, 4096), BAD_DB, no_gc=True, owners_lost=True),
    Case("meta_truncated_meta_pages", _truncate(META, 8192), BAD_DB, no_gc=True, owners_lost=True),
    Case("meta_truncated_mid_tree", _truncate(META, _half_of_the_tree), BAD_DB,
         no_gc=True, owners_lost=True),
    Case("meta_branch_page_flipped", _flip_page(META, _branch_header), BAD_DB, no_gc=True),
    Case("meta_leaf_element_flipped", _flip_page(META, _META_LEAF), BAD_DB, no_gc=True,
         owners_lost=True),  # a container record of the flipped page is lost
    Case("meta_missing", _remove(META), BAD_DB, no_gc=True, owners_lost=True),
    Case("meta_is_a_fifo", _fifo(META), BAD_DB, no_gc=True, owners_lost=True),
    Case("meta_is_a_symlink", _move_out_and_link(META), SYMLINK, no_gc=True, owners_lost=True),
    Case("meta_plugin_dir_is_a_symlink", _move_out_and_link(META.parent), SYMLINK,
         no_gc=True, owners_lost=True),
    Case("snapdb_truncated_empty", _truncate(SNAPDB, 0), BAD_DB, snapshots_unreadable=True),
    Case("snapdb_truncated_meta_pages", _truncate(SNAPDB, 8192), BAD_DB,
         snapshots_unreadable=True),
    Case("snapdb_truncated_mid_tree", _truncate(SNAPDB, _half_of_the_tree), BAD_DB,
         snapshots_unreadable=True),
    Case("snapdb_leaf_element_flipped", _flip_page(SNAPDB, _SNAPDB_LEAF), BAD_DB,
         snapshots_unreadable=True),
    Case("snapdb_missing", _remove(SNAPDB), BAD_DB, snapshots_unreadable=True),
    Case("snapdb_is_a_fifo", _fifo(SNAPDB), BAD_DB, snapshots_unreadable=True),
    Case("snapdb_is_a_symlink", _move_out_and_link(SNAPDB), SYMLINK, snapshots_unreadable=True),
    Case("snapshotter_plugin_dir_is_a_symlink", _move_out_and_link(SNAPSHOTTER), SYMLINK,
         snapshots_unreadable=True),
    Case("image_snapshot_dir_missing", _remove(_top_app_layer), {"missing-layer-dir"}),
    Case("rw_snapshot_dir_missing", _remove(_ctr_add_layer), {"missing-layer-dir"}),
    Case("snapshot_dir_is_a_symlink", _move_out_and_link(_top_app_layer), SYMLINK),
    Case("snapshot_fs_is_a_symlink", _move_out_and_link(lambda p: _ctr_add_layer(p) / "fs"),
         SYMLINK),
    Case("snapshot_dir_without_record", snapshot_dir_without_record, set(), orphans={"9999"}),
    Case("meta_names_a_gone_backend", meta_names_a_gone_backend, {"missing-snapshot"},
         no_gc=True, unlinked=_ctr_add_id),
    Case("layer_blob_missing", _remove(_GZIP_LAYER), {"missing-blob"}),
    Case("layer_blob_truncated", _truncate_blob(_GZIP_LAYER), {"blob-digest-mismatch"}),
    Case("manifest_blob_altered", blob_altered(_MANIFEST), {"blob-digest-mismatch"}),
    Case("config_blob_missing", _remove(_CONFIG), {"missing-blob"}),
    Case("content_plugin_dir_is_a_symlink", _move_out_and_link(BLOBS.parent.parent), SYMLINK),
    Case("docker_config_missing", docker_config_missing, {"bad-metadata"}, docker=True),
]  # fmt: skip


# --------------------------------------------------------------------------- shapes


def check_shape(command: str, doc: Any) -> None:
    """The documented shape of `command`'s JSON, for a containerd root: container ids are
    containerd's (not 64 hex), states include `unknown`, problems every ProblemKind."""
    kinds = {str(k) for k in ProblemKind}

    def problem(p: Any, where: str) -> None:
        _fields(p, {"kind": str, "path": str, "detail": str}, where)
        assert p["kind"] in kinds | {"audit-incomplete"} and p["detail"].strip(), p

    def container(c: Any, where: str) -> None:
        _fields(
            c,
            {"id": str, "name": str, "image": str, "state": str, "layer": OPT_STR,
             "init_layer": OPT_STR, "size": OPT_INT, "store": str, "namespace": OPT_STR},
            where,
        )  # fmt: skip
        assert c["id"] and c["state"] in STATES and c["store"] == "containerd", c

    if command == "containers":
        assert isinstance(doc, list)
        for c in doc:
            container(c, "containers")
    elif command == "layers":
        assert isinstance(doc, list)
        for la in doc:
            _fields(
                la,
                {"id": str, "lower": list, "role": str, "owners": list, "size": OPT_INT,
                 "problems": list, "store": str, "path": str, "key": OPT_STR,
                 "namespace": OPT_STR, "collectable": bool},
                "layer",
            )  # fmt: skip
            assert la["role"] in {"image", "rw", "init", "orphan", "unresolved"}, la
            for p in la["problems"]:
                problem(p, "layer.problems")
    elif command == "check":
        _fields(doc, {"ok": bool, "problems": list}, "check")
        assert doc["ok"] is (not doc["problems"])
        for p in doc["problems"]:
            problem(p, "check")
    elif command == "audit":
        _fields(doc, {"containers": list, "images": list, "layers": list, "problems": list,
                      "findings": list, "summary": dict}, "audit")  # fmt: skip
        for c in doc["containers"]:
            container(c, "audit.containers")
        for p in doc["problems"]:
            problem(p, "audit.problems")
    else:
        check_json(command, doc)


# --------------------------------------------------------------------------- the test


# The commands about one object, aimed at what the damage most likely broke: (its JSON
# shape's name, the arguments).
OBJECT_COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("container", ("--namespace", "default", "container", "ctr-add")),
    ("where", ("where", "ctr-add", "/app/conf/app.conf")),
    ("ls", ("ls", "ctr-add", "/app")),
    ("cat", ("cat", "ctr-add", "/app/notes.txt")),
    ("diff", ("diff", "ctr-add", "/app/conf/app.conf")),
    ("efficiency", ("efficiency", APP)),
    ("timeline", ("timeline", "ctr-add")),
    ("where", ("where", APP, "/app/cache")),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_command_answers_on_a_damaged_root(
    pristine: Pristine,
    copy: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    case.damage(copy, pristine)
    root = copy / ("docker" if case.docker else "containerd")
    base = ("--offline", "--root", str(root))

    gate = {1} if case.kinds else {0}  # an orphan is not a problem: `orphans` lists it
    run = run_inproc(capsysbinary, "--json", *base, "check")
    assert_answered(run, gate)
    report = run.json()
    check_shape("check", report)
    found = {p["kind"] for p in report["problems"]}
    assert case.kinds <= found, f"expected {case.kinds}, found {found}: {report['problems']}"
    for p in report["problems"]:
        assert p["path"].startswith(str(copy)), p

    docs: dict[str, Any] = {}
    for command in ROOT_COMMANDS:
        gate = ({1} if case.kinds else {0}) if command[0] == "check" else {0}
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, gate)
        docs[command[0]] = run.json()
        check_shape(command[0], docs[command[0]])
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, gate)
        if command[0] != "timeline":  # the bodyfile has its own escapes, tested elsewhere
            assert_no_raw_control(human.out, " ".join(command))
            assert_no_raw_control(human.err, " ".join(command))

    for shape, command in OBJECT_COMMANDS:
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, {0, 3})
        if run.code == 0:
            check_shape(shape, run.json())
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, {run.code})
        assert_no_raw_control(human.err, " ".join(command))

    _check_nothing_in_use_looks_disposable(case, pristine, docs)


def _check_nothing_in_use_looks_disposable(
    case: Case, pristine: Pristine, docs: dict[str, Any]
) -> None:
    used = used_layers(pristine.host)
    assert used  # the scenario has images and containers
    orphans = {o["id"] for o in docs["orphans"]}
    assert orphans == case.orphans, orphans
    assert not used & orphans
    layers = {la["id"]: la for la in docs["layers"]}
    assert not [lid for lid in used if layers.get(lid, {}).get("collectable")]
    if case.no_gc:
        assert not [la for la in docs["layers"] if la["collectable"]]
        assert not [b for b in docs["df"]["blobs"] if b["reclaimable"]]
    if case.snapshots_unreadable:
        assert not [la for la in docs["layers"] if la["role"] == "orphan"]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[c.name for c in CASES],
)  # fmt: skip
def test_damage_counts_nothing_in_use_reclaimable(
    pristine: Pristine, copy: Path, capsysbinary: pytest.CaptureFixture[bytes], case: Case
) -> None:
    """df's `reclaimable` of a layer some image or container stood on before the damage
    never turns true because of it (but for the layer whose owner record the damage cut)."""
    case.damage(copy, pristine)
    root = copy / ("docker" if case.docker else "containerd")
    run = run_inproc(capsysbinary, "--json", "--offline", "--root", str(root), "df")
    assert_answered(run, {0})
    before = {la["id"]: la["reclaimable"] for la in pristine.df["layers"]}
    after = {la["id"]: la["reclaimable"] for la in run.json()["layers"]}
    used = used_layers(pristine.host) - case.unlinked(pristine)
    newly = {lid for lid in used if after.get(lid) and not before[lid]}
    assert not newly, f"counted reclaimable because of the damage: {sorted(newly)}"


# --------------------------------------------------------------------------- specifics


@pytest.mark.parametrize(
    "moved",
    [META.parent, SNAPSHOTTER, BLOBS.parent.parent, BLOBS.parent, SNAPSHOTTER / "snapshots"],
    ids=["metadata", "snapshotter", "content", "content-blobs", "snapshots"],
)
def test_a_symlinked_store_dir_is_never_read_through(
    pristine: Pristine, copy: Path, tmp_path: Path, moved: Path
) -> None:
    """A store dir moved out of the root and symlinked back: nothing beneath is opened
    (strace of `check` and `images`: no path under the moved dir), nothing from it is in
    the host, and the symlink is the problem reported."""
    if shutil.which("strace") is None:
        skip_or_fail("strace not installed (apt-get install strace; `make test` does)")
    _move_out_and_link(moved)(copy, pristine)
    outside = copy.parent / f"outside-{moved.name}"
    host = load_host(str(copy / "containerd"))
    assert (ProblemKind.SYMLINK_IN_ROOT, str(copy / moved)) in {
        (p.kind, p.path) for p in host.problems
    }
    if moved == META.parent:
        assert host.images == {} and host.containers == {}
    elif moved.name in ("snapshots", SNAPSHOTTER.name):
        assert all(not la.has_content for la in host.layers.values())
        assert host.orphans == []
    else:
        assert host.blobs == {}
        assert all(i.layers == () and i.config_digest is None for i in host.images.values())
    for command in ("check", "images"):
        trace = tmp_path / f"trace-{command}"
        subprocess.run(
            ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2,stat,lstat,newfstatat,"
             "statx,readlink,readlinkat,getdents64", "-o", str(trace), sys.executable, "-m",
             "overlayscope", "--offline", "--root", str(copy / "containerd"), "--json", command],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        through = str(copy / moved) + "/"
        lines = trace.read_text().splitlines()
        assert lines, "strace recorded nothing"
        assert not [line for line in lines if through in line or str(outside) in line]


def test_a_fifo_in_place_of_a_database_does_not_hang(pristine: Pristine, copy: Path) -> None:
    """In a subprocess with a deadline: a read of the FIFO would block forever."""
    _fifo(META)(copy, pristine)
    _fifo(SNAPDB)(copy, pristine)
    proc = subprocess.run(
        [sys.executable, "-m", "overlayscope", "--offline", "--root", str(copy / "containerd"),
         "--json", "check"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    kinds = {p["kind"] for p in json.loads(proc.stdout)["problems"]}
    assert kinds == {"bad-database"}
