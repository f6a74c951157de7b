"""`audit --images` and `timeline` on Docker's legacy `overlay` driver, against the real engine.

An image layer's `root/` there holds the whole filesystem, every unchanged file a hard link
to the one beneath: a finding must still belong to the layer that brought the entry, which
is the layer whose tarball (`docker save`, the engine's own) holds it — the setuid file added
by one RUN step is found there, not again in every layer above that links it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.legacy_overlay_engine import (
    APP,
    DANGLE,
    SETUID_PATH,
    TOOL,
    LegacyScenario,
    legacy_overlay,
)
from tests.legacy_overlay_oracles import SavedLayer, saved_layers
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine
__all__ = ["legacy_overlay"]  # the fixture, for pytest


def _run(capsys: pytest.CaptureFixture[str], scenario: LegacyScenario, *args: str) -> Any:
    code, out = run_json(capsys, "--offline", "--root", str(scenario.data_root), *args)
    assert code == 0, out
    return out


@pytest.fixture(scope="module")
def tarballs(
    legacy_overlay: LegacyScenario, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, SavedLayer]:
    """Every image layer's tarball, by overlay dir id (through its diff id)."""
    scratch = tmp_path_factory.mktemp("saved")
    dirs = {}
    root = legacy_overlay.data_root / "image" / "overlay" / "layerdb" / "sha256"
    for record in root.iterdir():
        dirs[(record / "diff").read_text().strip()] = (record / "cache-id").read_text().strip()
    out = {}
    for image in (APP, TOOL, DANGLE, "dangling"):
        ref = legacy_overlay.images[image]
        for layer in saved_layers(legacy_overlay.engine, ref, scratch):
            out[dirs[layer.diff_id]] = layer
    return out


def _upper(scenario: LegacyScenario, layer_id: str) -> Path:
    return scenario.layer_dir(layer_id) / "upper"


def test_audit_attributes_every_finding_to_the_layer_that_brought_it(
    legacy_overlay: LegacyScenario,
    tarballs: dict[str, SavedLayer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _run(capsys, legacy_overlay, "audit", "--images")
    assert report["images_audited"] and report["problems"] == []
    audited = {a["layer"]: a for a in report["audited"]}
    assert set(audited) == set(os.listdir(legacy_overlay.data_root / "overlay"))
    for lid, layer in tarballs.items():
        # what the layer holds, as a diff: its tarball's entries and whiteouts, and its root
        assert audited[lid]["entries"] == len(layer.entries) + len(layer.whiteouts) + 1, lid
    for f in report["findings"]:
        if f["role"] == "image":
            layer = tarballs[f["layer"]]
            assert f["path"] in layer.entries or f["path"] in layer.whiteouts, f
        else:
            assert os.path.lexists(_upper(legacy_overlay, f["layer"]) / f["path"].lstrip("/")), f
    setuid = [f for f in report["findings"] if f["kind"] == "setuid-added"]
    assert [(f["layer"], f["path"], f["role"]) for f in setuid] == [
        (legacy_overlay.steps["links"], SETUID_PATH, "image")
    ]
    assert setuid[0]["image"] == legacy_overlay.images[APP]
    busybox = [f for f in report["findings"] if f["path"] == "/bin/busybox"]
    assert [f["layer"] for f in busybox] == [legacy_overlay.steps["base"]]


def test_audit_of_containers_sees_their_own_changes_only(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rw layer's copies of the init layer's stubs are not the container's doing."""
    report = _run(capsys, legacy_overlay, "audit")
    assert report["problems"] == [] and not report["images_audited"]
    web = legacy_overlay.containers["web"]
    by_kind = {(f["kind"], f["path"]) for f in report["findings"] if f["container"] == web}
    assert ("executable-added", "/app/bin/tool-link") in by_kind
    assert not [f for f in report["findings"] if f["kind"] == "init-layer"]
    assert not [f for f in report["findings"] if f["role"] == "image"]
    for f in report["findings"]:
        assert f["path"] not in ("/.dockerenv", "/etc/hosts", "/etc/resolv.conf"), f


def test_timeline_of_a_container_lists_its_upper_dirs(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _run(capsys, legacy_overlay, "timeline", "web")
    assert got["problems"] == []
    [inspected] = legacy_overlay.engine.inspect("web")
    rw = Path(inspected["GraphDriver"]["Data"]["UpperDir"]).parent.name
    assert [(la["layer"], la["role"]) for la in got["layers"]] == [
        (rw, "rw"),
        (rw + "-init", "init"),
    ]
    for layer in (rw, rw + "-init"):
        upper = _upper(legacy_overlay, layer)
        on_disk = {}
        for dirpath, dirnames, filenames in os.walk(upper):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                on_disk["/" + os.path.relpath(full, upper)] = os.lstat(full).st_ino
        listed = {e["path"]: e["inode"] for e in got["entries"] if e["layer"] == layer}
        assert listed == on_disk


def test_timeline_of_an_image_runs_clean(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _run(capsys, legacy_overlay, "timeline", APP)
    assert got["problems"] == []
    assert [la["layer"] for la in got["layers"]] == [
        legacy_overlay.steps[s] for s in ("changes", "links", "blob", "tree", "base")
    ]
    assert {e["role"] for e in got["entries"]} == {"image"}


def test_timeline_lists_an_image_entry_in_the_layer_that_brought_it(
    legacy_overlay: LegacyScenario,
    tarballs: dict[str, SavedLayer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    got = _run(capsys, legacy_overlay, "timeline", APP)
    setuid = [e["layer"] for e in got["entries"] if e["path"] == SETUID_PATH]
    assert setuid == [legacy_overlay.steps["links"]]
    for e in got["entries"]:
        layer = tarballs[e["layer"]]
        assert e["path"] in layer.entries or e["path"] in layer.whiteouts, e
