"""The captured containerd root (fixtures/containerd/root.tar.xz, unpacked) against the answers
containerd gave at the moment it was archived (answers.json): offline, no engine needed.

The same checks as the live tests (tests/root/containerd_oracle.py), so a copy of a host's
/var/lib/containerd, read years later on another machine, answers as the engine did then.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from tests.containerd_fixtures import CapturedContainerd
from tests.root.cli_helpers import run_json
from tests.root.containerd_oracle import (
    CONTAINER_LABELS,
    NAMESPACES,
    Scene,
    check_changes,
    check_collectable,
    check_container_sizes,
    check_containers,
    check_docker_root,
    check_images,
    check_mounts,
    check_sizes,
    check_snapshots,
    scene_from_answers,
)

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def scene(captured_containerd: CapturedContainerd) -> Scene:
    cap = captured_containerd
    return scene_from_answers(cap.path, cap.answers, cap.here)


@pytest.fixture(scope="module")
def host(scene: Scene) -> Host:
    return load_host(str(scene.root))


def _json(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Any:
    code, doc = run_json(capsys, "--offline", "--root", str(root), *args)
    assert code == 0, args
    return doc


def test_the_capture_is_healthy(
    scene: Scene, host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sorted(host.namespaces) == scene.namespaces == sorted(NAMESPACES)
    assert host.problems == [] and host.orphans == []
    assert _json(capsys, scene.root, "check") == {
        "ok": True,
        "store": "containerd",
        "problems": [],
    }


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_inventory_is_containerds(scene: Scene, host: Host, namespace: str) -> None:
    check_snapshots(scene, host, namespace)
    check_mounts(scene, host, namespace)
    check_images(scene, host, namespace)
    check_containers(scene, host, namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_sizes_are_ctr_snapshots_usage(
    scene: Scene, host: Host, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_sizes(scene, host, _json(capsys, scene.root, "layers"), namespace)
    check_container_sizes(scene, _json(capsys, scene.root, "containers"), namespace)


def test_docker29_through_its_data_root(scene: Scene) -> None:
    check_docker_root(scene, load_host(str(scene.docker_root)))


def test_collectable_is_exactly_the_garbage(scene: Scene, host: Host) -> None:
    check_collectable(scene, host)


def test_content_store_is_containerds(scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    df = _json(capsys, scene.root, "df")
    listed = {b["digest"]: b["size"] for ns in NAMESPACES for b in scene.ns(ns)["content"]}
    assert {b["digest"]: b["size"] for b in df["blobs"]} == listed
    du = subprocess.run(["du", "-sx", "--block-size=1", str(scene.root)], capture_output=True,
                        text=True, check=True).stdout  # fmt: skip
    assert df["total"]["allocated"] == int(du.split()[0])


@pytest.mark.parametrize("label", CONTAINER_LABELS)
def test_changes_are_ctr_snapshots_diff(
    scene: Scene, label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    c = scene.container(label)
    doc = _json(capsys, scene.root, "--namespace", c.namespace, "container", c.id)
    check_changes(scene, doc, c)
