"""The captured legacy `overlay` data root, read offline, agrees with what its engine answered.

fixtures/legacy-overlay/root.tar.xz is a real dockerd 20.10's data root on the legacy
`overlay` driver, archived live; answers.json holds the engine's answers at that moment
(`docker diff`, `inspect --size`, GraphDriver, image sizes, `system df -v`, each build step's
layer, the `docker save` tarballs' listings, the kernel's merged views). This is what CI
relies on where no dockerd with that driver can run (Docker ≥ 24 has none).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role, Store
from overlayscope.union import LayerStack, read_merged
from overlayscope.union.host_stacks import build_stack
from tests.engine import CapturedRoot
from tests.legacy_overlay_engine import (
    APP,
    APP_DELETED,
    APP_PATHS,
    DANGLE,
    SETUID_PATH,
    TOOL,
    legacy_captured,
)
from tests.legacy_overlay_oracles import SavedLayer, dive_figures, kind_of, tar_winners
from tests.root.cli_helpers import run_json
from tests.usage.measure import apparent_as_du_counts, du_allocated

pytestmark = pytest.mark.root
__all__ = ["legacy_captured"]  # the fixture, for pytest

_KIND = {0: "C", 1: "A", 2: "D"}


@pytest.fixture(scope="module")
def host(legacy_captured: CapturedRoot) -> Host:
    return load_host(str(legacy_captured.path))


def _cli(capsys: pytest.CaptureFixture[str], legacy_captured: CapturedRoot, *args: str) -> Any:
    code, out = run_json(capsys, "--offline", "--root", str(legacy_captured.path), *args)
    assert code == 0, out
    return out


def _dir_id(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def _tarballs(legacy_captured: CapturedRoot, tag: str) -> list[SavedLayer]:
    saved = legacy_captured.answers["tarballs"]
    return [SavedLayer.from_json(saved["layers"][d]) for d in saved["images"][tag]]


def _image(legacy_captured: CapturedRoot, tag: str) -> str:
    images: dict[str, str] = legacy_captured.answers["scenario"]["images"]
    return images[tag]


# --------------------------------------------------------------------------- inventory


def test_the_root_is_healthy(
    host: Host, legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert host.store is Store.DOCKER_OVERLAY and host.driver == "overlay"
    assert host.problems == [] and host.orphans == []
    assert _cli(capsys, legacy_captured, "check") == {
        "ok": True,
        "store": "docker-overlay",
        "problems": [],
    }
    assert {la["store"] for la in _cli(capsys, legacy_captured, "layers")} == {"docker-overlay"}


def test_containers_are_what_the_engine_said(
    host: Host, legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = {c["id"]: c for c in _cli(capsys, legacy_captured, "containers")}
    answers = legacy_captured.answers["containers"]
    assert set(listed) == {a["id"] for a in answers} == set(host.containers)
    for a in answers:
        c, data = listed[a["id"]], a["graph_driver"]["Data"]
        assert (c["name"], c["state"], c["image"]) == (a["name"], a["state"], a["image"])
        assert c["size"] == a["size_rw"], a["name"]
        assert c["layer"] == _dir_id(data["UpperDir"])
        assert c["init_layer"] == c["layer"] + "-init"
        top = _dir_id(data["LowerDir"])
        for lid in (c["layer"], c["init_layer"]):
            layer = host.layers[lid]
            assert layer.lower == (top,) and layer.content_dir.endswith(lid + "/upper")
        assert host.layers[c["layer"]].role is Role.RW
        assert host.layers[c["init_layer"]].role is Role.INIT


def test_images_are_what_the_engine_said(
    host: Host, legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = {i["id"]: i for i in _cli(capsys, legacy_captured, "images")}
    answers = legacy_captured.answers["images"]
    assert set(listed) == {a["id"] for a in answers}
    df = {i["Id"]: i for i in legacy_captured.answers["system_df"]["Images"]}
    for a in answers:
        image = listed[a["id"]]
        assert image["size"] == a["size"]
        assert sorted(image["tags"]) == a["tags"]
        assert [la["diff_id"] for la in image["layers"]] == a["rootfs_layers"]
        assert host.layers[image["layers"][-1]["id"]].content_dir == str(
            legacy_captured.here(a["graph_driver"]["Data"]["RootDir"])
        )
        if a["id"] in df:
            assert image["shared_size"] == df[a["id"]]["SharedSize"]
        assert image["intermediate"] == (a["id"] not in df)
    app = listed[_image(legacy_captured, APP)]
    steps = {v: k for k, v in legacy_captured.answers["steps"].items()}
    sizes = {steps[la["id"]]: la["size"] for la in app["layers"][1:]}
    assert sizes == legacy_captured.answers["history_sizes"]


# --------------------------------------------------------------------------- changes


def test_container_is_docker_diff(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    for a in legacy_captured.answers["containers"]:
        got = _cli(capsys, legacy_captured, "container", a["id"])
        assert sorted((c["path"], c["kind"]) for c in got["changes"]) == sorted(
            (d["path"], d["kind"]) for d in a["diff"]
        ), a["name"]


# --------------------------------------------------------------------------- provenance


@pytest.mark.parametrize("tag", [APP, TOOL, DANGLE])
def test_layers_and_winners_are_the_tarballs(
    host: Host, legacy_captured: CapturedRoot, tag: str
) -> None:
    image = host.images[_image(legacy_captured, tag)]
    tarballs = _tarballs(legacy_captured, tag)
    stack = build_stack(host, image)
    for layer, tarball in zip(reversed(stack.layers), tarballs, strict=True):
        ours = {
            p: "whiteout" if e.kind.value == "whiteout" else "dir" if e.kind.is_dir
            else e.kind.value
            for p, e in layer.index.entries.items()
            if p != "/"
        }  # fmt: skip
        theirs = {p: "file" if k == "hardlink" else k for p, k in tarball.entries.items()}
        theirs.update((p, "whiteout") for p in tarball.whiteouts)
        assert ours == theirs, layer.id
    ids = [il.id or "" for il in image.layers]
    expected = tar_winners(list(zip(ids, tarballs, strict=True)))
    assert {m.path: m.layer_id for m in stack.walk() if m.path != "/"} == expected


def test_where_names_the_step(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = legacy_captured.answers["steps"]
    for path, step in APP_PATHS.items():
        got = _cli(capsys, legacy_captured, "where", APP, path)
        assert got["visible"] and got["winner"] == steps[step], path
    for path, step in APP_DELETED.items():
        got = _cli(capsys, legacy_captured, "where", APP, path)
        assert not got["visible"], path
        assert (got["stack"][0]["layer"], got["stack"][0]["state"]) == (steps[step], "whiteout")


def _view(stack: LayerStack) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in stack.walk():
        if m.path == "/":
            continue
        kind = kind_of(m.entry.mode)
        held = (
            hashlib.sha256(read_merged(stack, m.path)).hexdigest() if kind == "file"
            else m.entry.target if kind == "symlink" else None
        )  # fmt: skip
        out[m.path] = [kind, 0 if kind == "dir" else m.entry.size, held]
    return out


@pytest.mark.parametrize("name", [APP, "web", "stopped", "stubs", "tool-exited", "fresh"])
def test_merged_views_are_the_kernels(host: Host, legacy_captured: CapturedRoot, name: str) -> None:
    if name == APP:
        obj: Any = host.images[_image(legacy_captured, APP)]
    else:
        [answer] = [c for c in legacy_captured.answers["containers"] if c["name"] == name]
        obj = host.containers[answer["id"]]
    assert _view(build_stack(host, obj)) == legacy_captured.answers["kernel"][name]


# --------------------------------------------------------------------------- usage, audit


def test_df_counts_every_inode_once(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    df = _cli(capsys, legacy_captured, "df")
    assert df["total"]["allocated"] == du_allocated(legacy_captured.path)
    dirs = [legacy_captured.path / "overlay" / u["id"] for u in df["layers"]]
    assert len(dirs) == len(os.listdir(legacy_captured.path / "overlay"))
    assert sum(u["apparent"] for u in df["layers"]) == apparent_as_du_counts(*dirs)
    assert df["layers_size"] == legacy_captured.answers["system_df"]["LayersSize"]
    # tar kept the hard links between the image layers' root/ trees
    overlay = str(legacy_captured.path / "overlay")
    out = subprocess.run(
        ["find", overlay, "-path", "*/root/bin/busybox", "-printf", "%i\n"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert len(out) == sum(u["role"] == "image" for u in df["layers"]) > 1
    assert len(set(out)) == 1


def test_efficiency_is_dives_on_the_tarballs(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    eff = _cli(capsys, legacy_captured, "efficiency", APP)
    dive = dive_figures(_tarballs(legacy_captured, APP))
    assert {p["path"]: (p["count"], p["cumulative_size"]) for p in eff["paths"]} == dive["paths"]
    assert eff["wasted_bytes"] == dive["wasted"]
    assert eff["score"] == pytest.approx(dive["score"])
    assert [la["content_size"] for la in eff["layers"]] == dive["content"]
    assert [la["hidden_bytes"] for la in eff["layers"]] == dive["hidden"]
    assert "/app/data/big.txt" in {p["path"] for p in eff["paths"]}


def test_audit_finds_the_setuid_file_in_its_layer_only(
    host: Host, legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _cli(capsys, legacy_captured, "audit", "--images")
    assert report["problems"] == []
    setuid = [(f["layer"], f["path"]) for f in report["findings"] if f["kind"] == "setuid-added"]
    assert setuid == [(legacy_captured.answers["steps"]["links"], SETUID_PATH)]
    by_diff = {
        d: SavedLayer.from_json(layer)
        for d, layer in legacy_captured.answers["tarballs"]["layers"].items()
    }
    diff_of = {la.id: la.diff_id for la in host.layers.values() if la.diff_id}
    for f in report["findings"]:
        if f["role"] == "image":
            tarball = by_diff[diff_of[f["layer"]]]
            assert f["path"] in tarball.entries or f["path"] in tarball.whiteouts, f


# --------------------------------------------------------------------------- known bugs


@pytest.mark.parametrize("command", ["containers", "images"])
def test_containers_and_images_say_their_store(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert {item["store"] for item in _cli(capsys, legacy_captured, command)} == {"docker-overlay"}


def test_df_container_size_is_size_rw(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    df = {c["id"]: c["size"] for c in _cli(capsys, legacy_captured, "df")["containers"]}
    assert df == {a["id"]: a["size_rw"] for a in legacy_captured.answers["containers"]}
