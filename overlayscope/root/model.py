"""The host model: one graph of layers, images and containers, whatever store they live in.

Each store's reader (`root/stores/`) fills a `Host`; everything above `root/` works on
this model alone. A layer is a content dir with a role, an owner and a place in a stack;
which engine wrote it shows only in the `store` field, for the user's sake.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from overlayscope.record import field, record
from overlayscope.root.oci import HistoryEntry
from overlayscope.root.problems import Problem


class Store(StrEnum):
    """Where a layer's records live; part of the JSON contract (`store`)."""

    DOCKER_OVERLAY2 = "docker-overlay2"  # Docker's overlay2 graph driver
    CONTAINERD = "containerd"  # containerd's overlayfs snapshotter (Docker 29, Kubernetes)
    CONTAINERS_STORAGE = "containers-storage"  # Podman, CRI-O
    DOCKER_OVERLAY = "docker-overlay"  # Docker's legacy `overlay` graph driver


class Role(StrEnum):
    """What a layer dir is for; part of the JSON contract."""

    IMAGE = "image"  # an image layer (a committed layer some image's rootfs may use)
    RW = "rw"  # a container's writable layer
    INIT = "init"  # a container's init layer (Docker: /etc/hosts, /.dockerenv stubs)
    ORPHAN = "orphan"  # a dir that no record of the store references
    # A dir nothing readable names, on a host whose records that would name it are damaged
    # (or one that is mounted, or named beneath a layer in use): maybe in use, never an
    # orphan; `Layer.unresolved` says why.
    UNRESOLVED = "unresolved"


class SizeRule(StrEnum):
    """How the store's engine sizes a layer, so that our sizes equal its own."""

    # moby `directory.Size`: st_size of every non-directory, each inode once (Docker's
    # SizeRw and layer sizes on overlay2; containers/storage's diff-size and SizeRw).
    APPARENT = "apparent"
    # continuity `fs.DiskUsage`: st_blocks * 512 of every inode, directories and the
    # layer's root included, each inode once (containerd's `ctr snapshots usage`, and so
    # Docker 29's SizeRw).
    ALLOCATED = "allocated"
    # moby's naive `DiffSize` (`archive.ChangesSize`): apparent bytes of what the diff
    # reports added or changed, each inode once (Docker's legacy `overlay` driver, whose
    # writable layer starts as a copy of the init layer's).
    CHANGES = "changes"


class ChangeRule(StrEnum):
    """How the store's engine tells what a container changed (`docker diff`, `podman diff`)."""

    # Docker (moby `archive.ChangesDirs`): the container's merged tree against its
    # parent's, by stat; what only a copy-up touched is no change.
    COMPARE = "compare"
    # containers/storage (`archive.OverlayChanges`): a walk of the upper dir alone; what
    # is there and beneath is changed, a whiteout deleted, an opaque dir deleted and re-made.
    UPPER = "upper"


@record
class Layer:
    """One layer dir with the role the rest of the host gives it."""

    id: str  # overlay2 dir name, containerd snapshot dir number, containers/storage layer id
    path: str  # the layer's own dir on the host (overlay2/<id>, snapshots/<N>)
    content_dir: str  # the dir holding its content (overlay2 <id>/diff, snapshots/<N>/fs)
    link: str | None  # overlay2: its 26-char short name
    lower: tuple[str, ...]  # layer ids beneath it, top → bottom, as the store records them
    role: Role
    store: Store = Store.DOCKER_OVERLAY2
    chain_ids: tuple[str, ...] = ()  # image layers: the chain ids naming this layer
    diff_id: str | None = None
    images: tuple[str, ...] = ()  # keys of the images whose rootfs includes this layer
    container: str | None = None  # rw / init layers: the owning container's key
    recorded_size: int | None = None  # the size the store recorded (see `Host.size_rule`)
    has_content: bool = True  # content_dir exists and is a directory
    committed: bool = False
    merged: bool = False  # merged/ exists: the layer is (or was, at capture) mounted
    key: str | None = None  # containerd: the snapshot key (chain id, container id, …)
    namespace: str | None = None  # containerd: the namespace whose records name it
    link_path: str | None = None  # overlay2: the `l/<short>` symlink that leads to it
    # content_dir holds the whole filesystem as of this layer, not a diff (legacy overlay's
    # image layers: each a hard-linked copy of the one beneath, with its own changes).
    full_tree: bool = False
    unresolved: str | None = None  # Role.UNRESOLVED: why it cannot be called an orphan
    # Its scan may be kept in the scan cache under this key: committed image layers only,
    # whose content never changes (an id the store gives it once, or its chain id).
    cache_key: str | None = None
    # The store's own garbage collector would remove it: no image, container, lease or
    # parent chain the store keeps holds it (containerd). Never true for an orphan.
    collectable: bool = False
    problems: tuple[Problem, ...] = ()


@record
class ImageLayer:
    """One layer of an image's rootfs."""

    id: str | None  # the layer's id; None when its record is missing
    chain_id: str
    diff_id: str
    size: int | None
    created_by: str
    created: str | None = None  # when its build step ran (the image history's `created`)


@record
class Image:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    dangling: bool  # untagged and nobody's parent
    intermediate: bool  # untagged and the parent of another image (a build step)
    parent: str | None
    created: str | None
    layers: tuple[ImageLayer, ...]  # bottom → top
    containers: tuple[str, ...]  # keys of the containers created from it
    path: str = ""  # the record the image comes from (image config, metadata DB)
    extra_size: int = 0  # bytes its engine counts in its size beyond its layers (podman)
    namespace: str | None = None  # containerd: the namespace holding it
    store: Store = Store.DOCKER_OVERLAY2
    config_digest: str | None = None  # the image config's digest (Docker's id on overlay2)
    # Every step of the config's history, bottom → top, those that made no layer too
    # (`docker history` lists them all; `layers` holds only those that made one).
    history: tuple[HistoryEntry, ...] = ()

    @property
    def key(self) -> str:
        """Unique within the host: the id, prefixed by the namespace where there is one
        (one image pulled for Docker and for Kubernetes is two images on disk)."""
        return object_key(self.namespace, self.id)

    @property
    def size(self) -> int | None:
        """The daemon's image Size: the sum of its layers' recorded sizes."""
        sizes = [layer.size for layer in self.layers]
        if any(s is None for s in sizes):
            return None
        return sum(s for s in sizes if s is not None) + self.extra_size

    @property
    def top_chain_id(self) -> str | None:
        return self.layers[-1].chain_id if self.layers else None

    def stack(self) -> list[str]:
        """Layer ids, top → bottom."""
        return [layer.id for layer in reversed(self.layers) if layer.id is not None]


@record
class Kubernetes:
    """A Kubernetes node's container, as the CRI plugin labels it."""

    pod: str
    pod_namespace: str
    container: str  # the container's name in the pod spec; "" for a sandbox
    sandbox: bool  # the pod's sandbox (pause) container


@record
class ContainerMount:
    """One mount of a container, as its engine recorded it."""

    destination: str  # inside the container
    source: str  # a host path, or the volume's name
    type: str  # the engine's word: "bind", "volume", "tmpfs", "proc"…
    read_only: bool


@record
class Container:
    id: str
    name: str
    image_id: str  # the image's id as the engine shows it ("" when unknown)
    state: str
    created: str | None
    started_at: str | None
    finished_at: str | None
    layer: str | None  # rw layer id
    init_layer: str | None
    image_chain_id: str | None  # the chain id of the image's top layer it stands on
    image_layers: tuple[str, ...]  # layer ids of the image, top → bottom
    log_path: str | None
    path: str  # the record the container comes from (containers/<id>, metadata DB)
    namespace: str | None = None
    store: Store = Store.DOCKER_OVERLAY2
    image_ref: str | None = None  # the image name the container was created from
    logs: tuple[str, ...] = ()  # files and dirs holding its logs on the host
    kubernetes: Kubernetes | None = None
    init_expected: bool = False  # the engine gives it an init layer (Docker)
    # Paths in its writable layer the engine writes itself (Podman's /etc/hosts,
    # /run/.containerenv…): shown apart, not as the container's own changes.
    runtime_files: tuple[str, ...] = ()
    # What it runs, as its engine recorded it (`docker inspect`'s Path + Args, Config.Env,
    # Mounts, published ports, RestartCount, State.ExitCode); empty or None where the
    # store keeps no such record.
    command: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    mounts: tuple[ContainerMount, ...] = ()
    ports: tuple[str, ...] = ()  # "0.0.0.0:8080->80/tcp" as `docker ps`; "80/tcp" if unpublished
    restart_count: int | None = None
    exit_code: int | None = None

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.id)

    @property
    def image_key(self) -> str:
        return object_key(self.namespace, self.image_id)

    def stack(self) -> list[str]:
        """Layer ids, top → bottom: rw, init, then the image's layers."""
        top = [d for d in (self.layer, self.init_layer) if d is not None]
        return top + list(self.image_layers)


@record
class Volume:
    """A local volume: its dir, its data, and the containers whose config mounts it."""

    name: str
    path: str
    data_dir: str | None  # None when the volume has no data dir
    containers: tuple[str, ...] | None  # container keys; None when a config was unreadable


@record
class Blob:
    """A blob of a content store kept beside the layers (containerd's compressed layers,
    manifests and configs)."""

    digest: str
    path: str
    size: int | None  # the size recorded for it; None without a record
    namespaces: tuple[str, ...]  # namespaces whose records hold it ((): none, a stray file)
    collectable: bool  # nothing keeps it: the store's GC would remove it


@record
class IdMap:
    """One range of a user namespace's id map: container ids `inside`..`inside+size-1` are
    host ids `outside`..`outside+size-1` (a rootless store's files carry host ids)."""

    inside: int
    outside: int
    size: int


def inside_id(maps: tuple[IdMap, ...], host_id: int) -> int | None:
    """The id a container sees for the host id `host_id`; None when no range maps it.
    With no map at all (a rootful store) every id is itself."""
    if not maps:
        return host_id
    for m in maps:
        if m.outside <= host_id < m.outside + m.size:
            return m.inside + host_id - m.outside
    return None


@record
class DaemonInfo:
    """What a reachable daemon for the same data root says."""

    host: str
    root_dir: str
    driver: str
    server_version: str


@record(frozen=False, slots=False)
class Host:
    """Everything known about one host's container storage."""

    root: str  # the root the user named (or found): where the records start
    driver: str  # the storage driver or snapshotter, in the engine's own word
    store: Store = Store.DOCKER_OVERLAY2
    roots: tuple[str, ...] = ()  # every dir holding this host's storage; () means (root,)
    size_rule: SizeRule = SizeRule.APPARENT
    change_rule: ChangeRule = ChangeRule.COMPARE
    # The xattr namespace its overlay mounts read overlay metadata (opaque, whiteout,
    # origin…) from: "trusted" (rootful), "user" (rootless, mount option `userxattr`). The
    # kernel reads that one alone; the other's `*.overlay.*` xattrs are plain xattrs to it.
    overlay_xattrs: str = "trusted"
    layers: dict[str, Layer] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)  # by `Image.key`
    containers: dict[str, Container] = field(default_factory=dict)  # by `Container.key`
    volumes: dict[str, Volume] = field(default_factory=dict)
    blobs: dict[str, Blob] = field(default_factory=dict)  # by path
    build_cache: tuple[str, ...] = ()  # dirs of the engine's build cache
    # Paths of the roots that hold what this view leaves out (another namespace's snapshots
    # and blobs, with --namespace or on Docker 29), by what holds them ("namespace k8s.io").
    elsewhere: dict[str, str] = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()
    engine: str = ""  # the engine the records are from, for humans ("Docker", "containerd")
    # What removes a layer or blob marked `collectable`, for humans (the store's own GC).
    collect_hint: str = ""
    # Rootless stores: how container ids map to the host ids the files carry (podman's
    # `idMappings`); () when files carry the container's own ids.
    uid_map: tuple[IdMap, ...] = ()
    gid_map: tuple[IdMap, ...] = ()
    # Every record that could say an image or container uses a layer was read. When not
    # (a damaged metadata DB, lost container records), nothing in use can be told from
    # nothing used: no layer is called reclaimable for want of a user.
    owners_known: bool = True
    problems: list[Problem] = field(default_factory=list)
    daemon: DaemonInfo | None = None

    @property
    def all_roots(self) -> tuple[str, ...]:
        return self.roots or (self.root,)

    @property
    def orphans(self) -> list[Layer]:
        return [layer for layer in self.layers.values() if layer.role is Role.ORPHAN]

    @property
    def unresolved(self) -> list[Layer]:
        """Dirs no readable record names that may still be in use (`Layer.unresolved`)."""
        return [layer for layer in self.layers.values() if layer.role is Role.UNRESOLVED]

    def cache_keys(self, layer_ids: Iterable[str]) -> dict[str, str]:
        """Layer id → scan cache key, for those of `layer_ids` whose scans may be cached."""
        out = {}
        for lid in layer_ids:
            layer = self.layers.get(lid)
            if layer is not None and layer.cache_key is not None:
                out[lid] = layer.cache_key
        return out

    def role_of(self, layer_id: str) -> Role | None:
        layer = self.layers.get(layer_id)
        return layer.role if layer else None

    def image_of(self, container: Container) -> Image | None:
        return self.images.get(container.image_key)


def object_key(namespace: str | None, object_id: str) -> str:
    """The key of an image or container in a `Host`: `<namespace>/<id>` in a namespaced
    store, the id elsewhere."""
    return f"{namespace}/{object_id}" if namespace else object_id
