"""`df` and `efficiency` on Docker's legacy `overlay` driver, against the real engine.

Each image layer's `root/` there is a whole filesystem whose unchanged files are hard links
into the layer beneath: `du` counts each such inode once, and so must `df`. `efficiency` is
dive's, and dive reads the layer tarballs: the tarballs the engine itself gives (`docker
save`) are the oracle, read here with dive's rules (docs/usage.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.legacy_overlay_engine import (
    APP,
    DRIVER,
    LegacyScenario,
    history_sizes,
    legacy_overlay,
)
from tests.legacy_overlay_oracles import SavedLayer, dive_figures, saved_layers
from tests.root.cli_helpers import run_json
from tests.usage.measure import apparent_as_du_counts, du_allocated

pytestmark = pytest.mark.engine
__all__ = ["legacy_overlay"]  # the fixture, for pytest


@pytest.fixture
def df(legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, result = run_json(
        capsys, "--offline", "--root", str(legacy_overlay.data_root), "df", "--top", "1000"
    )
    assert code == 0
    assert isinstance(result, dict)
    return result


def _layer_dirs(scenario: LegacyScenario, df: dict[str, Any], *roles: str) -> list[Path]:
    return [scenario.layer_dir(u["id"]) for u in df["layers"] if u["role"] in roles]


# --------------------------------------------------------------------------- df


def test_total_allocated_is_du(legacy_overlay: LegacyScenario, df: dict[str, Any]) -> None:
    root = legacy_overlay.data_root
    assert df["total"]["allocated"] == du_allocated(root)
    assert df["total"]["allocated"] == sum(c["allocated"] for c in df["categories"])
    [web] = legacy_overlay.engine.inspect("web")
    assert df["skipped_mounts"] == [web["GraphDriver"]["Data"]["MergedDir"]]
    assert df["scan_problems"] == []


def test_an_inode_hard_linked_into_many_layers_counts_once(
    legacy_overlay: LegacyScenario, df: dict[str, Any]
) -> None:
    """busybox is one inode in every image layer's root/: du counts it once, so does df."""
    layers = {u["id"]: u for u in df["layers"]}
    image_dirs = _layer_dirs(legacy_overlay, df, "image")
    busybox = {os.lstat(d / "root" / "bin" / "busybox").st_ino for d in image_dirs}
    assert len(busybox) == 1 and len(image_dirs) > 5
    for roles, category in (
        (("image",), "image_layers"),
        (("rw",), "container_layers"),
        (("init",), "init_layers"),
    ):
        dirs = _layer_dirs(legacy_overlay, df, *roles)
        ours = [layers[d.name] for d in dirs]
        [cat] = [c for c in df["categories"] if c["name"] == category]
        assert sum(u["apparent"] for u in ours) == cat["apparent"] == apparent_as_du_counts(*dirs)
        assert sum(u["allocated"] for u in ours) == cat["allocated"] == du_allocated(*dirs)
    every = _layer_dirs(legacy_overlay, df, "image", "rw", "init")
    assert sum(u["apparent"] for u in layers.values()) == apparent_as_du_counts(*every)
    assert len(every) == len(os.listdir(legacy_overlay.data_root / DRIVER))


def test_images_containers_and_layers_size_are_system_dfs(
    legacy_overlay: LegacyScenario, df: dict[str, Any]
) -> None:
    truth = legacy_overlay.engine.client.df()
    assert df["layers_size"] == truth["LayersSize"]
    images = {i["id"]: i for i in df["images"]}
    for image in truth["Images"]:
        mine = images[image["Id"]]
        assert (mine["size"], mine["shared_size"]) == (image["Size"], image["SharedSize"])
    containers = {c["id"]: c for c in df["containers"]}
    assert set(containers) == {c["Id"] for c in truth["Containers"]}
    for c in truth["Containers"]:
        assert containers[c["Id"]]["active"] == (c["State"] == "running")
        assert containers[c["Id"]]["layer"] is not None


def test_df_container_size_is_size_rw(legacy_overlay: LegacyScenario, df: dict[str, Any]) -> None:
    for c in df["containers"]:
        [truth] = legacy_overlay.engine.inspect(c["id"], size=True)
        assert c["size"] == truth["SizeRw"], c["name"]


def test_df_image_layer_size_is_the_recorded_one(
    legacy_overlay: LegacyScenario, df: dict[str, Any]
) -> None:
    sizes = history_sizes(legacy_overlay.engine, APP)
    by_id = {u["id"]: u for u in df["layers"]}
    assert {step: by_id[legacy_overlay.steps[step]]["size"] for step in sizes} == sizes


def test_a_container_never_started_has_no_copy_up(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    [fresh] = legacy_overlay.engine.inspect("fresh")
    assert fresh["State"]["Status"] == "created"
    assert fresh["State"]["StartedAt"].startswith("0001-")  # never mounted, never run
    code, df = run_json(
        capsys, "--offline", "--root", str(legacy_overlay.data_root), "df", "--containers"
    )
    assert code == 0
    [ups] = [c["copy_ups"] for c in df["containers"] if c["name"] == "fresh"]
    assert (ups["copied_up_files"], ups["metadata_only_files"]) == (0, 0)


def _introduced(scenario: LegacyScenario, layer_id: str, parent: str | None) -> tuple[int, int]:
    """(apparent, allocated) of the inodes an image layer's dir holds and its parent's
    `root/` does not: what the layer itself brought (each inode once)."""
    beneath = _inodes(scenario.layer_dir(parent) / "root") if parent else set()
    top = scenario.layer_dir(layer_id)
    apparent = allocated = 0
    seen: set[int] = set()
    for dirpath, dirnames, filenames in os.walk(top):
        names = [*dirnames, *filenames, *(["."] if dirpath == str(top) else [])]
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino in beneath or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            allocated += st.st_blocks * 512
            apparent += 0 if stat.S_ISDIR(st.st_mode) else st.st_size
    return apparent, allocated


def _inodes(top: Path) -> set[int]:
    out: set[int] = set()
    for dirpath, _, filenames in os.walk(top):
        out.update(os.lstat(os.path.join(dirpath, f)).st_ino for f in filenames)
    return out


def test_each_image_layer_counts_the_inodes_it_brought(
    legacy_overlay: LegacyScenario, df: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, images = run_json(capsys, "--offline", "--root", str(legacy_overlay.data_root), "images")
    assert code == 0
    parent: dict[str, str | None] = {}
    for image in images:
        ids = [layer["id"] for layer in image["layers"]]
        for below, above in zip([None, *ids], ids, strict=False):
            parent[above] = below
    by_id = {u["id"]: u for u in df["layers"]}
    for lid, below in parent.items():
        apparent, allocated = _introduced(legacy_overlay, lid, below)
        assert (by_id[lid]["apparent"], by_id[lid]["allocated"]) == (apparent, allocated), lid


# --------------------------------------------------------------------------- efficiency


@pytest.fixture(scope="module")
def saved_app(
    legacy_overlay: LegacyScenario, tmp_path_factory: pytest.TempPathFactory
) -> list[SavedLayer]:
    return saved_layers(legacy_overlay.engine, APP, tmp_path_factory.mktemp("saved"))


def test_efficiency_is_dives_on_the_engines_tarballs(
    legacy_overlay: LegacyScenario,
    saved_app: list[SavedLayer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = str(legacy_overlay.data_root)
    code, eff = run_json(capsys, "--offline", "--root", root, "efficiency", APP)
    assert code == 0
    dive = dive_figures(saved_app)
    assert {p["path"]: (p["count"], p["cumulative_size"]) for p in eff["paths"]} == dive["paths"]
    assert eff["wasted_bytes"] == eff["user_wasted_bytes"] == dive["wasted"]
    assert eff["score"] == pytest.approx(dive["score"])
    assert [la["content_size"] for la in eff["layers"]] == dive["content"]
    assert [la["size"] for la in eff["layers"]] == dive["content"]  # UnpackLayer's count
    assert eff["user_size"] == sum(dive["content"][1:])
    assert [la["hidden_bytes"] for la in eff["layers"]] == dive["hidden"]
    assert eff["hidden_bytes"] == sum(dive["hidden"])
    truth = legacy_overlay.engine.client.api.inspect_image(APP)
    assert (eff["image"], eff["size"]) == (truth["Id"], truth["Size"])
    code, via = run_json(capsys, "--offline", "--root", root, "efficiency", "web")
    assert via == eff


def test_a_file_overwritten_in_a_later_step_is_wasted(
    legacy_overlay: LegacyScenario,
    saved_app: list[SavedLayer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, eff = run_json(
        capsys, "--offline", "--root", str(legacy_overlay.data_root), "efficiency", APP
    )
    assert code == 0
    sizes = [la.sizes["/app/data/big.txt"] for la in saved_app if "/app/data/big.txt" in la.sizes]
    assert len(sizes) == 2  # written by `tree`, overwritten by `changes`
    [big] = [p for p in eff["paths"] if p["path"] == "/app/data/big.txt"]
    assert (big["count"], big["cumulative_size"]) == (2, sum(sizes))
    assert eff["paths"][0] == big  # the largest waste
    tree = next(la for la in eff["layers"] if la["id"] == legacy_overlay.steps["tree"])
    assert tree["hidden_bytes"] >= sizes[0]
    # the chmod-only change copied the whole file: it is sighted twice too
    [leaf] = [p for p in eff["paths"] if p["path"] == "/app/data/nested/deeper/leaf.txt"]
    assert leaf["count"] == 2
