"""containerd's own answers about a root, and the checks that hold our reader to them.

A `Scene` is one containerd root (the live private containerd's, or the unpacked capture)
with what containerd answered about it: `ctr snapshots ls/tree/usage/mounts/info`, Images.List,
Content.List, Leases.List, `ctr containers info` per namespace (tests/containerd/scenario.py's
`capture_answers` shape), the `ctr snapshots diff` tars, and the scenario that made it.
The checks below are shared by the live tests and the captured-root test, so both hold the
reader to exactly the same facts; every expected value comes from containerd's answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlayscope.root.model import Container, Host, Image, Layer, Role
from tests.containerd.config import K8S_NAMESPACE, MOBY_NAMESPACE
from tests.containerd.mounts import SnapshotMount
from tests.containerd.scenario import ContainerdScenario

# A name CRI gives an image by its config digest (`sha256:<hex>`): an id, neither a tag nor
# a digested reference (containerd internal/cri/util/references.go ParseImageReferences
# keeps only reference.Tagged and reference.Canonical names; ParseAnyReference makes this
# one a digestReference, which is neither).
BARE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SNAPSHOT_RESOURCE = "snapshots/overlayfs"


@dataclass(frozen=True)
class SceneContainer:
    id: str
    namespace: str
    kind: str  # "ctr", "docker29", "cri-sandbox", "cri-container"
    name: str
    image: str  # the image name it was made from
    running: bool
    has_record: bool


@dataclass(frozen=True)
class SceneImage:
    namespace: str
    name: str
    manifest_digest: str
    config_digest: str
    chain_ids: tuple[str, ...]


@dataclass(frozen=True)
class Scene:
    """A containerd root and containerd's answers about it."""

    root: Path  # containerd's root, as read here
    docker_root: Path  # the Docker 29 data root beside it
    answers: Mapping[str, Any]  # {"namespaces": {ns: {...}}, "diffs": {ns: {key: tar}}}
    containers: tuple[SceneContainer, ...]
    images: Mapping[str, Mapping[str, SceneImage]]  # namespace -> name -> image
    garbage_blobs: frozenset[str]
    garbage_snapshots: frozenset[str]  # keys in namespace `default`
    orphan_snapshot: str
    deleted_chain_id: str
    map_path: Callable[[str], Path]  # a path in containerd's answers -> the path here

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.answers["namespaces"])

    def ns(self, namespace: str) -> Mapping[str, Any]:
        ns: Mapping[str, Any] = self.answers["namespaces"][namespace]
        return ns

    def container(self, label: str) -> SceneContainer:
        """A container by the label the tests use: a ctr id, `k8s:sandbox`, `k8s:<name>`,
        `docker:<name>`."""
        kind, _, name = label.partition(":")
        for c in self.containers:
            if (
                (not name and c.id == label)
                or (kind == "docker" and c.kind == "docker29" and c.name == name)
                or (kind == "k8s" and name == "sandbox" and c.kind == "cri-sandbox")
                or (kind == "k8s" and c.kind == "cri-container" and c.name == name)
            ):
                return c
        raise LookupError(label)

    def rw_key(self, c: SceneContainer) -> str:
        """The container's writable snapshot key: the record's SnapshotKey; Docker 29 gives
        none (it mounts `<id>` itself), its key is the id."""
        info = self.ns(c.namespace)["containers"].get(c.id)
        return str(info["SnapshotKey"]) if info and info.get("SnapshotKey") else c.id

    def image_of(self, c: SceneContainer) -> SceneImage:
        return self.images[c.namespace][c.image]

    def mount(self, namespace: str, key: str) -> SnapshotMount:
        """The one mount `ctr snapshots mounts` gave for an active snapshot."""
        [m] = self.ns(namespace)["mounts"][key]
        return SnapshotMount(m["type"], m["source"], tuple(m["options"]))

    def stack_dirs(self, namespace: str, key: str) -> list[Path]:
        """upperdir then lowerdirs of an active snapshot's mount, as paths here."""
        m = self.mount(namespace, key)
        upper = m.upperdir
        assert upper is not None, m
        return [self.map_path(str(p)) for p in (upper, *m.lowerdirs)]


def scene_from_live(sc: ContainerdScenario, namespaces: Mapping[str, Any]) -> Scene:
    """The live scenario, with `namespaces` asked of containerd now (capture_answers) and
    the diffs taken while it was built (a diff leaves garbage behind: never taken again)."""
    return Scene(
        root=sc.root,
        docker_root=sc.docker_root,
        answers={"namespaces": namespaces, "diffs": sc.answers["diffs"]},
        containers=tuple(
            SceneContainer(c.id, c.namespace, c.kind, c.name, c.image, c.running, c.has_record)
            for c in sc.containers.values()
        ),
        images={
            ns: {
                name: SceneImage(
                    i.namespace, i.name, i.manifest_digest, i.config_digest, i.chain_ids
                )
                for name, i in images.items()
            }
            for ns, images in sc.images.items()
        },
        garbage_blobs=sc.garbage_blobs,
        garbage_snapshots=sc.garbage_snapshots,
        orphan_snapshot=sc.orphan_snapshot,
        deleted_chain_id=sc.deleted_image.chain_id,
        map_path=Path,
    )


def scene_from_answers(
    path: Path, answers: Mapping[str, Any], here: Callable[[str], Path]
) -> Scene:
    """The unpacked captured root (`path` holds containerd/ and docker/), from answers.json."""
    s = answers["scenario"]
    return Scene(
        root=path / "containerd",
        docker_root=path / "docker",
        answers={"namespaces": answers["namespaces"], "diffs": answers["diffs"]},
        containers=tuple(
            SceneContainer(
                c["id"],
                c["namespace"],
                c["kind"],
                c["name"],
                c["image"],
                c["running"],
                c["has_record"],
            )
            for c in s["containers"].values()
        ),
        images={
            ns: {
                name: SceneImage(
                    i["namespace"],
                    i["name"],
                    i["manifest_digest"],
                    i["config_digest"],
                    tuple(i["chain_ids"]),
                )
                for name, i in images.items()
            }
            for ns, images in s["images"].items()
        },
        garbage_blobs=frozenset(s["garbage_blobs"]),
        garbage_snapshots=frozenset(s["garbage_snapshots"]),
        orphan_snapshot=s["orphan_snapshot"],
        deleted_chain_id=s["deleted_image"]["chain_ids"][-1],
        map_path=here,
    )


CONTAINER_LABELS = (
    "ctr-add", "ctr-change", "ctr-chmod", "ctr-delete", "ctr-opaque", "ctr-hardlink",
    "ctr-exit3", "ctr-running", "k8s:sandbox", "k8s:nginx", "docker:web", "docker:batch",
)  # fmt: skip
NAMESPACES = ("default", K8S_NAMESPACE, MOBY_NAMESPACE)

# --------------------------------------------------------------------------- lookups


def layers_by_key(host: Host, namespace: str) -> dict[str, Layer]:
    """The layers of a namespace by snapshot key (orphans have none)."""
    return {
        layer.key: layer
        for layer in host.layers.values()
        if layer.namespace == namespace and layer.key is not None
    }


def containers_of(host: Host, namespace: str) -> dict[str, Container]:
    return {c.id: c for c in host.containers.values() if c.namespace == namespace}


def images_of(host: Host, namespace: str) -> list[Image]:
    return [i for i in host.images.values() if i.namespace == namespace]


def parent_chain(snapshots: Mapping[str, Any], key: str) -> list[str]:
    """The keys beneath `key`, top → bottom, following `ctr snapshots ls`'s parents."""
    out, parent = [], snapshots[key]["parent"]
    while parent:
        out.append(parent)
        parent = snapshots[parent]["parent"]
    return out


def used_layers(host: Host) -> set[str]:
    """Layer ids some image or container stands on, or a lease holds (with their parents)."""
    used: set[str] = set()
    for image in host.images.values():
        used.update(image.stack())
    for c in host.containers.values():
        used.update(c.stack())
    for lid in list(used):
        used.update(host.layers[lid].lower if lid in host.layers else ())
    return used


# --------------------------------------------------------------------------- inventory checks


def check_snapshots(scene: Scene, host: Host, namespace: str) -> None:
    """Every snapshot `ctr snapshots ls` lists is one layer of ours: same key and namespace,
    committed exactly when containerd says Committed, its `lower` the parent chain's dirs,
    top → bottom; and nothing else of that namespace is a layer (orphans aside)."""
    snapshots = scene.ns(namespace)["snapshots"]
    layers = layers_by_key(host, namespace)
    assert set(layers) == set(snapshots), namespace
    rw = {scene.rw_key(c): c for c in scene.containers if c.namespace == namespace}
    init = {f"{c.id}-init": c for c in scene.containers if c.kind == "docker29"}
    for key, snap in snapshots.items():
        layer = layers[key]
        assert layer.committed is (snap["kind"] == "Committed"), (key, snap)
        assert list(layer.lower) == [layers[p].id for p in parent_chain(snapshots, key)], key
        assert Path(layer.content_dir) == Path(layer.path) / "fs"
        if key in rw:
            assert layer.role is Role.RW, key
            assert layer.container == f"{namespace}/{rw[key].id}", key
        elif key in init and namespace == MOBY_NAMESPACE:
            assert layer.role is Role.INIT and layer.container == f"{namespace}/{init[key].id}"
        elif snap["kind"] == "Committed":
            assert layer.role is Role.IMAGE and layer.chain_ids == (key,), key
        else:  # `ctr snapshots prepare`: an active snapshot no container uses
            assert key == scene.orphan_snapshot and namespace == "default", key
            assert layer.role is Role.RW and layer.container is None
    for image in scene.images[namespace].values():
        ours = next(i for i in images_of(host, namespace) if image.name in i.tags)
        for chain_id in image.chain_ids:
            assert ours.key in layers[chain_id].images, (image.name, chain_id)


def check_mounts(scene: Scene, host: Host, namespace: str) -> None:
    """`ctr snapshots mounts` of every active snapshot: its upperdir is the layer's content
    dir and its lowerdir, in order, the content dirs of our `lower`; for a container, the
    whole list is its stack (rw, init for Docker 29, then the image's layers)."""
    layers = layers_by_key(host, namespace)
    for key in scene.ns(namespace)["mounts"]:
        layer = layers[key]
        dirs = scene.stack_dirs(namespace, key)
        assert dirs == [Path(host.layers[lid].content_dir) for lid in (layer.id, *layer.lower)]
    for c in (c for c in scene.containers if c.namespace == namespace):
        ours = containers_of(host, namespace)[c.id]
        dirs = scene.stack_dirs(namespace, scene.rw_key(c))
        assert dirs == [Path(host.layers[lid].content_dir) for lid in ours.stack()], c.id


def check_images(scene: Scene, host: Host, namespace: str) -> None:
    """Images.List (`ctr images ls`) against our images: each name is one of our image's
    tags, digested names or (CRI's config-digest name) its id; Docker 29's image id is the
    record's target digest (moby daemon/containerd/image.go), CRI's and ctr's the config
    digest; the config's chain ids name our layers, bottom → top."""
    records = scene.ns(namespace)["images"]
    ours = images_of(host, namespace)
    layers = layers_by_key(host, namespace)
    named: set[str] = set()
    for rec in records:
        name, target = rec["name"], rec["target"]["digest"]
        image = next(i for i in scene.images[namespace].values() if i.manifest_digest == target)
        if BARE_DIGEST.match(name):
            matches = [i for i in ours if i.id == name]
            assert matches and all(name not in i.tags for i in ours), name
            assert name == image.config_digest
        elif "@" in name:
            matches = [i for i in ours if name in i.digests]
        else:
            matches = [i for i in ours if name in i.tags]
        assert len(matches) == 1, (name, [i.id for i in matches])
        [found] = matches
        named.add(found.key)
        assert found.config_digest == image.config_digest, name
        expected_id = target if namespace == MOBY_NAMESPACE else image.config_digest
        assert found.id == expected_id, name
        assert [la.chain_id for la in found.layers] == list(image.chain_ids), name
        assert [la.id for la in found.layers] == [layers[c].id for c in image.chain_ids]
        assert not found.dangling, name
    assert named == {i.key for i in ours}, "an image of ours that containerd does not list"
    if namespace == "default":
        deleted = [i for i in ours if i.top_chain_id == scene.deleted_chain_id]
        assert deleted == [], "`ctr images rm` removed it: no image record any more"


def check_containers(scene: Scene, host: Host, namespace: str) -> None:
    """Container records (`ctr containers info`) and Docker 29's stopped containers, which
    are only their lease `<id>` (moby daemon/containerd/image_snapshot.go createLayer; its
    container record is deleted with the task, daemon/start.go)."""
    records = scene.ns(namespace)["containers"]
    leases = {le["id"]: le for le in scene.ns(namespace)["leases"]}
    ours = containers_of(host, namespace)
    expected = set(records) | {
        c.id for c in scene.containers if c.namespace == namespace and c.kind == "docker29"
    }
    assert set(ours) == expected, namespace
    layers = layers_by_key(host, namespace)
    for c in (c for c in scene.containers if c.namespace == namespace):
        got = ours[c.id]
        image = scene.image_of(c)
        rw = layers[scene.rw_key(c)]
        assert got.layer == rw.id, c.id
        assert got.image_layers == tuple(layers[k].id for k in reversed(image.chain_ids))
        assert got.image_chain_id == image.chain_ids[-1]
        [ours_image] = [i for i in images_of(host, namespace) if image.name in i.tags]
        assert host.image_of(got) == ours_image and got.key in ours_image.containers, c.id
        if namespace == MOBY_NAMESPACE:
            assert got.image_id == image.manifest_digest  # Docker 29: the target digest
        else:
            assert got.image_id == image.config_digest
        if c.kind == "docker29":
            # moby prepareInitLayer: `<id>-init-key` committed as `<id>-init`, then `<id>`
            # on it, both held by the lease `<id>`.
            assert got.init_layer == layers[f"{c.id}-init"].id
            held = {key for kind, key in leases[c.id]["resources"] if kind == SNAPSHOT_RESOURCE}
            assert held == {c.id, f"{c.id}-init"}
            assert got.name == ""  # no Docker data root read: its names live there
            assert got.state == ("running" if c.has_record else "exited")
        else:
            assert got.init_layer is None
            labels = records[c.id]["Labels"]
            if c.kind.startswith("cri-"):
                k8s = got.kubernetes
                assert k8s is not None
                assert k8s.pod == labels["io.kubernetes.pod.name"]
                assert k8s.pod_namespace == labels["io.kubernetes.pod.namespace"]
                assert k8s.container == labels.get("io.kubernetes.container.name", "")
                assert k8s.sandbox is (labels["io.cri-containerd.kind"] == "sandbox")
            else:
                assert got.kubernetes is None and got.name == c.id
            assert got.image_ref == records[c.id]["Image"]


def check_docker_root(scene: Scene, host: Host) -> None:
    """Read with Docker 29's data root: Docker's namespace only, names, states and images
    from config.v2.json (moby daemon/container/container.go; `Image` is the image record's
    target digest, daemon/containerd/image.go)."""
    docker = [c for c in scene.containers if c.kind == "docker29"]
    assert {c.namespace for c in host.containers.values()} == {MOBY_NAMESPACE}
    assert {c.id for c in host.containers.values()} == {c.id for c in docker}
    layers = layers_by_key(host, MOBY_NAMESPACE)
    for c in docker:
        got = host.containers[f"{MOBY_NAMESPACE}/{c.id}"]
        assert got.name == c.name
        assert got.state == ("running" if c.running else "exited")
        assert got.image_id == scene.image_of(c).manifest_digest
        assert got.layer == layers[c.id].id and got.init_layer == layers[f"{c.id}-init"].id
        assert got.logs and all(
            Path(log).parent == scene.docker_root / "containers" / c.id for log in got.logs
        )
    assert {layer.namespace for layer in host.layers.values()} == {MOBY_NAMESPACE}


# --------------------------------------------------------------------------- sizes, GC


def check_sizes(
    scene: Scene, host: Host, layers_json: Iterable[Mapping[str, Any]], namespace: str
) -> None:
    """`ctr snapshots usage -b` (continuity's DiskUsage: st_blocks * 512 of every inode once,
    dirs and the snapshot's root included): committed snapshots' recorded size, and our
    measured size of active ones, equal its bytes."""
    usage = scene.ns(namespace)["usage"]
    layers = layers_by_key(host, namespace)
    sizes = {item["key"]: item["size"] for item in layers_json if item["namespace"] == namespace}
    assert set(sizes) == set(usage) == set(layers)
    for key, (size, _inodes) in usage.items():
        assert sizes[key] == size, (namespace, key, sizes[key], size)
        if layers[key].committed:
            assert layers[key].recorded_size == size, key


def check_container_sizes(
    scene: Scene, containers_json: Iterable[Mapping[str, Any]], namespace: str
) -> None:
    """`containers --json` size is the usage of the rw snapshot: Docker 29's SizeRw is
    exactly that (moby daemon/containerd/service.go GetContainerLayerSize returns
    `snapshotter.Usage(ctx, containerID).Size`)."""
    usage = scene.ns(namespace)["usage"]
    got = {c["id"]: c for c in containers_json if c["namespace"] == namespace}
    for c in (c for c in scene.containers if c.namespace == namespace):
        assert got[c.id]["size"] == usage[scene.rw_key(c)][0], c.id


def check_collectable(scene: Scene, host: Host) -> None:
    """What containerd's GC would remove: exactly the scenario's garbage (made after the
    last collection, referenced by nothing), never anything an image, a container or a
    lease holds."""
    collectable = {(la.namespace, la.key) for la in host.layers.values() if la.collectable}
    assert collectable == {("default", key) for key in scene.garbage_snapshots}
    blobs = {b.digest for b in host.blobs.values() if b.collectable}
    assert blobs == scene.garbage_blobs
    used = used_layers(host)
    for ns in scene.namespaces:
        for lease in scene.ns(ns)["leases"]:
            layers = layers_by_key(host, ns)
            for kind, key in lease["resources"]:
                if kind == SNAPSHOT_RESOURCE:
                    used.add(layers[key].id)
                    used.update(layers[key].lower)
    assert not [lid for lid in used if host.layers[lid].collectable]
    # The prepared snapshot carries containerd.io/gc.root (ctr snapshots prepare sets it).
    [prepared] = [la for la in host.layers.values() if la.key == scene.orphan_snapshot]
    assert not prepared.collectable
    assert scene.ns("default")["info"][scene.orphan_snapshot]["Labels"]["containerd.io/gc.root"]


# --------------------------------------------------------------------------- changes


def tar_sets(tar: Iterable[Iterable[Any]]) -> dict[str, set[str]]:
    """A `ctr snapshots diff` tar as path sets: `files` (regular, symlink), `links` (hard
    links), `dirs`, `deleted` (each `.wh.NAME` as the path it deletes), `opaque`."""
    out: dict[str, set[str]] = {k: set() for k in ("files", "links", "dirs", "deleted", "opaque")}
    for name, kind, _size, _mode in tar:
        parent, _, base = ("/" + name.rstrip("/")).rpartition("/")
        if base == ".wh..wh..opq":
            out["opaque"].add(parent or "/")
        elif base.startswith(".wh."):
            out["deleted"].add(f"{parent}/{base.removeprefix('.wh.')}")
        elif kind == "dir":
            out["dirs"].add(f"{parent}/{base}")
        elif kind in ("file", "symlink"):
            out["files"].add(f"{parent}/{base}")
        elif kind == "hardlink":
            out["links"].add(f"{parent}/{base}")
    return out


def check_changes(scene: Scene, doc: Mapping[str, Any], c: SceneContainer) -> None:
    """`container --json` against `ctr snapshots diff` of its rw snapshot (containerd's
    walking differ: the snapshot against its parent, which for Docker 29 is `<id>-init`,
    as moby's Changes compares the container with a view of `info.Parent`,
    daemon/containerd/image_changes.go).

    - non-directory A/C paths: every regular file and symlink of the tar; beyond those,
      only paths the tar holds as hard links (the differ adds every name of an inode it
      writes; Docker's ChangesDirs never compares nlink, docs/union.md);
    - D paths: exactly the tar's `.wh.` entries (the walking differ never writes an opaque
      marker: a dir removed and re-made is one `.wh.` per vanished child, and so one D
      each here);
    - A/C dirs: among the tar's dirs (the tar adds the parents of hard-linked names).
    """
    tar = tar_sets(scene.answers["diffs"][c.namespace][scene.rw_key(c)])
    assert not tar["opaque"], "the walking differ writes no opaque markers"
    changes = doc["changes"]
    added = {ch["path"] for ch in changes if ch["kind"] in "AC" and ch["entry"] not in _DIRS}
    dirs = {ch["path"] for ch in changes if ch["kind"] in "AC" and ch["entry"] in _DIRS}
    deleted = {ch["path"] for ch in changes if ch["kind"] == "D"}
    assert tar["files"] <= added <= tar["files"] | tar["links"], (c.id, added, tar)
    assert deleted == tar["deleted"], (c.id, deleted, tar["deleted"])
    assert dirs <= tar["dirs"], (c.id, dirs - tar["dirs"])
    roles = [layer["role"] for layer in doc["layers"]]
    assert roles[0] == "rw" and set(roles[1:]) <= {"init", "image"}
    assert ("init" in roles) is (c.kind == "docker29")
    if c.kind == "docker29":
        # What moby's initlayer.Setup wrote is in the view compared against: never a change
        # unless the container itself touched it too.
        init = tar_sets(scene.answers["diffs"][c.namespace][f"{c.id}-init"])
        only_init = (init["files"] | init["dirs"]) - tar["files"] - tar["dirs"] - tar["deleted"]
        assert only_init and not only_init & {ch["path"] for ch in changes}, c.id


_DIRS = ("dir", "opaque-dir")
