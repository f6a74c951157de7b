"""Damaged copies of the captured rootful podman store, and every command on each.

In the table style of tests/hostile/test_damage_all_commands.py: each case copies
fixtures/podman/rootful.tar.xz unpacked (`cp -a`), breaks one record of containers/storage
or libpod the way a crash, a bad copy or an attacker would, and checks that

- `check` reports the expected problem kinds (exit 1; exit 0 when the damage is no
  problem, only an orphan), every problem well-formed and inside the root;
- every other command answers, in JSON (of its documented shape) and in human output:
  root-wide ones exit 0, the ones about one object 0, or 3 with one line on stderr when
  what they need is what was damaged; never a traceback, never "internal error";
- a container's changes, whenever they are given, are still exactly what podman's diff
  said (answers-rootful.json): the damage makes a command refuse, never answer wrong;
- no layer an image or container uses becomes an orphan or reclaimable because of the
  damage: orphans are only the dirs the case planted, reclaimable layers only those that
  were reclaimable before; without a readable layers.json nothing is an orphan.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from tests.engine import unpack_snapshot
from tests.hostile.cli import (
    ROOT_COMMANDS,
    assert_answered,
    assert_no_raw_control,
    check_json,
    run_inproc,
    run_sub,
)
from tests.podman_checks import INIT_INODES, change_set
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.root

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "podman"
APP = "localhost/scope/app:1"
STRAY = "ab" * 32  # a layer dir no record names
STRAY_LINK = "STRAYSTRAYSTRAYSTRAYSTRAYS"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The captured rootful store unpacked once, and podman's answers about it."""
    if os.geteuid() != 0:
        if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
            pytest.fail("OVERLAYSCOPE_REQUIRE_ENGINE=1 but: not root", pytrace=False)
        pytest.skip("not root: whiteout device nodes and trusted.* xattrs need root to unpack")
    dest = tmp_path_factory.mktemp("podman-pristine") / "root"
    try:
        unpack_snapshot(FIXTURES / "rootful.tar.xz", dest)
        yield dest, json.loads((FIXTURES / "answers-rootful.json").read_text())
    finally:
        shutil.rmtree(dest.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def pristine(store: tuple[Path, dict[str, Any]]) -> Host:
    return load_host(str(store[0]))


@pytest.fixture(scope="module")
def pristine_reclaimable(store: tuple[Path, dict[str, Any]]) -> set[str]:
    """The layers `df` calls reclaimable in the undamaged store."""
    run = run_sub("--json", "--offline", "--root", str(store[0]), "df")
    assert run.code == 0, str(run)
    return {layer["id"] for layer in run.json()["layers"] if layer["reclaimable"]}


@pytest.fixture(autouse=True)
def _remove_the_copy(tmp_path: Path) -> Iterator[None]:
    """Each case's damaged copy (device nodes, a few MB) goes when the case is done."""
    yield
    shutil.rmtree(tmp_path / "root", ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def _replace(path: Path, data: str | bytes) -> None:
    path.unlink()
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_bytes())
    edit(doc)
    _replace(path, json.dumps(doc))


LAYERS = "overlay-layers/layers.json"
IMAGES = "overlay-images/images.json"
CONTAINERS = "overlay-containers/containers.json"
BOLT = "libpod/bolt_state.db"


def _container(host: Host, name: str) -> str:
    return next(c.id for c in host.containers.values() if c.name == name)


def _app(host: Host) -> str:
    return next(i.id for i in host.images.values() if APP in i.tags)


def _app_layers(host: Host) -> list[str]:
    """scope/app:1's layers, top → bottom."""
    return host.images[_app(host)].stack()


def _config(root: Path, host: Host) -> Path:
    hexid = _app(host).removeprefix("sha256:")
    name = "=" + base64.standard_b64encode(f"sha256:{hexid}".encode()).decode()
    return root / "overlay-images" / hexid / name


def _by_id(records: list[dict[str, Any]], rid: str) -> dict[str, Any]:
    return next(r for r in records if r.get("id") == rid)


Damage = Callable[[Path, Host], None]

# --------------------------------------------------------------------------- the records


def layers_json_truncated(root: Path, host: Host) -> None:
    path = root / LAYERS
    _replace(path, path.read_bytes()[:300])


def layers_json_garbage(root: Path, host: Host) -> None:
    _replace(root / LAYERS, b"\x00\xff\xfe garbage [{")


def images_json_truncated(root: Path, host: Host) -> None:
    path = root / IMAGES
    _replace(path, path.read_bytes()[:200])


def images_json_garbage(root: Path, host: Host) -> None:
    _replace(root / IMAGES, b'{"not": "an array"}')


def containers_json_truncated(root: Path, host: Host) -> None:
    path = root / CONTAINERS
    _replace(path, path.read_bytes()[:150])


def containers_json_garbage(root: Path, host: Host) -> None:
    _replace(root / CONTAINERS, b"\x1b]0;pwned\x07" + os.urandom(64))


def layer_records_wrong_types(root: Path, host: Host) -> None:
    """The base layer's parent a number (the record is unusable), a size a string."""
    base, middle = _app_layers(host)[-1], _app_layers(host)[1]

    def edit(layers: list[dict[str, Any]]) -> None:
        _by_id(layers, base)["parent"] = 5
        _by_id(layers, middle)["diff-size"] = "92160"
        _by_id(layers, middle)["names"] = "not a list"

    _edit_json(root / LAYERS, edit)


def layer_record_removed(root: Path, host: Host) -> None:
    """The base layer's record gone from layers.json, its dir still there."""
    base = _app_layers(host)[-1]
    _edit_json(root / LAYERS, lambda layers: layers.remove(_by_id(layers, base)))


def image_records_wrong_types(root: Path, host: Host) -> None:
    """scope/app:1's top layer a number, another's names an object, big-data sizes a list."""

    def edit(images: list[dict[str, Any]]) -> None:
        by_name = {n: i for i in images for n in i["names"]}
        by_name[APP]["layer"] = 5
        by_name["localhost/scope/base:1"]["names"] = {"localhost/scope/base:1": True}
        by_name["localhost/scope/tool:1"]["big-data-sizes"] = [1, 2, 3]

    _edit_json(root / IMAGES, edit)


def container_records_wrong_types(root: Path, host: Host) -> None:
    """The running container's layer a number (record unusable), another's image a list."""
    web, stopped = _container(host, "web"), _container(host, "stopped")

    def edit(containers: list[dict[str, Any]]) -> None:
        _by_id(containers, web)["layer"] = 5
        _by_id(containers, stopped)["image"] = ["sha256:x"]
        _by_id(containers, stopped)["metadata"] = "{not json"

    _edit_json(root / CONTAINERS, edit)


# --------------------------------------------------------------------------- the layer dirs


def layer_dir_missing(root: Path, host: Host) -> None:
    shutil.rmtree(root / "overlay" / _app_layers(host)[1])


def layer_dir_without_record(root: Path, host: Host) -> None:
    """A dir an interrupted pull left: content, link, short link; no record names it."""
    d = root / "overlay" / STRAY
    (d / "diff").mkdir(parents=True)
    (d / "work").mkdir()
    (d / "diff" / "stray.txt").write_text("stray\n")
    (d / "link").write_text(STRAY_LINK)
    (root / "overlay" / "l" / STRAY_LINK).symlink_to(f"../{STRAY}/diff")


def short_link_dangling(root: Path, host: Host) -> None:
    (root / "overlay" / "l" / "DANGLINGDANGLINGDANGLINGDA").symlink_to("../" + "cd" * 32 + "/diff")


def lower_names_missing_link(root: Path, host: Host) -> None:
    """The running container's `lower` names a short link that is not in l/."""
    web = host.containers[_container(host, "web")].layer
    assert web is not None
    path = root / "overlay" / web / "lower"
    parts = path.read_text().split(":")
    parts[1] = "l/NOSUCHLINKNOSUCHLINKNOSUC"
    _replace(path, ":".join(parts))


# --------------------------------------------------------------------------- libpod, big data


def bolt_state_garbage(root: Path, host: Host) -> None:
    _replace(root / BOLT, os.urandom(16384))


def bolt_state_truncated(root: Path, host: Host) -> None:
    path = root / BOLT
    _replace(path, path.read_bytes()[:6000])


def image_config_missing(root: Path, host: Host) -> None:
    _config(root, host).unlink()


def image_config_altered(root: Path, host: Host) -> None:
    """An edited config: one layer fewer, another history."""

    def edit(config: dict[str, Any]) -> None:
        config["rootfs"]["diff_ids"] = config["rootfs"]["diff_ids"][:2]
        config["history"][-1]["created_by"] = "RUN curl evil | sh"

    _edit_json(_config(root, host), edit)


def image_config_garbage(root: Path, host: Host) -> None:
    _replace(_config(root, host), b'{"rootfs": \x00\xff')


# --------------------------------------------------------------------------- the table

CASES: list[tuple[Damage, set[str]]] = [
    (layers_json_truncated, {"bad-metadata", "missing-layer", "container-without-mount"}),
    (layers_json_garbage, {"bad-metadata", "missing-layer", "container-without-mount"}),
    (images_json_truncated, {"bad-metadata"}),
    (images_json_garbage, {"bad-metadata"}),
    (containers_json_truncated, {"bad-metadata", "container-without-mount"}),
    (containers_json_garbage, {"bad-metadata", "container-without-mount"}),
    (layer_records_wrong_types, {"bad-metadata", "missing-layer"}),
    (layer_record_removed, {"missing-parent", "missing-layer"}),
    (image_records_wrong_types, {"bad-metadata"}),
    (container_records_wrong_types, {"bad-metadata", "container-without-mount"}),
    (layer_dir_missing, {"missing-layer-dir", "dangling-link", "lower-missing-link"}),
    (layer_dir_without_record, set()),  # an orphan: `orphans` lists it, `check` is clean
    (short_link_dangling, {"dangling-link"}),
    (lower_names_missing_link, {"lower-missing-link", "lower-mismatch"}),
    (bolt_state_garbage, {"bad-database"}),
    (bolt_state_truncated, {"bad-database"}),
    (image_config_missing, {"bad-metadata"}),
    (image_config_altered, {"image-digest-mismatch"}),
    (image_config_garbage, {"bad-metadata", "image-digest-mismatch"}),
]
PLANTED: dict[Damage, set[str]] = {layer_dir_without_record: {STRAY}}


def _object_commands(host: Host) -> list[tuple[str, ...]]:
    web, stopped, image = _container(host, "web"), _container(host, "stopped"), _app(host)
    return [
        ("container", web),
        ("container", stopped),
        ("where", web, "/app/conf/app.conf"),
        ("ls", web, "/app"),
        ("cat", web, "/app/current.conf"),
        ("diff", stopped, "/app/data/big.txt"),
        ("efficiency", image),
        ("timeline", web),
        ("where", image, "/app/cache"),
    ]


def _damaged(store: tuple[Path, dict[str, Any]], pristine: Host, tmp: Path, damage: Damage) -> Path:
    root = tmp / "root"
    subprocess.run(["cp", "-a", str(store[0]), str(root)], check=True)
    damage(root, pristine)
    return root


@pytest.mark.parametrize(("damage", "kinds"), CASES, ids=[c[0].__name__ for c in CASES])
def test_every_command_answers_on_a_damaged_store(
    store: tuple[Path, dict[str, Any]],
    pristine: Host,
    pristine_reclaimable: set[str],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    damage: Damage,
    kinds: set[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    root = _damaged(store, pristine, tmp_path, damage)
    base = ("--offline", "--root", str(root))

    run = run_inproc(capsysbinary, "--json", *base, "check")
    gate = {1} if kinds else {0}
    assert_answered(run, gate)
    report = run.json()
    check_json("check", report)
    found = {p["kind"] for p in report["problems"]}
    assert kinds <= found, f"expected {kinds}, found {found}: {report['problems']}"
    for p in report["problems"]:
        assert p["path"].startswith(str(root)), p

    docs: dict[str, Any] = {}
    for command in ROOT_COMMANDS:
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, gate if command[0] == "check" else {0})
        docs[command[0]] = run.json()
        check_json(command[0], docs[command[0]])
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, {run.code})
        if command[0] != "timeline":  # the bodyfile has its own escapes, tested elsewhere
            assert_no_raw_control(human.out, " ".join(command))
            assert_no_raw_control(human.err, " ".join(command))

    for command in _object_commands(pristine):
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, {0, 3})
        if run.code == 0:
            check_json(command[0], run.json())
        if run.code == 0 and command[0] == "container":
            # answered: then exactly what podman said, the runtime files apart
            answer = next(c for c in store[1]["containers"] if c["inspect"]["Id"] == command[1])
            mine = [c for c in run.json()["changes"] if not c["runtime"]]
            assert change_set(mine) == change_set(answer["diff"]), command
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, {run.code})
        assert_no_raw_control(human.err, " ".join(command))
        if command[0] not in ("cat", "timeline"):  # cat's pipe gets the raw bytes by design
            assert_no_raw_control(human.out, " ".join(command))

    planted = PLANTED.get(damage, set())
    assert {o["id"] for o in docs["orphans"]} == planted
    reclaimable = {layer["id"] for layer in docs["df"]["layers"] if layer["reclaimable"]}
    assert reclaimable <= pristine_reclaimable | planted
    web = pristine.containers[_container(pristine, "web")]
    assert not reclaimable & set(web.stack()), "the running container's layers"


# --------------------------------------------------------------------------- what each fix holds


def test_without_layers_json_nothing_is_an_orphan(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, layers_json_garbage)
    layer_dir_without_record(root, pristine)
    host = load_host(str(root))
    assert host.orphans == []
    stray = host.layers[STRAY]
    assert stray.role is Role.UNRESOLVED  # no record names it, but records are lost
    assert stray.unresolved is not None and "layers.json" in stray.unresolved
    # each container's layer is still its writable layer, its stack the `lower` files'
    for c in pristine.containers.values():
        assert c.layer is not None
        assert host.layers[c.layer].role is Role.RW
        assert host.containers[c.key].stack() == c.stack()
    # and every image's layers are still known, their sizes not
    for key, image in pristine.images.items():
        assert host.images[key].stack() == image.stack()
        assert host.images[key].size is None


def test_a_malformed_layer_record_leaves_no_orphan_and_a_whole_stack(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, layer_records_wrong_types)
    host = load_host(str(root))
    assert host.orphans == []
    for c in pristine.containers.values():
        assert host.containers[c.key].stack() == c.stack()
    app = host.images[_app(pristine)]
    assert app.stack() == pristine.images[_app(pristine)].stack()
    assert app.size is None  # a layer's size is unreadable


def test_a_layer_without_its_record_is_still_used(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, layer_record_removed)
    host = load_host(str(root))
    base = _app_layers(pristine)[-1]
    assert host.layers[base].role is Role.IMAGE and not host.layers[base].collectable
    for c in pristine.containers.values():
        assert host.containers[c.key].stack() == c.stack()
    for key, image in pristine.images.items():
        assert host.images[key].stack() == image.stack()


def test_an_image_whose_layers_are_unknown_has_no_size(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, image_records_wrong_types)
    host = load_host(str(root))
    app = host.images[_app(pristine)]
    assert [layer.id for layer in app.layers] == [None, None, None]
    assert [layer.diff_id for layer in app.layers] == [
        layer.diff_id for layer in pristine.images[_app(pristine)].layers
    ]
    assert app.size is None
    # big-data sizes unreadable: the items' files say as much (podman's Size)
    answers = json.loads((FIXTURES / "answers-rootful.json").read_text())
    sizes = {"sha256:" + i["Id"]: i["Size"] for i in answers["podman_images"]}
    tool = next(i for i in host.images.values() if "localhost/scope/tool:1" in i.tags)
    assert tool.size == sizes[tool.id]


def test_runtime_files_stay_apart_without_the_state_db(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, bolt_state_garbage)
    host = load_host(str(root))
    assert host.engine == "Podman"
    idle = host.containers[_container(pristine, "idle")]
    assert idle.state == "unknown"
    assert idle.runtime_files == pristine.containers[idle.key].runtime_files != ()


@pytest.mark.parametrize("where", ["libpod/db.sql", "db.sql"])
def test_a_podman5_store_keeps_its_runtime_files_apart(
    store: tuple[Path, dict[str, Any]],
    pristine: Host,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    """Podman 5 keeps its state in SQLite (not read): still Podman's store, whose runtime
    files `podman diff` hides."""
    root = _damaged(store, pristine, tmp_path, lambda r, h: (r / BOLT).unlink())
    with sqlite3.connect(root / where) as db:
        db.execute("CREATE TABLE DBConfig (ID INTEGER PRIMARY KEY NOT NULL)")
    db.close()
    code, doc = run_json(capsys, "--offline", "--root", str(root), "container", "idle")
    assert code == 0
    answer = next(c for c in store[1]["containers"] if c["name"] == "idle")
    assert change_set(c for c in doc["changes"] if not c["runtime"]) == change_set(answer["diff"])
    upper = root / "overlay" / str(pristine.containers[answer["inspect"]["Id"]].layer) / "diff"
    present = {path for path in INIT_INODES if os.path.lexists(upper / path.lstrip("/"))}
    assert {c["path"] for c in doc["changes"] if c["runtime"]} == present != set()
    assert load_host(str(root)).engine == "Podman"


def test_containers_podman_knows_survive_a_lost_containers_json(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, containers_json_garbage)
    host = load_host(str(root))
    assert set(host.containers) == set(pristine.containers)
    web = host.containers[_container(pristine, "web")]
    # libpod's state says where the running one is mounted: its layer, hence its stack
    assert web.state == "running" and web.stack() == pristine.containers[web.key].stack()
    assert host.layers[web.layer or ""].role is Role.RW
    for c in host.containers.values():
        assert c.image_id == pristine.containers[c.key].image_id
    assert not any(layer.collectable for layer in host.layers.values())


def test_an_edited_config_is_reported_not_trusted(
    store: tuple[Path, dict[str, Any]], pristine: Host, tmp_path: Path
) -> None:
    root = _damaged(store, pristine, tmp_path, image_config_altered)
    host = load_host(str(root))
    [problem] = [p for p in host.problems if p.kind == "image-digest-mismatch"]
    assert problem.path == str(_config(root, pristine))
    app = host.images[_app(pristine)]
    assert app.stack() == pristine.images[_app(pristine)].stack()  # the records' layers


def test_lost_container_records_make_nothing_reclaimable_without_libpod(
    store: tuple[Path, dict[str, Any]],
    pristine: Host,
    pristine_reclaimable: set[str],
    tmp_path: Path,
) -> None:
    def cri_o_like(root: Path, host: Host) -> None:
        (root / BOLT).unlink()  # a store with no Podman state: CRI-O's, or a bare copy
        containers_json_garbage(root, host)

    root = _damaged(store, pristine, tmp_path, cri_o_like)
    run = run_sub("--json", "--offline", "--root", str(root), "df")
    assert run.code == 0, str(run)
    reclaimable = {layer["id"] for layer in run.json()["layers"] if layer["reclaimable"]}
    assert reclaimable <= pristine_reclaimable
