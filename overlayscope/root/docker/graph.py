"""A Docker data root's records on disk → one `Host`, whatever graph driver holds the layers.

Docker keeps the same records for every graph driver: the layer store (`image/<driver>/
layerdb`: chain id → cache id, the driver's dir), the image store (`imagedb`, tags in
`repositories.json`) and the container configs (`containers/`). A driver's store reader
gives the dirs (`GraphDirs`: each dir's content, the dirs beneath it, whether it holds a
full tree); this module does the rest and turns every inconsistency into a Problem.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from overlayscope.names import plural
from overlayscope.record import field, record, replace
from overlayscope.root.docker.containers import ContainerRecord, read_containers
from overlayscope.root.docker.imagedb import ImageDB, history_for_layers, read_imagedb
from overlayscope.root.docker.layerdb import LayerDB, read_layerdb
from overlayscope.root.docker.volumes import read_volumes
from overlayscope.root.model import (
    Container,
    Host,
    Image,
    ImageLayer,
    Layer,
    Role,
    SizeRule,
    Store,
)
from overlayscope.root.mounts import MOUNTINFO, mount_points
from overlayscope.root.oci import chain_ids
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import lstat_or_none
from overlayscope.root.run_config import run_fields

# note(layer_id, problem): record a problem, attached to a layer dir when known.
_Note = Callable[[str | None, Problem], None]


@record
class GraphDir:
    """One dir of a graph driver, as its store reader found it."""

    id: str
    path: str
    content_dir: str  # overlay2 diff/; legacy overlay root/ (image) or upper/ (container)
    link: str | None  # overlay2: its short name
    lower: tuple[str, ...]  # the dir ids beneath it, as the driver records them
    has_content: bool
    committed: bool
    merged: bool
    full_tree: bool = False  # content_dir holds the whole filesystem, not a diff
    link_path: str | None = None  # overlay2: `l/<short>`, when it leads back here
    lower_known: bool = True  # False when a refused look left `lower` unknown (not root)


@record(frozen=False, slots=False)
class GraphDirs:
    """Every dir of a graph driver, and what is wrong with them."""

    path: str  # <root>/<driver>
    lower_file: str = "lower"  # the file in a dir naming what lies beneath it
    dirs: dict[str, GraphDir] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_docker_graph(
    root: str, driver: str, overlay: GraphDirs, *, store: Store, size_rule: SizeRule
) -> Host:
    """Read the data root `root`, whose graph driver `driver` keeps the dirs `overlay`."""
    above: list[Problem] = []  # symlinks on the way to the record dirs
    image_dir = os.path.join(root, "image", driver)
    layerdb = (
        read_layerdb(os.path.join(image_dir, "layerdb"))
        if _no_symlink_on_the_way(root, ("image", driver, "layerdb", "sha256"), above)
        and _no_symlink_on_the_way(root, ("image", driver, "layerdb", "mounts"), above)
        else LayerDB()
    )
    imagedb = (
        read_imagedb(image_dir)
        if _no_symlink_on_the_way(root, ("image", driver, "imagedb", "content", "sha256"), above)
        and _no_symlink_on_the_way(root, ("image", driver, "imagedb", "metadata", "sha256"), above)
        and _no_symlink_on_the_way(root, ("image", driver, "repositories.json"), above)
        else ImageDB()
    )
    records = read_containers(os.path.join(root, "containers"))
    host = Host(root=root, driver=driver, store=store, size_rule=size_rule)
    host.engine = "Docker"
    host.problems.extend(dict.fromkeys(above))  # each symlink once
    host.problems.extend(overlay.problems + layerdb.problems + imagedb.problems + records.problems)
    attached: dict[str, list[Problem]] = {}

    def note(layer_id: str | None, problem: Problem) -> None:
        host.problems.append(problem)
        if layer_id is not None:
            attached.setdefault(layer_id, []).append(problem)

    for rec in layerdb.layers.values():
        if rec.cache_id not in overlay.dirs:
            note(
                None,
                Problem(
                    ProblemKind.MISSING_LAYER_DIR,
                    os.path.join(rec.path, "cache-id"),
                    f"{driver}/{rec.cache_id} does not exist",
                ),
            )
    images = _images(imagedb, layerdb, records.containers, note)
    host.images = {image.id: replace(image, store=store) for image in images}
    containers = _containers(records.containers, layerdb, overlay, imagedb, note, driver)
    host.containers = {cid: replace(c, store=store) for cid, c in containers.items()}
    host.layers = _layers(overlay, layerdb, host, store)
    host.volumes = read_volumes(
        os.path.join(root, "volumes"),
        records.containers.values(),
        incomplete=records.incomplete,
        key_of={cid: c.key for cid, c in host.containers.items()},
    )
    host.build_cache = docker_build_cache(root)
    _check_claims(host, layerdb, note)
    unknown = {dir_id for dir_id, d in overlay.dirs.items() if not d.lower_known}
    _check_lowers(host, layerdb, note, overlay.lower_file, unknown)
    damaged = _damaged_records(host.problems, (os.path.join(root, "containers"), image_dir))
    if damaged is None and lstat_or_none(os.path.join(image_dir, "layerdb")) is None:
        damaged = f"there is no layer store (image/{driver}/layerdb)"
    host.owners_known = damaged is None
    _settle_orphans(host, overlay, damaged)
    for lid, layer in host.layers.items():
        own = [p for p in overlay.problems if _under(p.path, layer.path)]
        problems = tuple(own + attached.get(lid, []))
        if problems:
            host.layers[lid] = _replace_problems(layer, problems)
    return host


# Damage to these means a record naming who uses a dir may be lost, wherever it lies.
_OWNER_DAMAGE = frozenset(
    {
        ProblemKind.MOUNT_WITHOUT_CONTAINER,
        ProblemKind.CONTAINER_WITHOUT_MOUNT,
        ProblemKind.SHARED_LAYER_DIR,
        ProblemKind.MISSING_PARENT,
        ProblemKind.MISSING_LAYER,
    }
)
# ...and these, on a record under the container or image record dirs.
_RECORD_DAMAGE = frozenset(
    {
        ProblemKind.UNREADABLE,
        ProblemKind.PERMISSION_DENIED,
        ProblemKind.BAD_METADATA,
        ProblemKind.SYMLINK_IN_ROOT,
    }
)


def _damaged_records(problems: list[Problem], record_dirs: tuple[str, ...]) -> str | None:
    """Why the records saying which dir each image and container uses cannot be trusted
    whole (the first such problem, and how many more), or None when they can."""
    found = [
        p
        for p in problems
        if p.kind in _OWNER_DAMAGE
        or (
            p.kind in _RECORD_DAMAGE
            and any(_under(p.path, d) or _under(d, p.path) for d in record_dirs)
        )
    ]
    if not found:
        return None
    more = f"; {len(found) - 1} more" if len(found) > 1 else ""
    return f"records that name its users are damaged ({found[0].kind}: {found[0].path}{more})"


def docker_build_cache(root: str) -> tuple[str, ...]:
    """BuildKit's state dir, when the data root has one (never through a symlink)."""
    st = lstat_or_none(os.path.join(root, "buildkit"))
    return (os.path.join(root, "buildkit"),) if st is not None and stat.S_ISDIR(st.st_mode) else ()


def _no_symlink_on_the_way(root: str, parts: tuple[str, ...], problems: list[Problem]) -> bool:
    """Whether no dir from `root` down to `parts[:-1]` is a symlink. The last part is the
    reader's to check (it opens it O_NOFOLLOW); a symlink above it would be followed by
    every path through it, so what lies beneath is not read at all, and said so."""
    path = root
    for part in parts[:-1]:
        path = os.path.join(path, part)
        st = lstat_or_none(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            problems.append(
                Problem(
                    ProblemKind.SYMLINK_IN_ROOT, path, "is a symlink; what is beneath is not read"
                )
            )
            return False
    return True


def _images(
    imagedb: ImageDB,
    layerdb: LayerDB,
    containers: dict[str, ContainerRecord],
    note: _Note,
) -> list[Image]:
    parents: set[str] = {rec.parent for rec in imagedb.images.values() if rec.parent}
    users: dict[str, list[str]] = {}
    for c in containers.values():
        users.setdefault(c.image_id, []).append(c.id)
    out: list[Image] = []
    for rec in imagedb.images.values():
        tags = tuple(imagedb.tags.get(rec.id, ()))
        digests = tuple(imagedb.digests.get(rec.id, ()))
        untagged = not tags and not digests
        layers: list[ImageLayer] = []
        steps = zip(rec.diff_ids, chain_ids(rec.diff_ids), history_for_layers(rec), strict=True)
        for diff_id, chain_id, created_by in steps:
            layer_rec = layerdb.layers.get(chain_id)
            if layer_rec is None:
                note(
                    None,
                    Problem(
                        ProblemKind.MISSING_LAYER,
                        rec.path,
                        f"layer {chain_id} (diff {diff_id}) has no layerdb record",
                    ),
                )
            layers.append(
                ImageLayer(
                    id=layer_rec.cache_id if layer_rec else None,
                    chain_id=chain_id,
                    diff_id=diff_id,
                    size=layer_rec.size if layer_rec else None,
                    created_by=created_by,
                )
            )
        out.append(
            Image(
                id=rec.id,
                tags=tags,
                digests=digests,
                dangling=untagged and rec.id not in parents,
                intermediate=untagged and rec.id in parents,
                parent=rec.parent,
                created=rec.created,
                layers=tuple(layers),
                containers=tuple(sorted(users.get(rec.id, ()))),
                path=rec.path,
                config_digest=rec.id,
                history=rec.history,
            )
        )
    return out


def chain_dirs(top: str | None, layerdb: LayerDB) -> list[str]:
    """overlay2 dir ids from a chain id down its parents, top → bottom (cycle-safe)."""
    out: list[str] = []
    seen: set[str] = set()
    while top is not None and top not in seen:
        seen.add(top)
        rec = layerdb.layers.get(top)
        if rec is None:
            break
        out.append(rec.cache_id)
        top = rec.parent
    return out


def _containers(
    records: dict[str, ContainerRecord],
    layerdb: LayerDB,
    overlay: GraphDirs,
    imagedb: ImageDB,
    note: _Note,
    driver: str,
) -> dict[str, Container]:
    for cid, held in layerdb.mounts.items():
        if cid not in records:
            note(
                held.mount_id,
                Problem(
                    ProblemKind.MOUNT_WITHOUT_CONTAINER,
                    held.path,
                    f"no containers/{cid}/config.v2.json for this mount",
                ),
            )
        for dir_id in (held.mount_id, held.init_id):
            if dir_id is not None and dir_id not in overlay.dirs:
                note(
                    None,
                    Problem(
                        ProblemKind.MOUNT_MISSING_DIR,
                        held.path,
                        f"{driver}/{dir_id} does not exist",
                    ),
                )
    out: dict[str, Container] = {}
    for cid, rec in records.items():
        mount = layerdb.mounts.get(cid)
        if mount is None:
            note(
                None,
                Problem(ProblemKind.CONTAINER_WITHOUT_MOUNT, rec.path, "no layerdb mount record"),
            )
        image = imagedb.images.get(rec.image_id)
        if image is None and rec.image_id:  # none named: the config's damage is reported
            note(
                None,
                Problem(
                    ProblemKind.MISSING_IMAGE,
                    rec.path,
                    f"its image {rec.image_id} is not in imagedb",
                ),
            )
        parent = mount.parent if mount else None
        if image is not None and mount is not None:
            top = chain_ids(image.diff_ids)[-1] if image.diff_ids else None
            if parent != top:
                note(
                    mount.mount_id,
                    Problem(
                        ProblemKind.MOUNT_PARENT_MISMATCH,
                        os.path.join(mount.path, "parent"),
                        f"parent {parent} is not the top layer {top} of image {rec.image_id}",
                    ),
                )
        out[cid] = Container(
            id=cid,
            name=rec.name,
            image_id=rec.image_id,
            state=rec.state,
            created=rec.created,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            layer=mount.mount_id if mount else None,
            init_layer=mount.init_id if mount else None,
            image_chain_id=parent,
            image_layers=tuple(chain_dirs(parent, layerdb)),
            log_path=rec.log_path,
            path=rec.path,
            logs=rec.logs,
            init_expected=True,
            **run_fields(rec.run, rec.exit_code if rec.finished_at else None),
        )
    return out


def _beneath(overlay: GraphDirs, named: set[str]) -> set[str]:
    """Dirs the `lower` chains of record-named dirs lead to (and theirs), not named
    themselves: a layer in use stands on them, whatever their own record says."""
    out: set[str] = set()
    pending = list(named)
    seen = set(named)
    while pending:
        d = overlay.dirs.get(pending.pop())
        for below in d.lower if d is not None else ():
            if below not in seen:
                seen.add(below)
                out.add(below)
                pending.append(below)
    return out


def mounted_dirs(overlay: GraphDirs, mountinfo: str = MOUNTINFO) -> set[str]:
    """Dirs whose `merged/` is a mount point on this machine: a running container's."""
    points = mount_points(mountinfo)
    return {
        dir_id
        for dir_id, d in overlay.dirs.items()
        if d.merged and os.path.normpath(os.path.join(d.path, "merged")) in points
    }


def _why_unresolved(
    dir_id: str, beneath: set[str], mounted: set[str], damaged: str | None
) -> str | None:
    """Why a dir no record names cannot be called an orphan, or None when it is one."""
    if dir_id in mounted:
        return "its merged/ is mounted: a running container's, whose records are gone"
    if dir_id in beneath:
        return "a layer in use stands on it (another dir's `lower` names it)"
    return damaged


def _settle_orphans(host: Host, overlay: GraphDirs, damaged: str | None) -> None:
    """A dir no record names is an orphan only when nothing says it may be in use: it is
    unresolved when mounted, beneath a named dir, or when the records are `damaged`."""
    named = {lid for lid, layer in host.layers.items() if layer.role is not Role.ORPHAN}
    beneath = _beneath(overlay, named)
    mounted = mounted_dirs(overlay)
    for lid, layer in host.layers.items():
        if layer.role is Role.ORPHAN:
            why = _why_unresolved(lid, beneath, mounted, damaged)
            if why is not None:
                host.layers[lid] = replace(layer, role=Role.UNRESOLVED, unresolved=why)


def settle_daemon_named(host: Host, named: dict[str, str]) -> None:
    """Dirs the live daemon names in its GraphDriver data (dir id → the container or
    image it gives the dir to), and every dir beneath them: referenced, so never orphans,
    whatever the disk's records say. One no record names becomes unresolved, and why
    says what the daemon said."""
    pending = [(lid, who, True) for lid, who in sorted(named.items())]
    seen: set[str] = set()
    for lid, who, direct in pending:  # breadth first: a dir named itself is said so
        layer = host.layers.get(lid)
        if lid in seen or layer is None:
            continue
        seen.add(lid)
        if layer.role is Role.ORPHAN:
            where = "it" if direct else "a dir above it"
            why = (
                f"the daemon's GraphDriver data gives {where} to {who}, "
                "though no record on disk names it"
            )
            host.layers[lid] = replace(layer, role=Role.UNRESOLVED, unresolved=why)
        pending.extend((below, who, False) for below in layer.lower)


def _layers(overlay: GraphDirs, layerdb: LayerDB, host: Host, store: Store) -> dict[str, Layer]:
    chains: dict[str, list[str]] = {}
    for rec in layerdb.layers.values():
        chains.setdefault(rec.cache_id, []).append(rec.chain_id)
    images_of: dict[str, set[str]] = {}
    for image in host.images.values():
        for il in image.layers:
            if il.id is not None:
                images_of.setdefault(il.id, set()).add(image.id)
    owner: dict[str, tuple[Role, str]] = {}
    for mount in layerdb.mounts.values():
        owner[mount.mount_id] = (Role.RW, mount.container_id)
        if mount.init_id:
            owner[mount.init_id] = (Role.INIT, mount.container_id)
    out: dict[str, Layer] = {}
    for dir_id, d in sorted(overlay.dirs.items()):
        container = None
        diff_id = None
        size = None
        if dir_id in chains:
            role = Role.IMAGE
            first = layerdb.layers[chains[dir_id][0]]
            diff_id, size = first.diff_id, first.size
        elif dir_id in owner:
            role, container = owner[dir_id]
        else:
            role = Role.ORPHAN
        out[dir_id] = Layer(
            id=dir_id,
            path=d.path,
            content_dir=d.content_dir,
            store=store,
            full_tree=d.full_tree,
            link=d.link,
            lower=d.lower,
            role=role,
            chain_ids=tuple(sorted(chains.get(dir_id, ()))),
            diff_id=diff_id,
            images=tuple(sorted(images_of.get(dir_id, ()))),
            container=container,
            recorded_size=size,
            has_content=d.has_content,
            cache_key=dir_id if role is Role.IMAGE else None,
            committed=d.committed,
            merged=d.merged,
            link_path=d.link_path,
        )
    return out


def _check_claims(host: Host, layerdb: LayerDB, note: _Note) -> None:
    """Docker gives every layer and every container mount a dir of its own."""
    claims: dict[str, list[str]] = {}
    for rec in layerdb.layers.values():
        claims.setdefault(rec.cache_id, []).append(f"image layer {rec.chain_id}")
    for mount in layerdb.mounts.values():
        claims.setdefault(mount.mount_id, []).append(f"rw layer of {mount.container_id}")
        if mount.init_id:
            claims.setdefault(mount.init_id, []).append(f"init layer of {mount.container_id}")
    for dir_id, owners in sorted(claims.items()):
        if len(owners) > 1 and dir_id in host.layers:
            note(
                dir_id,
                Problem(
                    ProblemKind.SHARED_LAYER_DIR,
                    host.layers[dir_id].path,
                    "claimed by " + " and by ".join(sorted(owners)),
                ),
            )


def _check_lowers(
    host: Host, layerdb: LayerDB, note: _Note, lower_file: str, unknown: set[str]
) -> None:
    """Each dir's `lower` must name exactly the layers its records say lie beneath it;
    `unknown`: dirs whose `lower` a refused look kept from us (no mismatch to tell)."""
    expected: dict[str, list[str]] = {}
    for rec in layerdb.layers.values():
        expected[rec.cache_id] = chain_dirs(rec.parent, layerdb)
    for c in host.containers.values():
        if c.layer is not None:
            expected[c.layer] = [d for d in (c.init_layer,) if d] + list(c.image_layers)
        if c.init_layer is not None:
            expected[c.init_layer] = list(c.image_layers)
    for dir_id, chain in expected.items():
        layer = host.layers.get(dir_id)
        # a refused dir beneath hides what kind of dir it is (a full tree or not)
        if layer is None or dir_id in unknown or not unknown.isdisjoint(chain):
            continue
        want = _down_to_full_tree(host, layer, chain)
        if list(layer.lower) != want:
            note(
                dir_id,
                Problem(
                    ProblemKind.LOWER_MISMATCH,
                    os.path.join(layer.path, lower_file),
                    f"`lower` resolves to {plural(len(layer.lower), 'layer')}, "
                    "the layer store expects "
                    f"{len(want)}: " + _first_difference(list(layer.lower), want),
                ),
            )


def _down_to_full_tree(host: Host, layer: Layer, chain: list[str]) -> list[str]:
    """What a layer's record of the dirs beneath it names: the whole chain (overlay2's
    `lower`), or, for a driver that keeps full trees (legacy overlay), the first full tree
    in it alone (its `lower-id`: the image's top layer, even beneath an init layer); a full
    tree itself names none."""
    if layer.full_tree:
        return []
    for dir_id in chain:
        beneath = host.layers.get(dir_id)
        if beneath is not None and beneath.full_tree:
            return [dir_id]
    return chain


def _first_difference(got: list[str], want: list[str]) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"position {i} is {a}, expected {b}"
    return "the shorter list ends early"


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + os.sep)


def _replace_problems(layer: Layer, problems: tuple[Problem, ...]) -> Layer:
    return replace(layer, problems=problems)
