"""A layer dir no record names is an orphan only when nothing says it may be in use.

On copies of the captured Docker root and podman store, a stray dir (no record names it) is
an orphan; the same dir whose `merged/` is a real mount point (Docker), or whose `diff/` is
the upper dir of a real kernel overlay mount (containers/storage), or that a layer in use
stands on, or on a root whose container records are damaged, is `unresolved`: never listed
by `orphans`, never reclaimable in `df`, and given no removal command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Role
from tests.engine import CapturedRoot, unpack_snapshot
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.root

STRAY = "5" * 64
STRAY_LINK = "STRAYSTRAYSTRAYSTRAYSTRAYS"
PODMAN_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "podman"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


def _stray(layers_dir: Path) -> Path:
    """A layer dir no record names, as a pull interrupted before its record was written."""
    d = layers_dir / STRAY
    (d / "diff").mkdir(parents=True)
    (d / "diff" / "payload").write_bytes(b"x" * 10000)
    (d / "work").mkdir()
    (d / "merged").mkdir()
    (d / "link").write_text(STRAY_LINK)
    (layers_dir / "l" / STRAY_LINK).symlink_to(f"../{STRAY}/diff")
    return d


def _mount(*args: str) -> None:
    res = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        _skip_or_fail(f"cannot mount here ({res.stderr.strip()})")


@pytest.fixture
def docker_root(captured_root: CapturedRoot, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    _stray(root / "overlay2")
    return root


def _orphans_and_df(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[set[str], set[str], dict[str, dict[str, object]]]:
    """(orphan ids, ids df calls reclaimable, df's layers by id)."""
    code, orphans = run_json(capsys, "--offline", "--root", str(root), "orphans")
    assert code == 0
    code, df = run_json(capsys, "--offline", "--root", str(root), "df")
    assert code == 0
    layers = {la["id"]: la for la in df["layers"]}
    return {o["id"] for o in orphans}, {i for i, la in layers.items() if la["reclaimable"]}, layers


def _assert_unresolved(root: Path, capsys: pytest.CaptureFixture[str], why: str) -> None:
    layer = load_host(str(root)).layers[STRAY]
    assert layer.role is Role.UNRESOLVED
    assert layer.unresolved is not None and why in layer.unresolved
    orphans, reclaimable, layers = _orphans_and_df(root, capsys)
    assert STRAY not in orphans and STRAY not in reclaimable
    assert layers[STRAY]["role"] == "unresolved"
    code, listed = run_json(capsys, "--offline", "--root", str(root), "layers")
    assert code == 0
    assert {la["id"]: la["unresolved"] for la in listed}[STRAY] == layer.unresolved
    code, out, _ = run_text(capsys, "--offline", "--root", str(root), "orphans")
    assert code == 0
    assert "maybe in use" in out
    assert not [line for line in out.splitlines() if "rm -rf" in line and STRAY in line]


def test_a_stray_dir_is_an_orphan(docker_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: nothing says the stray dir is in use."""
    host = load_host(str(docker_root))
    assert host.layers[STRAY].role is Role.ORPHAN and host.owners_known
    orphans, reclaimable, _ = _orphans_and_df(docker_root, capsys)
    assert STRAY in orphans and STRAY in reclaimable


def test_a_mounted_stray_dir_is_unresolved(
    docker_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = docker_root / "overlay2" / STRAY / "merged"
    if os.geteuid() != 0:
        _skip_or_fail("not root: cannot mount")
    _mount("-t", "tmpfs", "-o", "size=1m", "stray", str(merged))
    try:
        _assert_unresolved(docker_root, capsys, "mounted")
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_a_stray_dir_a_used_layer_stands_on_is_unresolved(
    docker_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = load_host(str(docker_root))
    top = next(
        la for la in sorted(host.layers.values(), key=lambda la: la.id) if la.role is Role.IMAGE
    )
    lower = docker_root / "overlay2" / top.id / "lower"
    before = lower.read_text() if lower.exists() else ""
    lower.write_text(":".join(p for p in (before, f"l/{STRAY_LINK}") if p))
    _assert_unresolved(docker_root, capsys, "stands on it")


def test_damaged_container_records_leave_a_stray_dir_unresolved(
    docker_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One container's config unreadable: its rw dir's record is lost, so no unnamed dir can be
    told from it, and no layer is reclaimable for want of a user."""
    pristine = load_host(str(docker_root))
    _, pristine_reclaimable, _ = _orphans_and_df(docker_root, capsys)
    container = sorted(c.id for c in pristine.containers.values())[0]
    config = docker_root / "containers" / container / "config.v2.json"
    config.write_bytes(b"{garbage")
    assert not load_host(str(docker_root)).owners_known
    _assert_unresolved(docker_root, capsys, "records that name its users are damaged")
    _, reclaimable, _ = _orphans_and_df(docker_root, capsys)
    assert reclaimable <= pristine_reclaimable


@pytest.fixture
def podman_root(tmp_path: Path) -> Iterator[Path]:
    archive = PODMAN_FIXTURES / "rootful.tar.xz"
    if os.geteuid() != 0:
        _skip_or_fail("not root: whiteout device nodes and overlay xattrs need root to unpack")
    root = unpack_snapshot(archive, tmp_path / "store")
    _stray(root / "overlay")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_stray_dir_of_containers_storage_under_a_live_overlay_is_unresolved(
    podman_root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert load_host(str(podman_root)).layers[STRAY].role is Role.ORPHAN
    stray = podman_root / "overlay" / STRAY
    lower = tmp_path / "lower"
    lower.mkdir()
    _mount(
        "-t",
        "overlay",
        "stray",
        "-o",
        f"lowerdir={lower},upperdir={stray / 'diff'},workdir={stray / 'work'}",
        str(stray / "merged"),
    )
    try:
        _assert_unresolved(podman_root, capsys, "upper dir")
    finally:
        subprocess.run(["umount", str(stray / "merged")], check=True)


def test_unreadable_layer_records_leave_a_containers_storage_stray_unresolved(
    podman_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = podman_root / "overlay-layers" / "layers.json"
    index.write_text(json.dumps({"not": "a list"}))
    _assert_unresolved(podman_root, capsys, "layers.json")
