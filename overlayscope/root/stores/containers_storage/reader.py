"""The containers/storage reader (Podman, Buildah, CRI-O): a graph root → one `Host`.

Layer dirs are overlay2's layout exactly (`overlay/<id>/{diff,link,lower}`, `overlay/l/`;
a base layer has `empty/` instead of `lower`), read with the overlay2 store's dir reader.
What each dir is comes from the JSON records: a container's `layer` is its writable
layer, the rest of layers.json are image layers; a dir no record names is an orphan.
There is no init layer: Podman writes its runtime files (/etc/hosts, /etc/hostname,
/run/.containerenv…) into the container's own layer, and `podman diff` hides them.
"""

from __future__ import annotations

import json
import os
import stat

from overlayscope.digest import sha256
from overlayscope.names import plural
from overlayscope.record import replace
from overlayscope.root.model import (
    ChangeRule,
    Container,
    Host,
    Image,
    ImageLayer,
    Layer,
    Role,
    SizeRule,
    Store,
    Volume,
)
from overlayscope.root.mounts import overlay_upper_dirs
from overlayscope.root.oci import HistoryEntry, chain_ids, layer_history, parse_history
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import RecordError, list_dir, lstat_or_none, read_bytes
from overlayscope.root.run_config import RunConfig, run_fields
from overlayscope.root.stores.containers_storage.idmap import rootless_maps
from overlayscope.root.stores.containers_storage.libpod import (
    PodmanContainer,
    PodmanState,
    read_podman_state,
)
from overlayscope.root.stores.containers_storage.records import (
    ImageRecord,
    StoreRecords,
    big_data_path,
    read_records,
)
from overlayscope.root.stores.overlay2.dirs import SHORT_LINK_DIR, Overlay2Store, read_overlay2

DRIVER = "overlay"
MAX_CONFIG_BYTES = 8 << 20  # an image config is a few KB; containers/image caps them at 4 MiB
# libpod's `initInodes`: what Podman puts in a container's layer for the runtime, and
# `podman diff` leaves out (libpod/diff.go; /run/podman-init is define.ContainerInitPath).
RUNTIME_FILES = (
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/run",
    "/run/.containerenv",
    "/run/notify",
    "/run/podman-init",
    "/run/secrets",
    "/sys",
)


def read_host(root: str, *, run_root: str | None = None) -> Host:
    """Read the containers/storage graph root `root` (and its run root's mounts)."""
    records = read_records(root, run_root)
    dirs = read_overlay2(os.path.join(root, DRIVER))
    podman = read_podman_state(root)
    host = Host(
        root=root,
        driver=DRIVER,
        store=Store.CONTAINERS_STORAGE,
        size_rule=SizeRule.APPARENT,
        change_rule=ChangeRule.UPPER,
        engine="Podman" if podman.exists else "containers/storage",
    )
    host.problems += records.problems + dirs.problems + podman.problems
    host.images = _images(records, dirs, host.problems)
    host.containers = _containers(records, dirs, podman, host)
    host.layers = _layers(records, dirs, host)
    host.volumes = _volumes(root, podman, host)
    host.uid_map, host.gid_map = rootless_maps(root)
    # A rootless store (what rootless_maps maps) is mounted with `userxattr`: its overlay
    # metadata is user.overlay.*, and trusted.overlay.* is none (and vice versa).
    host.overlay_xattrs = "user" if host.uid_map else "trusted"
    # Lost container records are found again in Podman's own DB when it is whole.
    host.owners_known = (
        records.layers_readable
        and records.images_complete
        and (records.containers_complete or (podman.present and not podman.problems))
    )
    host.collect_hint = (
        "containers/storage removes an incomplete layer on its next start; a layer no image "
        "or container uses is what an interrupted pull or build left: `podman image prune` "
        "does not see it, `podman system reset` (everything) or removing the layer does."
    )
    return host


def _chain(records: StoreRecords, top: str | None) -> list[str]:
    """Layer ids from `top` down its parents' records, top → bottom (cycle-safe)."""
    out: list[str] = []
    seen: set[str] = set()
    while top is not None and top not in seen:
        seen.add(top)
        rec = records.layers.get(top)
        if rec is None:
            break
        out.append(top)
        top = rec.parent
    return out


def _stack(records: StoreRecords, dirs: Overlay2Store, top: str | None) -> list[str]:
    """The layers of a stack from `top` down, top → bottom: the records' parent chain and,
    from a layer without a record, that dir's own `lower` (what the kernel would mount).
    A layer named but without record or dir is kept: the stack is then known incomplete."""
    out = _chain(records, top)
    below = records.layers[out[-1]].parent if out else top
    if below is None or below in out:
        return out
    out.append(below)
    d = dirs.dirs.get(below)
    if d is not None:
        out += [lid for lid in d.lower if lid not in out]
    return out


def _images(
    records: StoreRecords, dirs: Overlay2Store, problems: list[Problem]
) -> dict[str, Image]:
    by_top = {i.top_layer: i for i in records.images.values() if i.top_layer}
    known = {lid: r.diff_digest for lid, r in records.layers.items()}
    out: dict[str, Image] = {}
    for rec in records.images.values():
        config = _config(records.root, rec, problems)
        diff_ids = _diff_ids(config)
        found = list(reversed(_stack(records, dirs, rec.top_layer)))  # bottom → top
        # Layers the config names beneath what the records and dirs lead to: unknown ones.
        layer_ids: list[str | None] = [None] * (len(diff_ids) - len(found)) + list(found)
        history: tuple[HistoryEntry, ...] = (
            parse_history(
                config.get("history"),
                big_data_path(records.root, rec.id, "sha256:" + rec.id),
                problems,
            )
            if config
            else ()
        )
        # Diff ids from the config when it matches the layers, else from the records.
        recorded = [known.get(lid) if lid else None for lid in layer_ids]
        diffs = diff_ids if len(diff_ids) == len(layer_ids) else recorded
        chains = (
            chain_ids([d or "" for d in diffs])
            if all(diffs)
            else ["sha256:" + (lid or "") for lid in layer_ids]
        )
        created_by = layer_history(history, len(layer_ids))
        layers = tuple(
            ImageLayer(
                id=lid,
                chain_id=chain,
                diff_id=diff or "",
                size=records.layers[lid].diff_size if lid in records.layers else None,
                created_by=by,
            )
            for lid, chain, diff, by in zip(layer_ids, chains, diffs, created_by, strict=True)
        )
        if rec.top_layer and rec.top_layer not in records.layers:
            problems.append(
                Problem(
                    ProblemKind.MISSING_LAYER,
                    os.path.join(records.root, "overlay-images", "images.json"),
                    f"image {rec.id[:12]}: its top layer {rec.top_layer[:12]} has no record",
                )
            )
        parent_layer = (
            records.layers[rec.top_layer].parent if rec.top_layer in records.layers else None
        )
        parent = by_top.get(parent_layer) if parent_layer else None
        created = config.get("created") if config else None
        image = Image(
            id="sha256:" + rec.id,
            tags=rec.names,
            digests=tuple(f"{_repo(n)}@{rec.digest}" for n in rec.names) if rec.digest else (),
            dangling=not rec.names,
            intermediate=False,
            parent="sha256:" + parent.id if parent is not None else None,
            created=created if isinstance(created, str) else rec.created,
            layers=layers,
            containers=(),
            path=big_data_path(records.root, rec.id, "sha256:" + rec.id),
            store=Store.CONTAINERS_STORAGE,
            config_digest="sha256:" + rec.id,
            extra_size=_big_data_size(records.root, rec),
            history=history,
        )
        out[image.key] = image
    return out


def _config(root: str, rec: ImageRecord, problems: list[Problem]) -> dict[str, object] | None:
    """The image's config (its big-data item named by its id), checked against that id:
    containers/storage names an image by its config's digest."""
    key = "sha256:" + rec.id
    if rec.big_data is not None and key not in dict(rec.big_data):
        return None  # an image made without a config (rare): its layers are still read
    path = big_data_path(root, rec.id, key)
    try:
        raw = read_bytes(path, MAX_CONFIG_BYTES)
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    if sha256(raw).hexdigest() != rec.id:
        problems.append(
            Problem(
                ProblemKind.IMAGE_DIGEST_MISMATCH,
                path,
                f"the config's sha256 is not image {rec.id[:12]}'s id: it was edited",
            )
        )
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        problems.append(Problem(ProblemKind.BAD_METADATA, path, f"invalid JSON: {exc}"))
        return None
    if not isinstance(value, dict):
        problems.append(Problem(ProblemKind.BAD_METADATA, path, "not a JSON object"))
        return None
    return value


def _big_data_size(root: str, rec: ImageRecord) -> int:
    """The bytes of an image's big data, which podman counts in its size: as recorded, or
    (sizes unreadable) the items' files in `overlay-images/<id>/`, each as large as its data."""
    if rec.big_data is not None:
        return sum(size for _, size in rec.big_data)
    try:
        entries = list_dir(os.path.join(root, "overlay-images", rec.id))
    except RecordError:
        return 0
    total = 0
    for name in entries:
        st = lstat_or_none(os.path.join(root, "overlay-images", rec.id, name))
        if st is not None and stat.S_ISREG(st.st_mode):
            total += st.st_size
    return total


def _diff_ids(config: dict[str, object] | None) -> list[str]:
    rootfs = config.get("rootfs") if config else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) for d in ids):
        return []
    return [str(d) for d in ids]


def _repo(name: str) -> str:
    last = name.rsplit("/", 1)
    return name.rsplit(":", 1)[0] if ":" in last[-1] else name


def _containers(
    records: StoreRecords, dirs: Overlay2Store, podman: PodmanState, host: Host
) -> dict[str, Container]:
    mounted_uppers = overlay_upper_dirs()
    index = os.path.join(records.root, "overlay-containers", "containers.json")
    runtime_files = RUNTIME_FILES if podman.exists else ()
    users: dict[str, list[str]] = {}
    out: dict[str, Container] = {}
    for rec in records.containers.values():
        pod: PodmanContainer | None = podman.containers.get(rec.id)
        image = host.images.get("sha256:" + rec.image)
        if rec.layer not in records.layers:
            host.problems.append(
                Problem(
                    ProblemKind.CONTAINER_WITHOUT_MOUNT,
                    index,
                    f"container {rec.id[:12]}: its layer {rec.layer[:12]} has no record",
                )
            )
        upper = os.path.normpath(os.path.join(records.root, DRIVER, rec.layer, "diff"))
        if pod is not None:
            state = pod.state
        elif rec.layer in records.mounted or upper in mounted_uppers:
            state = "running"
        else:
            state = "unknown"  # CRI-O keeps no state in the graph root
        name = pod.name if pod and pod.name else (rec.names[0] if rec.names else "")
        log = pod.log_path if pod else None
        c = Container(
            id=rec.id,
            name=name,
            image_id="sha256:" + rec.image if rec.image else "",
            state=state,
            created=rec.created,
            started_at=pod.started if pod else None,
            finished_at=pod.finished if pod else None,
            layer=rec.layer,
            init_layer=None,
            image_chain_id=image.top_chain_id if image is not None else None,
            image_layers=tuple(_stack(records, dirs, rec.layer)[1:]),
            log_path=log,
            path=os.path.join(records.root, "overlay-containers", rec.id),
            store=Store.CONTAINERS_STORAGE,
            image_ref=(pod.image_name if pod else None) or _meta_str(rec.metadata, "image-name"),
            logs=_logs(records.root, rec.id, log),
            runtime_files=runtime_files,
            **run_fields(pod.run if pod else RunConfig()),
        )
        out[c.key] = c
    for pod in podman.containers.values():
        if pod.id in records.containers or not pod.image_id:
            continue  # listed; or run on a --rootfs dir, outside containers/storage
        # Podman knows it, containers/storage has no (readable) record of it: keep it, so
        # that its image and, while mounted, its layer are still seen in use.
        host.problems.append(
            Problem(
                ProblemKind.CONTAINER_WITHOUT_MOUNT,
                podman.path,
                f"container {pod.id[:12]} ({pod.name}): "
                "containers.json has no readable record of it",
            )
        )
        layer = _mounted_layer(records, dirs, pod.mount_point)
        image = host.images.get("sha256:" + pod.image_id) if pod.image_id else None
        c = Container(
            id=pod.id,
            name=pod.name,
            image_id="sha256:" + pod.image_id if pod.image_id else "",
            state=pod.state,
            created=pod.created,
            started_at=pod.started,
            finished_at=pod.finished,
            layer=layer,
            init_layer=None,
            image_chain_id=image.top_chain_id if image is not None else None,
            image_layers=tuple(_stack(records, dirs, layer)[1:]) if layer else (),
            log_path=pod.log_path,
            path=podman.path,
            store=Store.CONTAINERS_STORAGE,
            image_ref=pod.image_name,
            logs=_logs(records.root, pod.id, pod.log_path),
            runtime_files=runtime_files,
            **run_fields(pod.run),
        )
        out[c.key] = c
    for c in out.values():
        users.setdefault(c.image_key, []).append(c.key)
    for key, keys in users.items():
        if key in host.images:
            host.images[key] = replace(host.images[key], containers=tuple(sorted(keys)))
    return out


def _mounted_layer(
    records: StoreRecords, dirs: Overlay2Store, mount_point: str | None
) -> str | None:
    """The layer whose `merged/` Podman recorded as a container's mount point, if it is one
    of this store's (`<graph root>/overlay/<id>/merged` on the host it ran on: compared by
    its last components, so that a copied store is read the same)."""
    if not mount_point:
        return None
    parts = os.path.normpath(mount_point).split(os.sep)
    if len(parts) < 3 or parts[-1] != "merged" or parts[-3] != DRIVER:
        return None
    lid = parts[-2]
    return lid if lid in records.layers or lid in dirs.dirs else None


def _layers(records: StoreRecords, dirs: Overlay2Store, host: Host) -> dict[str, Layer]:
    owner = {c.layer: c.key for c in host.containers.values() if c.layer}
    images_of: dict[str, list[str]] = {}
    diff_of: dict[str, str] = {}
    chain_of: dict[str, str] = {}
    for key, image in host.images.items():
        for il in image.layers:
            if il.id is not None:
                images_of.setdefault(il.id, []).append(key)
                diff_of.setdefault(il.id, il.diff_id)
                chain_of.setdefault(il.id, il.chain_id)
    used: set[str] = set(images_of)
    for c in host.containers.values():
        used.update(c.image_layers)
    index = os.path.join(records.root, "overlay-layers", "layers.json")
    for missing in records.layers.values():
        if missing.id not in dirs.dirs:
            host.problems.append(
                Problem(
                    ProblemKind.MISSING_LAYER_DIR,
                    index,
                    f"layer {missing.id[:12]}: no overlay/{missing.id}",
                )
            )
    for child in records.layers.values():
        parent = child.parent
        if parent and parent not in records.layers and parent not in records.malformed_layers:
            host.problems.append(
                Problem(
                    ProblemKind.MISSING_PARENT,
                    index,
                    f"layer {child.id[:12]}: its parent {parent[:12]} has no record",
                )
            )
    referenced = _referenced(records, dirs, host, used)
    # "No image or container uses it" can be said only when every record was read.
    complete = records.images_complete and records.containers_complete
    mounted_uppers = overlay_upper_dirs()
    out: dict[str, Layer] = {}
    for dir_id, d in sorted(dirs.dirs.items()):
        rec = records.layers.get(dir_id)
        problems: list[Problem] = []
        container = owner.get(dir_id)
        unresolved = None
        if container is not None:
            role = Role.RW  # even if its layer record is lost: a container's record names it
        elif rec is None and dir_id not in referenced:
            # Nothing names it: an orphan, unless it may be in use all the same.
            if not records.layers_readable:
                unresolved = f"the layer records ({index}) could not be read"
            elif os.path.normpath(d.diff_dir) in mounted_uppers:
                unresolved = "its diff/ is a mounted overlay's upper dir: a running container's"
            role = Role.ORPHAN if unresolved is None else Role.UNRESOLVED
        else:
            # An image layer, or one whose record is unreadable but that something uses.
            role = Role.IMAGE
        if rec is not None:
            want = _chain(records, rec.parent)
            # Records that break off (a parent's record unreadable) say nothing about `lower`.
            whole = records.layers[want[-1]].parent is None if want else rec.parent is None
            if whole and d.lower_known and list(d.lower) != want:
                problems.append(
                    Problem(
                        ProblemKind.LOWER_MISMATCH,
                        os.path.join(d.path, "lower"),
                        f"`lower` resolves to {plural(len(d.lower), 'layer')}, "
                        f"layers.json says {len(want)}",
                    )
                )
            if rec.incomplete:
                problems.append(
                    Problem(
                        ProblemKind.BAD_METADATA,
                        index,
                        f"layer {dir_id[:12]} is incomplete (an interrupted pull or build)",
                    )
                )
        host.problems += problems
        out[dir_id] = Layer(
            id=dir_id,
            path=d.path,
            content_dir=d.diff_dir,
            link=d.link,
            lower=d.lower,
            role=role,
            store=Store.CONTAINERS_STORAGE,
            chain_ids=(chain_of[dir_id],) if dir_id in chain_of else (),
            diff_id=diff_of.get(dir_id) or (rec.diff_digest if rec else None),
            images=tuple(sorted(images_of.get(dir_id, ()))),
            container=container,
            recorded_size=rec.diff_size if rec is not None and role is Role.IMAGE else None,
            has_content=d.has_diff,
            committed=rec is not None and role is Role.IMAGE,
            merged=d.merged,
            link_path=(
                os.path.join(dirs.path, SHORT_LINK_DIR, d.link)
                if d.link is not None and dirs.links.get(d.link) == dir_id
                else None
            ),
            # An image layer no image or container stands on (an interrupted pull), or an
            # incomplete one: containers/storage's own clean-up would remove it.
            collectable=rec is not None
            and role is Role.IMAGE
            and (rec.incomplete or (complete and dir_id not in used)),
            cache_key=dir_id
            if rec is not None and role is Role.IMAGE and not rec.incomplete
            else None,
            problems=tuple(p for p in dirs.problems if _inside(p.path, d.path)) + tuple(problems),
            unresolved=unresolved,
        )
    return out


def _referenced(records: StoreRecords, dirs: Overlay2Store, host: Host, used: set[str]) -> set[str]:
    """Layer ids something references: a record (well-formed or not) names it, as a layer,
    a parent, an image's or a container's layer; or a dir so referenced has it beneath it in
    its `lower`. A dir outside this set is an orphan."""
    named = set(records.layers) | records.malformed_layers | records.named_layers | used
    named.update(r.parent for r in records.layers.values() if r.parent)
    named.update(c.layer for c in host.containers.values() if c.layer)
    pending = list(named)
    while pending:
        d = dirs.dirs.get(pending.pop())
        for lid in d.lower if d is not None else ():
            if lid not in named:
                named.add(lid)
                pending.append(lid)
    return named


def _volumes(root: str, podman: PodmanState, host: Host) -> dict[str, Volume]:
    base = os.path.join(root, "volumes")
    st = lstat_or_none(base)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return {}
    refs: dict[str, list[str]] = {}
    for c in podman.containers.values():
        for name in c.volumes:
            refs.setdefault(name, []).append(c.id)
    known = podman.present
    out: dict[str, Volume] = {}
    try:
        names = list_dir(base)
    except RecordError as exc:
        host.problems.append(exc.problem)
        return {}
    for name in names:
        path = os.path.join(base, name)
        vst = lstat_or_none(path)
        if vst is None or not stat.S_ISDIR(vst.st_mode):
            continue
        data = os.path.join(path, "_data")
        dst = lstat_or_none(data)
        out[name] = Volume(
            name,
            path,
            data if dst is not None and stat.S_ISDIR(dst.st_mode) else None,
            tuple(sorted(refs.get(name, ()))) if known else None,
        )
    return out


def _logs(root: str, cid: str, recorded: str | None) -> tuple[str, ...]:
    """The container's k8s-file log in the graph root: where its config says (on the host
    it ran on), else where Podman puts it by default (a copied root keeps it there)."""
    default = os.path.join(root, "overlay-containers", cid, "userdata", "ctr.log")
    for path in (recorded, default):
        if path and _inside(path, root) and lstat_or_none(path) is not None:
            return (path,)
    return ()


def _meta_str(meta: dict[str, object], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")
