"""Sizes and garbage on a containerd root, against containerd's own answers and its own GC.

Sizes follow `SizeRule.ALLOCATED` (continuity's DiskUsage), which is what `ctr snapshots
usage` reports and what Docker 29 calls SizeRw. What is collectable is what containerd's
garbage collector removes: checked on the shared scenario against the garbage it made on
purpose, and in a throwaway containerd (built here for it) against what a real collection
removes, rule by rule.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from tests.containerd.config import MOBY_NAMESPACE
from tests.containerd.engine import PrivateContainerd
from tests.containerd.images import ImageSpec, Layer, base_layer, tar_dir, tar_file
from tests.containerd.protobuf import pb_bytes, pb_string
from tests.containerd.scenario import ContainerdScenario, capture_answers
from tests.containerd.scenario_images import BASE, DOOMED, TOOL
from tests.root.cli_helpers import run_json
from tests.root.containerd_oracle import (
    NAMESPACES,
    Scene,
    check_collectable,
    check_container_sizes,
    check_sizes,
    scene_from_live,
    used_layers,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def scene(containerd: PrivateContainerd, containerd_scenario: ContainerdScenario) -> Scene:
    return scene_from_live(containerd_scenario, capture_answers(containerd)["namespaces"])


@pytest.fixture(scope="module")
def host(scene: Scene) -> Host:
    return load_host(str(scene.root))


def _json(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Any:
    code, doc = run_json(capsys, "--offline", "--root", str(root), *args)
    assert code == 0, args
    return doc


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_layer_sizes_are_ctr_snapshots_usage(
    scene: Scene, host: Host, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_sizes(scene, host, _json(capsys, scene.root, "layers"), namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_container_size_is_the_usage_of_its_rw_snapshot(
    scene: Scene, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_container_sizes(scene, _json(capsys, scene.root, "containers"), namespace)


def test_df_container_size_is_the_usage_of_its_rw_snapshot(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    df = _json(capsys, scene.root, "df")
    sizes = {c["id"]: c["size"] for c in df["containers"]}
    assert set(sizes) == {c.id for c in scene.containers}
    for c in scene.containers:
        assert sizes[c.id] == scene.ns(c.namespace)["usage"][scene.rw_key(c)][0], c.id


def test_docker29_size_rw_through_its_data_root(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    containers = _json(capsys, scene.docker_root, "containers")
    assert {c["name"] for c in containers} == {"web", "batch"}
    check_container_sizes(scene, containers, MOBY_NAMESPACE)


def _du(*paths: Path) -> int:
    """`du -sxc --block-size=1`: every inode once across the paths, no other filesystem."""
    out = subprocess.run(
        ["du", "-sxc", "--block-size=1", *map(str, paths)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.splitlines()[-1].split()[0])


@pytest.mark.parametrize("with_docker_root", [False, True], ids=["containerd", "docker29"])
def test_df_total_is_du_of_the_roots(
    scene: Scene, capsys: pytest.CaptureFixture[str], with_docker_root: bool
) -> None:
    if with_docker_root:
        df = _json(capsys, scene.docker_root, "df")
        roots = [scene.docker_root, scene.root]
    else:
        df = _json(capsys, scene.root, "df")
        roots = [scene.root]
    assert [Path(r) for r in df["roots"]] == roots
    assert df["total"]["allocated"] == _du(*roots)
    assert df["scan_problems"] == []


def test_content_store_is_what_ctr_content_ls_lists(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = {b["digest"]: b for ns in NAMESPACES for b in scene.ns(ns)["content"]}
    df = _json(capsys, scene.root, "df")
    [category] = [c for c in df["categories"] if c["name"] == "content_store"]
    assert category["count"] == len(listed) == len(df["blobs"])
    assert {b["digest"]: b["size"] for b in df["blobs"]} == {
        d: b["size"] for d, b in listed.items()
    }
    for blob in df["blobs"]:
        holders = sorted(ns for ns in NAMESPACES if blob["digest"] in _digests(scene, ns))
        assert blob["namespaces"] == holders, blob["digest"]
        assert blob["apparent"] == blob["size"]  # blobs are stored whole, never sparse
    assert category["apparent"] == sum(b["size"] for b in listed.values())
    for ns in NAMESPACES:  # one namespace: its blobs (none here is held by no namespace)
        df = _json(capsys, scene.root, "--namespace", ns, "df")
        assert {b["digest"] for b in df["blobs"]} == _digests(scene, ns)


def _digests(scene: Scene, namespace: str) -> set[str]:
    return {b["digest"] for b in scene.ns(namespace)["content"]}


def test_collectable_is_exactly_the_garbage(scene: Scene, host: Host) -> None:
    check_collectable(scene, host)


def test_reclaimable_holds_the_garbage_and_nothing_in_use(
    scene: Scene, host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    """df's content store counts as reclaimable exactly the garbage blobs; a collectable
    layer is reclaimable; no layer a running container stands on is."""
    df = _json(capsys, scene.root, "df")
    blobs = {b["digest"]: b for b in df["blobs"]}
    assert {d for d, b in blobs.items() if b["reclaimable"]} == scene.garbage_blobs
    [category] = [c for c in df["categories"] if c["name"] == "content_store"]
    assert category["reclaimable"] == sum(
        b["allocated"] for d, b in blobs.items() if d in scene.garbage_blobs
    )
    reclaimable = {la["id"] for la in df["layers"] if la["reclaimable"]}
    assert {la.id for la in host.layers.values() if la.collectable} <= reclaimable
    running = set()
    for c in scene.containers:
        if c.running:
            running.update(host.containers[f"{c.namespace}/{c.id}"].stack())
    assert not running & reclaimable
    assert used_layers(host)  # the check above is not vacuous


# --------------------------------------------------------------------------- a real GC


@pytest.fixture
def throwaway(containerd: PrivateContainerd) -> Iterator[PrivateContainerd]:
    """A private containerd of its own, for collections (the session's garbage must stay);
    `containerd` only says that one can run here (or skips, as every engine test does)."""
    with PrivateContainerd() as cd:
        yield cd


def _add_resource(cd: PrivateContainerd, lease: str, resource: str, kind: str) -> None:
    """Leases.AddResource: what a client holding a lease does for content (ctr cannot)."""
    request = pb_string(1, lease) + pb_bytes(2, pb_string(1, resource) + pb_string(2, kind))
    cd.api.call("leases.v1.Leases/AddResource", request, namespace="default")


PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
GONE = ImageSpec(
    "docker.io/library/ovs-gone:1",
    (base_layer(), Layer((tar_dir("gone"), tar_file("gone/data.txt", "gone\n")), "RUN gone")),
)


def test_our_prediction_is_what_containerds_gc_removes(throwaway: PrivateContainerd) -> None:
    """Each object below exercises one rule of containerd 1.6's metadata/gc.go (scanRoots,
    references, sendLabelRefs); the expectation is not written here but taken from a real
    collection: what it removes (snapshot records, their dirs, blobs) is exactly what the
    reader called collectable beforehand.

    The rules, as v1.6.20's source states them: images, containers, leases that have not
    expired (RFC 3339 `containerd.io/gc.expire`; a value time.Parse refuses is ignored and
    the lease kept) and objects labelled `containerd.io/gc.root` are roots; references go
    from an image to its target blob, a snapshot to its parent, and along
    `containerd.io/gc.ref.content*` / `gc.ref.snapshot.<snapshotter>` labels, except from what
    a flat lease (`containerd.io/gc.flat`) holds. An image's own `gc.expire` means nothing
    before containerd 2.0 (meta.db dbVersion 3 here)."""
    cd, ns, api = throwaway, "default", throwaway.api
    base = cd.import_spec(BASE, ns)
    tool = cd.import_spec(TOOL, ns)
    doomed = cd.import_spec(DOOMED, ns)
    cd.ctr("images", "rm", doomed.name)
    cd.ctr("images", "label", tool.name, f"containerd.io/gc.expire={PAST}")
    # An image removed while a container stands on it: the snapshots stay, the blobs go.
    gone = cd.import_spec(GONE, ns)
    cd.run(ns, gone.name, "on-a-removed-image", ["true"])
    cd.ctr("images", "rm", gone.name)
    api.prepare(ns, "unleased", base.chain_id)
    api.create_lease(ns, "live")
    api.prepare(ns, "leased", base.chain_id, lease="live")
    leases = {
        "expired": PAST,
        "expired-nanos": "2000-01-01T00:00:00.123456789Z",
        "expires-later": FUTURE,
        "expiry-with-a-space": "2000-01-01 00:00:00Z",  # Go refuses it: the lease is kept
        "expiry-basic-format": "20000101T000000Z",
        "expiry-comma-fraction": "2000-01-01T00:00:00,5Z",
        "expiry-lowercase": "2000-01-01t00:00:00z",
        "expiry-offset": "2000-01-01T00:00:00+05:30",
    }
    for name, when in leases.items():
        api.create_lease(ns, name, {"containerd.io/gc.expire": when})
        api.prepare(ns, f"snap-{name}", base.chain_id, lease=name)
    api.prepare(ns, "rooted", base.chain_id, labels={"containerd.io/gc.root": "1"})
    api.create_lease(ns, "build")
    for key in ("kept-parent", "lone-commit"):
        api.prepare(ns, f"{key}-key", base.chain_id, lease="build")
        api.commit(ns, key, f"{key}-key", lease="build")
    api.delete_lease(ns, "build")
    api.prepare(ns, "child", "kept-parent", lease="live")
    blob = {name: cd.ingest(ns, f"{name}\n".encode(), name) for name in (
        "loose", "rooted-blob", "child-of-rooted", "flat-held", "child-of-flat",
        "lease-held", "child-of-leased", "named-by-a-snapshot",
    )}  # fmt: skip
    cd.ctr("content", "label", blob["rooted-blob"], "containerd.io/gc.root=1",
           f"containerd.io/gc.ref.content.c={blob['child-of-rooted']}")  # fmt: skip
    cd.ctr("content", "label", blob["flat-held"],
           f"containerd.io/gc.ref.content.c={blob['child-of-flat']}")  # fmt: skip
    api.create_lease(ns, "flat", {"containerd.io/gc.flat": "1"})
    _add_resource(cd, "flat", blob["flat-held"], "content")
    cd.ctr("content", "label", blob["lease-held"],
           f"containerd.io/gc.ref.content/c={blob['child-of-leased']}")  # fmt: skip
    _add_resource(cd, "live", blob["lease-held"], "content")
    cd.ctr("snapshots", "label", "leased",
           f"containerd.io/gc.ref.content.x={blob['named-by-a-snapshot']}")  # fmt: skip

    host = load_host(str(cd.root))
    assert not host.problems
    predicted_keys = {la.key for la in host.layers.values() if la.collectable}
    predicted_dirs = {la.id for la in host.layers.values() if la.collectable}
    predicted_blobs = {b.digest for b in host.blobs.values() if b.collectable}
    snapshots, blobs = set(cd.snapshots_ls(ns)), {b["digest"] for b in cd.content_ls(ns)}
    dirs = set(os.listdir(cd.snapshots_dir))

    cd.collect_garbage()
    removed_keys = snapshots - set(cd.snapshots_ls(ns))
    removed_blobs = blobs - {b["digest"] for b in cd.content_ls(ns)}
    removed_dirs = dirs - set(os.listdir(cd.snapshots_dir))
    assert predicted_keys == removed_keys
    assert predicted_dirs == removed_dirs
    assert predicted_blobs == removed_blobs
    # What the rules above make of it (the engine's answer, spelt out for the reader).
    assert removed_keys == {
        doomed.chain_id,
        "unleased",
        "snap-expired",
        "snap-expired-nanos",
        "snap-expiry-comma-fraction",  # Go's time.Parse takes a comma before the fraction
        "snap-expiry-offset",
        "lone-commit",
    }
    assert gone.chain_id in snapshots - removed_keys
    assert {gone.manifest_digest, gone.config_digest, gone.layer_digests[-1]} <= removed_blobs
    on_removed = host.containers["default/on-a-removed-image"]
    assert on_removed.image_id == "" and on_removed.image_layers
    named = {digest: name for name, digest in blob.items()}
    assert {named[d] for d in removed_blobs if d in named} == {"loose", "child-of-flat"}
    assert {tool.manifest_digest, tool.config_digest} <= blobs - removed_blobs
    after = load_host(str(cd.root))
    assert not [la for la in after.layers.values() if la.collectable]
    assert not [b for b in after.blobs.values() if b.collectable]
    assert after.orphans == []
