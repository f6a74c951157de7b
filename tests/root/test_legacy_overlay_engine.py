"""containers / images / layers / orphans / check on Docker's legacy `overlay` driver.

Every expected value is the engine's own: its layer store's files (`cache-id`, `mount-id`,
`init-id`), `docker inspect` (GraphDriver data, `--size` SizeRw, image Size), `docker
system df -v`, and the dirs it made under `overlay/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.legacy_overlay_engine import (
    APP,
    CONTAINERS,
    DRIVER,
    TOOL,
    LegacyScenario,
    dir_id,
    history_sizes,
    legacy_overlay,
)
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine
__all__ = ["legacy_overlay"]  # the fixture, for pytest

STORE = "docker-overlay"


def _offline(capsys: pytest.CaptureFixture[str], scenario: LegacyScenario, command: str) -> Any:
    code, out = run_json(capsys, "--offline", "--root", str(scenario.data_root), command)
    assert code == 0, out
    return out


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_every_layer_record_and_mount_maps_to_its_dir(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    root = legacy_overlay.data_root
    layerdb = root / "image" / DRIVER / "layerdb"
    image_dirs = {_read(rec / "cache-id") for rec in (layerdb / "sha256").iterdir()}
    rw_dirs = {_read(m / "mount-id"): m.name for m in (layerdb / "mounts").iterdir()}
    init_dirs = {_read(m / "init-id"): m.name for m in (layerdb / "mounts").iterdir()}
    layers = {layer["id"]: layer for layer in _offline(capsys, legacy_overlay, "layers")}
    assert set(layers) == set(os.listdir(root / DRIVER))
    assert set(layers) == image_dirs | set(rw_dirs) | set(init_dirs)
    for lid, layer in layers.items():
        here = root / DRIVER / lid
        assert layer["problems"] == [] and layer["link"] is None
        if lid in image_dirs:
            # a full tree, and nothing else: ApplyDiff removed upper/, work/ and lower-id
            assert layer["role"] == "image" and layer["lower"] == []
            assert os.listdir(here) == ["root"]
            assert layer["path"] == str(here / "root")
        else:
            role, owner = ("rw", rw_dirs[lid]) if lid in rw_dirs else ("init", init_dirs[lid])
            assert (layer["role"], layer["owners"]) == (role, [owner])
            assert layer["path"] == str(here / "upper")
            assert layer["lower"] == [_read(here / "lower-id")]
            assert layer["lower"][0] in image_dirs


def test_graph_driver_data_is_what_our_layers_say(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = legacy_overlay.engine
    layers = {layer["id"]: layer for layer in _offline(capsys, legacy_overlay, "layers")}
    containers = {c["id"]: c for c in _offline(capsys, legacy_overlay, "containers")}
    assert set(containers) == set(legacy_overlay.containers.values())
    for name, cid in legacy_overlay.containers.items():
        [truth] = eng.inspect(cid)
        assert truth["GraphDriver"]["Name"] == DRIVER
        data = truth["GraphDriver"]["Data"]
        c = containers[cid]
        rw, init = layers[c["layer"]], layers[c["init_layer"]]
        assert c["init_layer"] == c["layer"] + "-init"
        assert data["UpperDir"] == rw["path"], name
        assert data["WorkDir"] == os.path.join(os.path.dirname(rw["path"]), "work")
        assert data["MergedDir"] == os.path.join(os.path.dirname(rw["path"]), "merged")
        # LowerDir: the image's top layer's root/ — under the init layer as well
        [image] = eng.inspect(truth["Image"])
        assert data["LowerDir"] == image["GraphDriver"]["Data"]["RootDir"]
        assert rw["lower"] == init["lower"] == [dir_id(data["LowerDir"])]
    for image in _offline(capsys, legacy_overlay, "images"):
        [truth] = eng.inspect(image["id"])
        top = layers[image["layers"][-1]["id"]]
        assert truth["GraphDriver"]["Data"] == {"RootDir": top["path"]}


def test_images_are_dockers(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    api = legacy_overlay.engine.client.api
    images = _offline(capsys, legacy_overlay, "images")
    assert {i["id"] for i in images} == {i["Id"] for i in api.images(all=True)}
    listed = {i["Id"]: i for i in legacy_overlay.engine.client.df()["Images"]}
    for image in images:
        truth = api.inspect_image(image["id"])
        assert image["size"] == truth["Size"] == sum(layer["size"] for layer in image["layers"])
        assert sorted(image["tags"]) == sorted(truth["RepoTags"] or [])
        assert [layer["diff_id"] for layer in image["layers"]] == truth["RootFS"]["Layers"]
        if image["id"] in listed:
            assert image["shared_size"] == listed[image["id"]]["SharedSize"]
            assert image["unique_size"] == truth["Size"] - listed[image["id"]]["SharedSize"]
            assert not image["intermediate"]
        else:
            assert image["intermediate"]
    by_id = {i["id"]: i for i in images}
    dangling = by_id[legacy_overlay.images["dangling"]]
    assert dangling["dangling"] and not dangling["tags"]
    app, tool = by_id[legacy_overlay.images[APP]], by_id[legacy_overlay.images[TOOL]]
    assert app["layers"][0]["id"] == tool["layers"][0]["id"] == legacy_overlay.steps["base"]
    # each step's layer, at the size `docker history` gives it
    sizes = history_sizes(legacy_overlay.engine, APP)
    assert {legacy_overlay.step_of(la["id"]): la["size"] for la in app["layers"][1:]} == sizes


def test_containers_are_dockers(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = legacy_overlay.engine
    for c in _offline(capsys, legacy_overlay, "containers"):
        [truth] = eng.inspect(c["id"], size=True)
        assert c["name"] == truth["Name"].lstrip("/")
        assert c["state"] == truth["State"]["Status"]
        assert c["image"] == truth["Image"]
        assert c["size"] == truth["SizeRw"], c["name"]
    states = {c["name"]: c["state"] for c in _offline(capsys, legacy_overlay, "containers")}
    assert states == {"web": "running", "stopped": "exited", "tool-exited": "exited",
                      "fresh": "created", "stubs": "exited"}  # fmt: skip


def test_a_healthy_root_has_no_problem_and_no_orphan(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _offline(capsys, legacy_overlay, "check") == {
        "ok": True,
        "store": "docker-overlay",
        "problems": [],
    }
    assert _offline(capsys, legacy_overlay, "orphans") == []


def test_the_live_daemon_is_found_and_agrees(
    legacy_overlay: LegacyScenario,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --root: the daemon's DockerRootDir, its `Driver: overlay` accepted, its view
    cross-checked with the disk (a disagreement would be a problem)."""
    monkeypatch.setenv("DOCKER_HOST", legacy_overlay.engine.host)
    code, report = run_json(capsys, "check")
    assert (code, report) == (0, {"ok": True, "store": "docker-overlay", "problems": []})
    code, containers = run_json(capsys, "containers")
    assert code == 0
    assert {c["name"] for c in containers} == set(CONTAINERS)
    for c in containers:
        [truth] = legacy_overlay.engine.inspect(c["id"], size=True)
        assert (c["state"], c["size"]) == (truth["State"]["Status"], truth["SizeRw"])


def test_layers_say_their_store(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {layer["store"] for layer in _offline(capsys, legacy_overlay, "layers")} == {STORE}


@pytest.mark.parametrize("command", ["containers", "images"])
def test_containers_and_images_say_their_store(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert {item["store"] for item in _offline(capsys, legacy_overlay, command)} == {STORE}
