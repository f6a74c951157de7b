"""The captured podman stores (fixtures/podman/, rootful and rootless): every answer
overlayscope gives about them equals what podman answered at capture time
(answers-*.json), and every merged view equals the kernel's.

What CI relies on where no podman can run: the same checks as the live-engine tests
(tests/podman_checks.py), on stores podman 4.3 wrote while a container was running, read
offline from another path than the one they were made at.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.model import ChangeRule, Container, Image, Role, Store
from overlayscope.union.host_stacks import build_stack
from tests.engine import unpack_snapshot
from tests.podman_checks import (
    INIT_INODES,
    PodmanStore,
    change_set,
    check_container_changes,
    check_containers,
    check_df,
    check_image_changes,
    check_images,
    check_layer_sharing,
    check_layers,
    ours,
)
from tests.podman_views import (
    SCENARIO_PATHS,
    check_file_commands,
    check_merged_view,
    kernel_view,
)
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.root

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "podman"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module", params=["rootful", "rootless"])
def captured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PodmanStore]:
    """A captured store unpacked as it was archived (xattrs, whiteout devices, owners)."""
    kind = request.param
    archive, answers_path = FIXTURES / f"{kind}.tar.xz", FIXTURES / f"answers-{kind}.json"
    if not archive.is_file() or not answers_path.is_file():
        pytest.fail(f"{archive} is missing: run fixtures/podman/capture.py", pytrace=False)
    if os.geteuid() != 0:
        _skip_or_fail("not root: whiteout device nodes and overlay xattrs need root to unpack")
    answers = json.loads(answers_path.read_text())
    dest = tmp_path_factory.mktemp(f"podman-{kind}")
    try:
        unpack_snapshot(archive, dest)
        yield PodmanStore(dest, answers, Path(answers["graph_root"]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_the_store_is_read_as_podmans(captured: PodmanStore) -> None:
    host = captured.host()
    assert (host.store, host.driver, host.engine) == (Store.CONTAINERS_STORAGE, "overlay", "Podman")
    assert host.change_rule is ChangeRule.UPPER
    assert host.problems == []
    assert all(layer.role is not Role.ORPHAN for layer in host.layers.values())


def test_containers_equal_podman_inspect(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    check_containers(captured, ours(capsys, captured, "containers"))


def test_layers_equal_the_records_and_graph_driver_data(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    check_layers(captured, ours(capsys, captured, "layers"))


def test_images_equal_podman_images(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = ours(capsys, captured, "images")
    check_images(captured, listed)
    check_layer_sharing(captured, listed)


def test_check_and_orphans_find_nothing_wrong(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ours(capsys, captured, "orphans") == []
    code, report = run_json(capsys, "--offline", "--root", str(captured.root), "check")
    assert (code, report) == (0, {"ok": True, "store": "containers-storage", "problems": []})


def test_container_changes_equal_podman_diff(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    for answer in captured.containers:
        doc = ours(capsys, captured, "container", answer["name"])
        check_container_changes(captured, answer["name"], doc)
    # What the scenario made each container do is in podman's diff, hence in ours.
    web = ours(capsys, captured, "container", "web")
    assert {("D", "/app/tmpdir"), ("A", "/app/tmpdir/new.txt"), ("D", "/app/logs")} <= change_set(
        web["changes"]
    )
    idle = ours(capsys, captured, "container", "idle")
    assert change_set(c for c in idle["changes"] if not c["runtime"]) == {("C", "/etc")}
    assert {c["path"] for c in idle["changes"] if c["runtime"]} <= INIT_INODES
    assert ours(capsys, captured, "container", "fresh")["changes"] == []


def test_image_changes_equal_podman_diff_image(captured: PodmanStore) -> None:
    check_image_changes(captured, captured.host())


def test_merged_views_equal_the_kernels(captured: PodmanStore) -> None:
    """Each container's and image's whole merged view, entry by entry, against a read-only
    kernel overlay of the same layer dirs."""
    host = captured.host()
    content = {lid: Path(layer.content_dir) for lid, layer in host.layers.items()}
    objects: list[tuple[dict[str, Any], Container | Image]] = [
        (c["inspect"], host.containers[c["inspect"]["Id"]]) for c in captured.containers
    ]
    objects += [(i["inspect"], host.images["sha256:" + i["id"]]) for i in captured.images]
    compared = 0
    for inspect, obj in objects:
        stack = build_stack(host, obj)
        with kernel_view(captured.graph_dirs(inspect), userxattr=captured.rootless) as view:
            compared += check_merged_view(stack, view, content)
    assert compared > 1000


@pytest.mark.parametrize("ref", ["web", "stopped", "tool-exited", "localhost/scope/app:1"])
def test_where_ls_cat_diff_equal_the_kernel_view(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    if ref.startswith("localhost/"):
        inspect = captured.image(ref)["inspect"]
    else:
        inspect = captured.container(ref)["inspect"]
    dirs = captured.graph_dirs(inspect)
    rootless = captured.rootless
    with (
        kernel_view(dirs, userxattr=rootless) as view,
        kernel_view(dirs[1:], userxattr=rootless) as below,
    ):
        check_file_commands(capsys, captured, ref, view, below, SCENARIO_PATHS)


def test_df_equals_du_and_podmans_sizes(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    check_df(captured, ours(capsys, captured, "df"))


def test_audit_leaves_podmans_runtime_files_alone(
    captured: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = ours(capsys, captured, "audit")
    host = captured.host()
    runtime = {(c.id, path) for c in host.containers.values() for path in c.runtime_files}
    flagged = [
        f
        for f in doc["findings"]
        if (f["container"], f["path"]) in runtime and f["severity"] != "info"
    ]
    assert flagged == []
    # what the containers themselves added is still found
    web = captured.container("web")["inspect"]["Id"]
    assert any(
        (f["container"], f["path"], f["kind"]) == (web, "/app/bin/tool-link", "executable-added")
        for f in doc["findings"]
    )
