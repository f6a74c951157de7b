"""The containerd store's reader: a containerd root (and Docker 29's data root) → one `Host`.

Layers are the overlayfs snapshotter's `snapshots/<N>/` dirs, named by its own DB; what
each one is comes from containerd's `meta.db`: committed snapshots keyed by chain id are
image layers, a container's snapshot key is its writable layer, Docker 29's committed
`<id>-init` is that container's init layer. Which image uses which snapshot follows each
image down the content store to its rootfs. Whether containerd's garbage collector would
keep a snapshot or a blob is `gc.reachable`'s mark; dirs no record names are orphans.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable

from overlayscope.names import plural
from overlayscope.record import field, record
from overlayscope.root.docker.containers import ContainerRecord as DockerContainer
from overlayscope.root.docker.containers import read_containers
from overlayscope.root.docker.graph import docker_build_cache
from overlayscope.root.docker.volumes import read_volumes
from overlayscope.root.model import (
    Blob,
    Container,
    Host,
    Image,
    ImageLayer,
    Kubernetes,
    Layer,
    Role,
    SizeRule,
    Store,
    object_key,
)
from overlayscope.root.mounts import overlay_upper_dirs
from overlayscope.root.problems import Problem, ProblemKind, permission_problem
from overlayscope.root.records import AccessDenied, lstat_known, lstat_or_none
from overlayscope.root.run_config import RunConfig, run_fields
from overlayscope.root.stores.containerd import gc
from overlayscope.root.stores.containerd.content import PLUGIN_DIR as CONTENT_DIR
from overlayscope.root.stores.containerd.content import ContentStore, read_content
from overlayscope.root.stores.containerd.images import ResolvedImage, resolve_images
from overlayscope.root.stores.containerd.meta import PLUGIN_DIR as META_DIR
from overlayscope.root.stores.containerd.meta import (
    ContainerRecord,
    MetaDB,
    SnapshotRecord,
    read_meta,
)
from overlayscope.root.stores.containerd.snapshotter import (
    KIND_COMMITTED,
    KIND_NAMES,
    SNAPSHOTTER,
    BackendSnapshot,
    SnapshotterDB,
    read_snapshotter,
)
from overlayscope.root.stores.containerd.snapshotter import PLUGIN_DIR as SNAPSHOTTER_DIR

DOCKER_NAMESPACE = "moby"  # Docker 29's namespace in containerd
_INIT = "-init"
_K8S_KIND = "io.cri-containerd.kind"
_K8S_POD = "io.kubernetes.pod.name"
_K8S_POD_NS = "io.kubernetes.pod.namespace"
_K8S_CONTAINER = "io.kubernetes.container.name"
# Names Docker 29 gives untagged images in containerd (moby's `imageDanglingPrefix`).
_DANGLING = "moby-dangling@"
# A name that is a digest alone (go-digest's registered algorithms): CRI's name for an
# image by its config; `app:<40-hex git sha>` stays a tag.
_BARE_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def read_host(
    containerd_root: str, *, docker_root: str | None = None, namespace: str | None = None
) -> Host:
    """Read a containerd root: every namespace, or `namespace`; with `docker_root` (Docker
    29's data root beside it), Docker's namespace `moby` unless told otherwise, and Docker's
    container configs, volumes and logs."""
    if docker_root is not None and namespace is None:
        namespace = DOCKER_NAMESPACE
    return _Reader(containerd_root, docker_root, namespace).read()


@record(frozen=False, slots=False)
class _Reader:
    root: str
    docker_root: str | None
    namespace: str | None
    problems: list[Problem] = field(default_factory=list)
    attached: dict[str, list[Problem]] = field(default_factory=dict)  # layer id → problems

    def read(self) -> Host:
        blocked = self._symlinked_plugin_dirs()
        # Every namespace is read, whatever is shown: what keeps a snapshot or a blob may
        # be another namespace's.
        meta = (
            MetaDB(path=self._meta_path(), readable=False)
            if META_DIR in blocked
            else read_meta(self._meta_path())
        )
        snap = (
            SnapshotterDB(
                path=os.path.join(self.root, SNAPSHOTTER_DIR), readable=False, complete=False
            )
            if SNAPSHOTTER_DIR in blocked
            else read_snapshotter(os.path.join(self.root, SNAPSHOTTER_DIR))
        )
        content = (
            ContentStore(path=os.path.join(self.root, CONTENT_DIR), listed=False)
            if CONTENT_DIR in blocked
            else read_content(os.path.join(self.root, CONTENT_DIR))
        )
        self.problems += meta.problems + snap.problems
        # GC is predicted only on records that are whole and agree with the snapshotter's,
        # in every namespace: damage must never make a layer or a blob look collectable.
        graph = _Graph(meta, snap)
        kept = (
            gc.reachable(meta)
            if meta.readable and not meta.problems and not graph.problems
            else None
        )
        if self.namespace is not None:
            meta = _only(meta, self.namespace)
            graph = _Graph(meta, snap)
        self.problems += graph.problems
        images = resolve_images(meta, content)
        docker = (
            read_containers(os.path.join(self.docker_root, "containers"))
            if self.docker_root
            else None
        )
        host = Host(
            root=self.docker_root or self.root,
            driver=SNAPSHOTTER,
            store=Store.CONTAINERD,
            roots=(self.docker_root, self.root) if self.docker_root else (self.root,),
            size_rule=SizeRule.ALLOCATED,
            engine="Docker (containerd image store)" if self.docker_root else "containerd",
            namespaces=tuple(meta.namespaces),
        )
        host.images = self._images(images, graph)
        host.containers = self._containers(meta, graph, host.images, docker)
        if docker is not None:
            self.problems += docker.problems
            assert self.docker_root is not None
            host.volumes = read_volumes(
                os.path.join(self.docker_root, "volumes"),
                docker.containers.values(),
                incomplete=docker.incomplete,
                key_of={c.id: k for k, c in host.containers.items()},
            )
            host.build_cache = docker_build_cache(self.docker_root)
        host.layers = self._layers(snap, graph, host, kept)
        host.blobs = _blobs(meta, content, kept, self.namespace, host.elsewhere)
        host.owners_known = kept is not None and (docker is None or not docker.incomplete)
        host.collect_hint = (
            "containerd's garbage collector removes them at its next collection (after an "
            "image, container or lease is deleted); by hand: `ctr -n NS snapshots rm KEY`, "
            "`ctr -n NS content rm DIGEST`."
        )
        self.problems += content.problems + _blob_problems(meta, content, host.blobs)
        host.problems = list(dict.fromkeys(self.problems))
        for lid, found in self.attached.items():
            layer = host.layers.get(lid)
            if layer is not None:
                from overlayscope.record import replace

                host.layers[lid] = replace(layer, problems=(*layer.problems, *found))
        return host

    # -- paths ------------------------------------------------------------------------

    def _meta_path(self) -> str:
        return os.path.join(self.root, META_DIR, "meta.db")

    def _symlinked_plugin_dirs(self) -> set[str]:
        """Plugin dirs that are symlinks: never read through (they could lead anywhere)."""
        out = set()
        for name in (META_DIR, SNAPSHOTTER_DIR, CONTENT_DIR):
            path = os.path.join(self.root, name)
            st = lstat_or_none(path)
            if st is not None and stat.S_ISLNK(st.st_mode):
                out.add(name)
                self.problems.append(
                    Problem(
                        ProblemKind.SYMLINK_IN_ROOT,
                        path,
                        "is a symlink; what is beneath is not read",
                    )
                )
        return out

    # -- images -----------------------------------------------------------------------

    def _images(self, resolved: list[ResolvedImage], graph: _Graph) -> dict[str, Image]:
        grouped: dict[str, list[ResolvedImage]] = {}
        for r in resolved:
            image_id = _image_id(r)
            grouped.setdefault(object_key(r.record.namespace, image_id), []).append(r)
        out: dict[str, Image] = {}
        for key, group in sorted(grouped.items()):
            first = group[0]
            ns = first.record.namespace
            names = sorted(r.record.name for r in group)
            # CRI names an image by its config digest too (`sha256:<hex>`): an id, not a
            # tag (containerd's ParseImageReferences keeps only tagged and digested names).
            tags = tuple(n for n in names if "@" not in n and not _BARE_DIGEST.match(n))
            digests = tuple(n for n in names if "@" in n and not n.startswith(_DANGLING))
            layers = []
            for diff_id, chain_id, created_by in zip(
                first.diff_ids, first.chain_ids, first.history, strict=True
            ):
                backend = graph.backend_of(ns, chain_id)
                layers.append(
                    ImageLayer(
                        id=backend.id if backend else None,
                        chain_id=chain_id,
                        diff_id=diff_id,
                        size=backend.size if backend else None,
                        created_by=created_by,
                    )
                )
            image = Image(
                id=_image_id(first),
                tags=tags,
                digests=digests,
                dangling=not tags,
                intermediate=False,
                parent=None,
                created=first.created or first.record.created,
                layers=tuple(layers),
                containers=(),
                path=first.config_path or graph.meta.path,
                namespace=ns,
                store=Store.CONTAINERD,
                config_digest=first.config,
                history=first.steps,
            )
            out[key] = image
            for name in names:
                graph.image_by_name[(ns, name)] = key
        return out

    # -- containers ---------------------------------------------------------------------

    def _containers(
        self,
        meta: MetaDB,
        graph: _Graph,
        images: dict[str, Image],
        docker: object | None,
    ) -> dict[str, Container]:
        from overlayscope.root.docker.containers import ContainerStore

        configs: dict[str, DockerContainer] = (
            # a damaged config tells less than the snapshots do (its problem is reported)
            {k: c for k, c in docker.containers.items() if not c.damaged}
            if isinstance(docker, ContainerStore)
            else {}
        )
        mounted = overlay_upper_dirs()
        out: dict[str, Container] = {}
        records = {(c.namespace, c.id): c for c in meta.containers}
        # Docker 29 keeps a containerd container only while it runs; a stopped one is its
        # lease `<id>` and its snapshots, and its config.v2.json beside.
        stopped = {
            (lease.namespace, lease.id)
            for lease in meta.leases
            if lease.namespace == DOCKER_NAMESPACE and lease.id in lease.snapshots
        }
        if self.namespace in (None, DOCKER_NAMESPACE):
            stopped |= {(DOCKER_NAMESPACE, cid) for cid in configs}
        for ns, cid in sorted(set(records) | stopped):
            rec = records.get((ns, cid))
            config = configs.get(cid) if ns == DOCKER_NAMESPACE else None
            c = self._container(
                ns, cid, rec, config, _snapshot_key(ns, cid, rec, graph), graph, images, mounted
            )
            out[c.key] = c
        # The images know their containers.
        users: dict[str, list[str]] = {}
        for c in out.values():
            users.setdefault(c.image_key, []).append(c.key)
        for key, image in list(images.items()):
            if key in users:
                from overlayscope.record import replace

                images[key] = replace(image, containers=tuple(sorted(users[key])))
        return out

    def _container(
        self,
        ns: str,
        cid: str,
        rec: ContainerRecord | None,
        config: DockerContainer | None,
        snapshot_key: str | None,
        graph: _Graph,
        images: dict[str, Image],
        mounted: frozenset[str],
    ) -> Container:
        rw = graph.backend_of(ns, snapshot_key) if snapshot_key else None
        # A record that names a backend the snapshotter lacks is the graph's problem.
        if snapshot_key and rw is None and (ns, snapshot_key) not in graph.refs:
            self.problems.append(
                Problem(
                    ProblemKind.MISSING_SNAPSHOT,
                    config.path if config else graph.meta.path,
                    f"container {ns}/{cid}: its snapshot {snapshot_key!r} has no record",
                )
            )
        parent_key = graph.parent_key(ns, snapshot_key) if snapshot_key else None
        init = None
        if parent_key is not None and parent_key == f"{cid}{_INIT}":
            init = graph.backend_of(ns, parent_key)
            parent_key = graph.parent_key(ns, parent_key)
        image_layers = tuple(graph.chain(ns, parent_key))
        image_ref = rec.image if rec is not None else None
        image_key = graph.image_by_name.get((ns, image_ref)) if image_ref else None
        if image_key is None and parent_key is not None:
            # No record names the image (a stopped Docker 29 container): the image whose
            # top layer the container stands on.
            image_key = next(
                (
                    k
                    for k, i in sorted(images.items())
                    if i.namespace == ns and i.top_chain_id == parent_key
                ),
                None,
            )
        image_id = images[image_key].id if image_key in images else ""
        if config is not None:
            image_id = config.image_id
        elif not image_id and image_ref:
            image_id = ""
        labels = dict(rec.labels) if rec is not None else {}
        k8s = _kubernetes(labels)
        if config is not None:
            name, state = config.name, config.state
        else:
            # Docker 29 keeps names in its data root; without it a container has none here.
            name = _k8s_name(k8s) if k8s else ("" if ns == DOCKER_NAMESPACE else cid)
            state = _state(ns, rec, rw, graph, mounted)
        path = config.path if config is not None else graph.meta.path
        return Container(
            id=cid,
            name=name,
            image_id=image_id,
            state=state,
            created=config.created if config else (rec.created if rec else None),
            started_at=config.started_at if config else None,
            finished_at=config.finished_at if config else None,
            layer=rw.id if rw else None,
            init_layer=init.id if init else None,
            image_chain_id=parent_key,
            image_layers=image_layers,
            log_path=config.log_path if config else None,
            path=path,
            namespace=ns,
            store=Store.CONTAINERD,
            image_ref=image_ref,
            logs=config.logs if config else (),
            kubernetes=k8s,
            init_expected=config is not None or init is not None,
            # Docker 29 keeps what a container runs in its config.v2.json; containerd in
            # the container's OCI spec (no ports: CNI, not containerd, publishes them).
            **(
                run_fields(config.run, config.exit_code if config.finished_at else None)
                if config is not None
                else run_fields(rec.run if rec is not None else RunConfig())
            ),
        )

    # -- layers -------------------------------------------------------------------------

    def _layers(
        self, snap: SnapshotterDB, graph: _Graph, host: Host, kept: set[gc.Node] | None
    ) -> dict[str, Layer]:
        owners: dict[tuple[str, str], tuple[Role, str]] = {}  # (ns, key) → (role, container)
        for c in host.containers.values():
            ns = c.namespace or ""
            if c.layer is not None:
                owners[(ns, graph.key_of_id(c.layer) or "")] = (Role.RW, c.key)
            if c.init_layer is not None:
                owners[(ns, graph.key_of_id(c.init_layer) or "")] = (Role.INIT, c.key)
        images_of: dict[str, list[str]] = {}
        diff_of: dict[str, str] = {}
        for key, image in host.images.items():
            for il in image.layers:
                if il.id is not None:
                    images_of.setdefault(il.id, []).append(key)
                    diff_of.setdefault(il.id, il.diff_id)
        out: dict[str, Layer] = {}
        dirs = set(snap.dirs)
        for backend in sorted(snap.snapshots.values(), key=lambda b: int(b.id)):
            ref = graph.ref_of_backend.get(backend.name)
            ns = ref.namespace if ref else backend.namespace
            key = ref.key if ref else backend.key
            if self.namespace is not None and ns != self.namespace:
                dirs.discard(backend.id)  # another namespace's: neither shown nor an orphan
                host.elsewhere[snap.snapshot_dir(backend.id)] = f"namespace {ns}"
                continue
            path = snap.snapshot_dir(backend.id)
            fs = os.path.join(path, "fs")
            if backend.id not in dirs:
                self._attach(
                    backend.id,
                    Problem(
                        ProblemKind.MISSING_LAYER_DIR,
                        path,
                        f"snapshot {backend.name!r} ({KIND_NAMES[backend.kind]}) has no dir",
                    ),
                )
            role, container = owners.get((ns, key), (None, None))
            if role is None:
                role = Role.IMAGE if backend.kind == KIND_COMMITTED else Role.RW
            committed = backend.kind == KIND_COMMITTED
            if ref is None:
                # The snapshotter's record, but no namespace's: containerd's GC removes it
                # from the snapshotter (when the metadata is readable at all).
                collectable = kept is not None
            else:
                collectable = kept is not None and gc.snapshot(ns, key) not in kept
            # Only a dir the listing of snapshots/ found (no symlink on the way) is looked
            # into: through a symlinked snapshots/, fs/ could be anywhere on the host.
            denied = False
            try:
                st = lstat_known(fs) if backend.id in dirs else None
            except AccessDenied:
                # snapshots/<N> is root's alone: its fs/ is unknown, never "missing"
                st, denied = None, True
                self._attach(backend.id, permission_problem(path))
            if backend.id in dirs and not denied:
                self._check_content_dir(backend, fs, st)
            out[backend.id] = Layer(
                id=backend.id,
                path=path,
                content_dir=fs,
                link=None,
                lower=tuple(graph.lower_ids(backend)),
                role=role,
                store=Store.CONTAINERD,
                chain_ids=(key,) if committed and key.startswith("sha256:") else (),
                diff_id=diff_of.get(backend.id),
                images=tuple(sorted(images_of.get(backend.id, ()))),
                container=container,
                recorded_size=backend.size,
                has_content=denied or (st is not None and stat.S_ISDIR(st.st_mode)),
                committed=committed,
                key=key,
                namespace=ns,
                collectable=collectable,
                cache_key=(
                    f"containerd-{backend.id}-{key}" if committed and role is Role.IMAGE else None
                ),
            )
        # Which snapshot a dir holds is in the snapshotter's records alone: with some lost,
        # a dir no record names may be anyone's, so none is called an orphan.
        unresolved = None if snap.complete else _why_incomplete(snap)
        for name in sorted(dirs - set(out), key=_numeric_first):
            path = snap.snapshot_dir(name)
            st = lstat_or_none(os.path.join(path, "fs"))
            out[name] = Layer(
                id=name,
                path=path,
                content_dir=os.path.join(path, "fs"),
                link=None,
                lower=(),
                role=Role.ORPHAN if unresolved is None else Role.UNRESOLVED,
                store=Store.CONTAINERD,
                has_content=st is not None and stat.S_ISDIR(st.st_mode),
                unresolved=unresolved,
            )
        return out

    def _check_content_dir(
        self, backend: BackendSnapshot, fs: str, st: os.stat_result | None
    ) -> None:
        if st is not None and stat.S_ISDIR(st.st_mode):
            return
        if st is not None and stat.S_ISLNK(st.st_mode):
            problem = Problem(ProblemKind.SYMLINK_IN_ROOT, fs, "is a symlink; not followed")
        else:
            what = "is not a directory" if st is not None else "is missing"
            problem = Problem(
                ProblemKind.MISSING_DIFF, fs, f"snapshot {backend.name!r}: its fs/ {what}"
            )
        self._attach(backend.id, problem)

    def _attach(self, layer_id: str, problem: Problem) -> None:
        self.problems.append(problem)
        self.attached.setdefault(layer_id, []).append(problem)


@record(frozen=False, slots=False)
class _Graph:
    """Snapshots by namespace and key, and their backend records."""

    meta: MetaDB
    snap: SnapshotterDB
    refs: dict[tuple[str, str], SnapshotRecord] = field(default_factory=dict)
    ref_of_backend: dict[str, SnapshotRecord] = field(default_factory=dict)
    image_by_name: dict[tuple[str, str], str] = field(default_factory=dict)
    # Where the metadata and the snapshotter's records disagree.
    problems: list[Problem] = field(default_factory=list)
    _key_of_id: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in self.meta.snapshots:
            self.refs[(s.namespace, s.key)] = s
            self.ref_of_backend[s.name] = s
            backend = self.snap.snapshots.get(s.name)
            if backend is None:
                if not self.snap.readable:
                    continue  # no records at all: that problem is the snapshotter DB's
                self.problems.append(
                    Problem(
                        ProblemKind.MISSING_SNAPSHOT,
                        self.meta.path,
                        f"{s.namespace}: snapshot {s.key!r} names {s.name!r}, "
                        "which the snapshotter does not have",
                    )
                )
                continue
            self._key_of_id[backend.id] = s.key
            parent = self.snap.snapshots.get(backend.parent) if backend.parent else None
            parent_ref = self.ref_of_backend.get(backend.parent) if backend.parent else None
            want = self.refs.get((s.namespace, s.parent)) if s.parent else None
            if want is not None and parent is not None and want.name != parent.name:
                self.problems.append(
                    Problem(
                        ProblemKind.LOWER_MISMATCH,
                        self.meta.path,
                        f"{s.namespace}: snapshot {s.key!r} has parent {s.parent!r} in the "
                        f"metadata but {parent_ref.key if parent_ref else backend.parent!r} "
                        "in the snapshotter",
                    )
                )
        for backend in self.snap.snapshots.values():
            self._key_of_id.setdefault(backend.id, backend.key)

    def backend_of(self, ns: str, key: str | None) -> BackendSnapshot | None:
        ref = self.refs.get((ns, key)) if key else None
        return self.snap.snapshots.get(ref.name) if ref else None

    def parent_key(self, ns: str, key: str | None) -> str | None:
        ref = self.refs.get((ns, key)) if key else None
        return ref.parent if ref else None

    def chain(self, ns: str, key: str | None) -> Iterable[str]:
        """Snapshot dir ids from `key` down its parents, top → bottom (cycle-safe)."""
        seen: set[str] = set()
        while key is not None and key not in seen:
            seen.add(key)
            backend = self.backend_of(ns, key)
            if backend is None:
                return
            yield backend.id
            key = self.parent_key(ns, key)

    def lower_ids(self, backend: BackendSnapshot) -> Iterable[str]:
        """The dir ids beneath a snapshot, top → bottom, from the snapshotter's own parents
        (what its overlay mount's lowerdir lists)."""
        seen = {backend.name}
        parent = backend.parent
        while parent is not None and parent not in seen:
            seen.add(parent)
            found = self.snap.snapshots.get(parent)
            if found is None:
                return
            yield found.id
            parent = found.parent

    def key_of_id(self, snapshot_id: str) -> str | None:
        return self._key_of_id.get(snapshot_id)


def _snapshot_key(ns: str, cid: str, rec: ContainerRecord | None, graph: _Graph) -> str | None:
    """The key of a container's writable snapshot in this store, if it has one here.

    A containerd container names it (`snapshotKey`, of the `overlayfs` snapshotter). Docker
    29 mounts the rootfs itself and gives containerd none: its writable snapshot is keyed
    by the container's id (moby's `createLayer`), held by the lease of the same name.
    """
    if rec is not None and rec.snapshot_key:
        return rec.snapshot_key if rec.snapshotter == SNAPSHOTTER else None
    if ns == DOCKER_NAMESPACE and graph.meta.readable:
        return cid  # Docker 29 always prepares `<id>`: its absence is a problem
    return cid if graph.backend_of(ns, cid) is not None else None


def _image_id(r: ResolvedImage) -> str:
    """The image id its engine shows: Docker 29 names images by their target (index or
    manifest) digest; containerd's CRI, like Docker on overlay2, by the config digest."""
    if r.record.namespace == DOCKER_NAMESPACE or r.config is None:
        return r.record.target.digest
    return r.config


def _kubernetes(labels: dict[str, str]) -> Kubernetes | None:
    pod = labels.get(_K8S_POD)
    if pod is None:
        return None
    return Kubernetes(
        pod=pod,
        pod_namespace=labels.get(_K8S_POD_NS, ""),
        container=labels.get(_K8S_CONTAINER, ""),
        sandbox=labels.get(_K8S_KIND) == "sandbox",
    )


def _k8s_name(k8s: Kubernetes) -> str:
    """`pod/container` as `crictl ps` shows the pair; the pod alone for its sandbox."""
    return k8s.pod if k8s.sandbox or not k8s.container else f"{k8s.pod}/{k8s.container}"


def _state(
    ns: str,
    rec: ContainerRecord | None,
    rw: BackendSnapshot | None,
    graph: _Graph,
    mounted: frozenset[str],
) -> str:
    """containerd keeps no state in its root: a rootfs mounted on this machine is running;
    Docker 29 keeps a containerd container only while it runs; else nobody can say."""
    if rw is not None:
        fs = os.path.normpath(os.path.join(graph.snap.snapshot_dir(rw.id), "fs"))
        if fs in mounted:
            return "running"
    if ns == DOCKER_NAMESPACE:
        return "running" if rec is not None else "exited"
    return "unknown"


def _blobs(
    meta: MetaDB,
    content: ContentStore,
    kept: set[gc.Node] | None,
    only: str | None,
    elsewhere: dict[str, str],
) -> dict[str, Blob]:
    """The content store's blob files; with `only`, those its namespace holds and those
    no namespace holds (the others' go to `elsewhere`)."""
    holders: dict[str, list[str]] = {}
    sizes: dict[str, int | None] = {}
    for b in meta.blobs:
        holders.setdefault(b.digest, []).append(b.namespace)
        sizes.setdefault(b.digest, b.size)
    out: dict[str, Blob] = {}
    for digest, path in content.blobs.items():
        namespaces = tuple(sorted(holders.get(digest, ())))
        if only is not None and namespaces and only not in namespaces:
            elsewhere[path] = "namespace " + ", ".join(namespaces)
            continue
        # The file goes when no namespace's records keep it any more.
        collectable = kept is not None and all(
            gc.content(ns, digest) not in kept for ns in namespaces
        )
        out[path] = Blob(digest, path, sizes.get(digest), namespaces, collectable)
    return out


def _blob_problems(meta: MetaDB, content: ContentStore, shown: dict[str, Blob]) -> list[Problem]:
    """Blob records whose file is missing, and blob files that are not what their record
    says (a symlink; another size than the recorded one, so not the content of that digest).
    Layer blobs are not hashed: that would read every compressed layer."""
    if not content.listed:
        return []  # the store's own problem says why nothing could be seen
    out: list[Problem] = []
    reported = {(p.kind, p.path) for p in content.problems}
    holders: dict[str, set[str]] = {}
    for b in meta.blobs:
        if b.namespace in meta.namespaces:  # those of the namespaces shown
            holders.setdefault(b.digest, set()).add(b.namespace)
    for digest, namespaces in sorted(holders.items()):
        path = content.blob_path(digest)
        if digest not in content.blobs and (ProblemKind.MISSING_BLOB, path) not in reported:
            out.append(
                Problem(
                    ProblemKind.MISSING_BLOB,
                    path,
                    f"recorded in {', '.join(sorted(namespaces))} but not in the store",
                )
            )
    for blob in shown.values():
        st = lstat_or_none(blob.path)
        if st is None or blob.path in {path for _, path in reported}:
            continue  # already reported when it was read
        if stat.S_ISLNK(st.st_mode):
            out.append(Problem(ProblemKind.SYMLINK_IN_ROOT, blob.path, "is a symlink; not read"))
        elif blob.size is not None and st.st_size != blob.size:
            out.append(
                Problem(
                    ProblemKind.BLOB_DIGEST_MISMATCH,
                    blob.path,
                    f"holds {plural(st.st_size, 'byte')}, its record {blob.size}: "
                    "not its digest's content",
                )
            )
    return out


def _only(meta: MetaDB, namespace: str) -> MetaDB:
    """`meta` restricted to `namespace`'s records (blobs excepted: who else holds one
    matters to whether it can go)."""
    return MetaDB(
        path=meta.path,
        namespaces=[ns for ns in meta.namespaces if ns == namespace],
        images=[i for i in meta.images if i.namespace == namespace],
        containers=[c for c in meta.containers if c.namespace == namespace],
        snapshots=[s for s in meta.snapshots if s.namespace == namespace],
        blobs=meta.blobs,
        leases=[lease for lease in meta.leases if lease.namespace == namespace],
        problems=meta.problems,
        readable=meta.readable,
        version=meta.version,
    )


def _numeric_first(name: str) -> tuple[int, int, str]:
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def _why_incomplete(snap: SnapshotterDB) -> str:
    """Why a snapshot dir no record names cannot be called an orphan."""
    if not snap.problems:
        return "the snapshotter's records were not read"
    first = snap.problems[0]
    more = f"; {len(snap.problems) - 1} more" if len(snap.problems) > 1 else ""
    return f"the snapshotter's records are damaged ({first.kind}: {first.path}{more})"
