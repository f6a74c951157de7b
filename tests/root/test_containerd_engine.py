"""The containerd reader's inventory against a live private containerd, namespace by namespace.

Every expected value is containerd's own answer, asked now (`ctr snapshots ls/tree/mounts/
info`, Images.List, `ctr containers info`, Leases.List; tests/containerd/scenario.py's
`capture_answers`), or the scenario that made the objects. Facts that come from Docker's
source rather than from this engine (Docker 29's shapes) say so where they are checked
(tests/root/containerd_oracle.py).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role, Store
from tests.containerd.config import K8S_NAMESPACE, MOBY_NAMESPACE
from tests.containerd.engine import PrivateContainerd
from tests.containerd.ids import stable_id
from tests.containerd.images import (
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    ImageSpec,
    build_image,
    chain_ids,
    sha256_digest,
)
from tests.containerd.scenario import ContainerdScenario, capture_answers
from tests.containerd.scenario_images import TOOL
from tests.root.cli_helpers import run_json
from tests.root.containerd_oracle import (
    BARE_DIGEST,
    NAMESPACES,
    Scene,
    check_containers,
    check_docker_root,
    check_images,
    check_mounts,
    check_snapshots,
    containers_of,
    images_of,
    layers_by_key,
    scene_from_live,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def scene(containerd: PrivateContainerd, containerd_scenario: ContainerdScenario) -> Scene:
    return scene_from_live(containerd_scenario, capture_answers(containerd)["namespaces"])


@pytest.fixture(scope="module")
def host(scene: Scene) -> Host:
    return load_host(str(scene.root))


def test_the_scene_is_every_namespace(scene: Scene, host: Host) -> None:
    assert scene.namespaces == sorted(NAMESPACES)
    assert sorted(host.namespaces) == scene.namespaces
    assert host.store is Store.CONTAINERD and host.roots == (str(scene.root),)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_snapshot_is_a_layer(scene: Scene, host: Host, namespace: str) -> None:
    check_snapshots(scene, host, namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_mount_lowerdirs_are_our_stacks(scene: Scene, host: Host, namespace: str) -> None:
    check_mounts(scene, host, namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_images_are_containerds(scene: Scene, host: Host, namespace: str) -> None:
    check_images(scene, host, namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_containers_are_containerds(scene: Scene, host: Host, namespace: str) -> None:
    check_containers(scene, host, namespace)


def test_no_orphans_and_no_problems_on_a_healthy_root(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [la.id for la in load_host(str(scene.root)).orphans] == []
    code, report = run_json(capsys, "--offline", "--root", str(scene.root), "check")
    assert (code, report) == (0, {"ok": True, "store": "containerd", "problems": []})


def test_cri_names_an_image_by_its_config_digest_not_as_a_tag(
    scene: Scene, host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    """CRI gives a pulled image three names: `repo:tag`, `repo@<manifest digest>` and
    `sha256:<config digest>` (containerd pkg/cri image_pull.go). `crictl images` shows the
    first as a tag, the second as a digest and the third as neither: it is the image id
    (internal/cri/util/references.go ParseImageReferences)."""
    names = {rec["name"] for rec in scene.ns(K8S_NAMESPACE)["images"]}
    bare = {n for n in names if BARE_DIGEST.match(n)}
    assert len(bare) == len(scene.images[K8S_NAMESPACE]) == 2
    code, images = run_json(
        capsys, "--offline", "--root", str(scene.root), "--namespace", K8S_NAMESPACE, "images"
    )
    assert code == 0
    assert {i["id"] for i in images} == bare
    for image in images:
        assert not set(image["tags"]) & bare, image
        assert len(image["tags"]) == 1 and ":" in image["tags"][0], image


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_namespace_restricts_everything(
    scene: Scene, host: Host, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    only = load_host(str(scene.root), namespace=namespace)
    assert only.namespaces == (namespace,)
    assert {la.namespace for la in only.layers.values()} == {namespace}
    assert {i.namespace for i in only.images.values()} == {namespace}
    assert {c.namespace for c in only.containers.values()} == {namespace}
    assert set(only.layers) == {la.id for la in layers_by_key(host, namespace).values()}
    assert set(only.containers) == {c.key for c in containers_of(host, namespace).values()}
    assert set(only.images) == {i.key for i in images_of(host, namespace)}
    # The same facts as in the whole host.
    check_snapshots(scene, only, namespace)
    check_images(scene, only, namespace)
    check_containers(scene, only, namespace)
    base = ("--offline", "--root", str(scene.root), "--namespace", namespace)
    for command in ("layers", "containers", "images"):
        code, items = run_json(capsys, *base, command)
        assert code == 0 and items, command
        assert {item["namespace"] for item in items} == {namespace}, command


def test_json_carries_store_path_key_namespace(
    scene: Scene, host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--offline", "--root", str(scene.root))
    code, layers = run_json(capsys, *base, "layers")
    assert code == 0 and len(layers) == len(host.layers)
    snapshots_dir = scene.root / "io.containerd.snapshotter.v1.overlayfs" / "snapshots"
    for item in layers:
        layer = host.layers[item["id"]]
        assert item["store"] == "containerd"
        assert Path(item["path"]) == snapshots_dir / item["id"] / "fs"
        assert Path(item["path"]).is_dir()
        assert item["key"] in scene.ns(item["namespace"])["snapshots"]
        assert (item["key"], item["namespace"]) == (layer.key, layer.namespace)
    code, containers = run_json(capsys, *base, "containers")
    assert code == 0
    assert {(c["namespace"], c["id"]) for c in containers} == {
        (c.namespace, c.id) for c in scene.containers
    }
    assert {c["store"] for c in containers} == {"containerd"}
    code, images = run_json(capsys, *base, "images")
    assert code == 0
    assert {(i["namespace"], i["store"]) for i in images} == {
        (ns, "containerd") for ns in NAMESPACES
    }


def test_stopped_docker29_container_is_found_from_its_lease_alone(
    containerd: PrivateContainerd, scene: Scene, host: Host
) -> None:
    """Docker 29 deletes a container's containerd record with its task when it exits
    (moby daemon/start.go, libcontainerd); what stays is the lease `<id>` holding `<id>` and
    `<id>-init` (daemon/containerd/image_snapshot.go)."""
    batch = scene.container("docker:batch")
    assert batch.id not in containerd.containers_ls(MOBY_NAMESPACE)
    assert batch.id in {le["id"] for le in containerd.leases_ls(MOBY_NAMESPACE)}
    got = host.containers[f"{MOBY_NAMESPACE}/{batch.id}"]
    layers = layers_by_key(host, MOBY_NAMESPACE)
    assert (got.layer, got.init_layer) == (layers[batch.id].id, layers[f"{batch.id}-init"].id)
    assert got.state == "exited" and got.image_ref is None
    assert got.layer is not None and got.init_layer is not None
    assert host.layers[got.layer].role is Role.RW and host.layers[got.init_layer].role is Role.INIT


def test_docker29_read_with_its_data_root(scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    beside = load_host(str(scene.docker_root))  # containerd/ beside docker/: found alone
    named = load_host(str(scene.docker_root), containerd_root=str(scene.root))
    for host in (beside, named):
        assert host.roots == (str(scene.docker_root), str(scene.root))
        check_docker_root(scene, host)
    code, containers = run_json(
        capsys,
        "--offline", "--root", str(scene.docker_root), "--containerd-root", str(scene.root),
        "containers",
    )  # fmt: skip
    assert code == 0
    assert {c["name"]: c["state"] for c in containers} == {"web": "running", "batch": "exited"}


def test_docker_data_root_with_another_namespace_shows_no_docker_container(
    scene: Scene,
) -> None:
    """Docker's containers are in its namespace `moby`: asked for `default`, the reader must
    not list them (it once did, from config.v2.json alone, with no layer)."""
    host = load_host(str(scene.docker_root), namespace="default")
    assert {c.namespace for c in host.containers.values()} == {"default"}
    assert {c.id for c in host.containers.values()} == {
        c.id for c in scene.containers if c.namespace == "default"
    }
    assert all(c.layer is not None for c in host.containers.values())


def _records(scene: Scene, namespace: str) -> dict[str, Any]:
    records: dict[str, Any] = scene.ns(namespace)["containers"]
    return records


def test_k8s_pod_labels(scene: Scene, host: Host) -> None:
    sandbox, nginx = scene.container("k8s:sandbox"), scene.container("k8s:nginx")
    records = _records(scene, K8S_NAMESPACE)
    got = containers_of(host, K8S_NAMESPACE)
    pod = records[sandbox.id]["Labels"]["io.kubernetes.pod.name"]
    k8s_sandbox, k8s_nginx = got[sandbox.id].kubernetes, got[nginx.id].kubernetes
    assert k8s_sandbox is not None and k8s_sandbox.sandbox and k8s_sandbox.container == ""
    assert k8s_nginx is not None and not k8s_nginx.sandbox and k8s_nginx.container == "nginx"
    assert got[sandbox.id].name == pod  # `crictl pods` shows the pod by its name
    assert got[nginx.id].name == f"{pod}/nginx"


# --------------------------------------------------------------------------- image indexes


def _multi_platform_layout(spec: ImageSpec) -> tuple[bytes, str, str]:
    """An OCI layout whose index.json names an image index (as BuildKit's OCI export and
    `docker save` write them) holding, in this order, an attestation manifest (platform
    unknown/unknown, as BuildKit's provenance), an arm64 manifest and the amd64 one.
    Returns the tarball, the inner index's digest and the outer index.json's digest."""
    amd = build_image(spec)
    arm_config = json.dumps({**json.loads(amd.config), "architecture": "arm64"}).encode()
    att_config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()

    def manifest(config: bytes, layers: list[dict[str, Any]]) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST, "layers": layers,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": sha256_digest(config),
                       "size": len(config)},
        }).encode()  # fmt: skip

    def entry(blob: bytes, media_type: str, arch: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": media_type, "digest": sha256_digest(blob),
                               "size": len(blob)}  # fmt: skip
        if arch is not None:
            out["platform"] = {"architecture": arch, "os": "unknown" if arch == "unknown"
                               else "linux"}  # fmt: skip
        return out

    layers = json.loads(amd.manifest)["layers"]
    arm, att = manifest(arm_config, layers), manifest(att_config, [])
    index = json.dumps({
        "schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX,
        "manifests": [entry(att, MEDIA_OCI_MANIFEST, "unknown"),
                      entry(arm, MEDIA_OCI_MANIFEST, "arm64"),
                      entry(amd.manifest, MEDIA_OCI_MANIFEST, "amd64")],
    }).encode()  # fmt: skip
    top = {
        **entry(index, MEDIA_OCI_INDEX, None),
        "annotations": {
            "io.containerd.image.name": spec.name,
            "org.opencontainers.image.ref.name": spec.tag,
        },
    }
    outer = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX,
                        "manifests": [top]}).encode()  # fmt: skip
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": outer}
    for blob in (amd.config, amd.manifest, arm_config, arm, att_config, att, index,
                 *amd.layer_blobs):  # fmt: skip
        files[f"blobs/sha256/{sha256_digest(blob).removeprefix('sha256:')}"] = blob
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), sha256_digest(index), sha256_digest(outer)


def test_index_images_resolve_to_this_platforms_manifest(containerd: PrivateContainerd) -> None:
    """`ctr images import --index-name` keeps two records: the layout's own index.json (an
    index naming an index) and the image its annotation names (the inner index). containerd
    unpacks this platform's manifest (skipping the attestation and arm64 entries before it;
    its config blob gets the gc.ref.snapshot label) and walks nested indexes
    (images.Manifest); the reader must land on the same config and snapshots. Docker 29
    shows such an image by its record's target (the index digest)."""
    with PrivateContainerd() as cd:
        tar, inner, outer = _multi_platform_layout(TOOL)
        path = cd.scratch / "multi.tar"
        path.write_bytes(tar)
        git_sha = "ovs-tool:" + stable_id("a commit")[:40]  # a 40-hex tag is a tag
        for ns in ("default", MOBY_NAMESPACE):
            cd.ctr("images", "import", "--snapshotter", "overlayfs", "--index-name",
                   "docker.io/library/multi:1", str(path), namespace=ns)  # fmt: skip
            cd.ctr("images", "tag", TOOL.name, git_sha, namespace=ns)
        amd = build_image(TOOL)
        chain = chain_ids(amd.diff_ids)
        labels = {b["digest"]: b["labels"] for b in cd.content_ls("default")}
        assert "containerd.io/gc.ref.snapshot.overlayfs" in labels[amd.config_digest]
        host = load_host(str(cd.root))
        assert host.problems == []
        for ns in ("default", MOBY_NAMESPACE):
            records = {rec["name"]: rec["target"] for rec in cd.images_ls(ns)}
            assert records["docker.io/library/multi:1"]["digest"] == outer
            assert records[TOOL.name]["digest"] == inner == records[git_sha]["digest"]
            layers = layers_by_key(host, ns)
            for name, target in records.items():
                [image] = [i for i in images_of(host, ns) if name in i.tags]
                assert image.config_digest == amd.config_digest, name
                assert [la.chain_id for la in image.layers] == list(chain), name
                assert [la.id for la in image.layers] == [layers[c].id for c in chain]
                assert image.id == (target["digest"] if ns == MOBY_NAMESPACE
                                    else amd.config_digest)  # fmt: skip
