"""Damage to a legacy `overlay` data root is said once, precisely, at the file that is wrong.

Each test copies the captured root (fixtures/legacy-overlay/, hard links and xattrs kept),
breaks one thing the way a failed removal or a bad copy would, and reads `check`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engine import CapturedRoot
from tests.legacy_overlay_engine import legacy_captured
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.root
__all__ = ["legacy_captured"]  # the fixture, for pytest


@pytest.fixture
def copy(legacy_captured: CapturedRoot, tmp_path: Path) -> Path:
    dest = tmp_path / "root"
    subprocess.run(["cp", "-a", str(legacy_captured.path), str(dest)], check=True)
    return dest


def _layer(legacy_captured: CapturedRoot, root: Path, *, step: str = "", name: str = "") -> Path:
    """An image layer's dir by build step, or a container's rw dir by name."""
    answers = legacy_captured.answers
    if step:
        layer_id = str(answers["steps"][step])
    else:
        [c] = [c for c in answers["containers"] if c["name"] == name]
        layer_id = os.path.basename(os.path.dirname(c["graph_driver"]["Data"]["UpperDir"]))
    return root / "overlay" / layer_id


def _problems(capsys: pytest.CaptureFixture[str], root: Path) -> list[dict[str, Any]]:
    code, report = run_json(capsys, "--offline", "--root", str(root), "check")
    assert code == 1 and not report["ok"]
    problems: list[dict[str, Any]] = report["problems"]
    return problems


def test_an_image_layer_that_lost_its_tree_is_one_problem(
    legacy_captured: CapturedRoot, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image layer's dir holds only `root/`; without it, it is that layer's missing tree —
    not also a container layer over no layer (it never had a `lower-id`)."""
    layer = _layer(legacy_captured, copy, step="tree")
    assert os.listdir(layer) == ["root"]
    subprocess.run(["rm", "-rf", str(layer / "root")], check=True)
    assert _problems(capsys, copy) == [
        {"kind": "missing-diff", "path": str(layer), "detail": "no root/ and no upper/"}
    ]
    code, _ = run_json(capsys, "--offline", "--root", str(copy), "layers")
    assert code == 0


def test_a_container_layer_without_lower_id_says_so(
    legacy_captured: CapturedRoot, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(legacy_captured, copy, name="stopped")
    (layer / "lower-id").unlink()
    found = _problems(capsys, copy)
    assert {"kind": "bad-metadata", "path": str(layer / "lower-id"),
            "detail": "missing: an upper dir over no layer"} in found  # fmt: skip
    assert {p["kind"] for p in found} <= {"bad-metadata", "lower-mismatch"}


def test_a_lower_id_naming_a_missing_layer(
    legacy_captured: CapturedRoot, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(legacy_captured, copy, name="stopped")
    (layer / "lower-id").write_text("7" * 64)
    found = _problems(capsys, copy)
    assert found[0]["kind"] == "lower-missing-link"
    assert found[0]["path"] == str(layer / "lower-id")


def test_a_lower_id_naming_another_image_layer_is_reported_at_lower_id(
    legacy_captured: CapturedRoot, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(legacy_captured, copy, name="stopped")
    (layer / "lower-id").write_text(legacy_captured.answers["steps"]["tree"])
    [problem] = _problems(capsys, copy)
    assert (problem["kind"], problem["path"]) == ("lower-mismatch", str(layer / "lower-id"))
