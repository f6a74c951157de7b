"""The containers/storage reader (Podman, Buildah, CRI-O): a graph root → one `Host`.

Layer dirs are overlay2's layout exactly (`overlay/<id>/{diff,link,lower}`, `overlay/l/`;
a base layer has `empty/` instead of `lower`), read with the overlay2 store's dir reader.
What each dir is comes from the JSON records: a container's `layer` is its writable
layer, the rest of layers.json are image layers; a dir no record names is an orphan.
There is no init layer: Podman writes its runtime files (/etc/hosts, /etc/hostname,
/run/.containerenv…) into the container's own layer, and `podman diff` hides them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace

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
from overlayscope.root.records import lstat_or_none
from overlayscope.root.stores.containers_storage.libpod import (
    PodmanContainer,
    PodmanState,
    read_podman_state,
)
from overlayscope.root.stores.containers_storage.records import (
    ImageRecord,
    StoreRecords,
    big_data_path,
    read_json_file,
    read_records,
)
from overlayscope.root.stores.overlay2.dirs import SHORT_LINK_DIR, Overlay2Store, read_overlay2

DRIVER = "overlay"
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
        engine="Podman" if podman.present else "containers/storage",
    )
    host.problems += records.problems + dirs.problems + podman.problems
    host.images = _images(records, host.problems)
    host.containers = _containers(records, podman, host)
    host.layers = _layers(records, dirs, host)
    host.volumes = _volumes(root, podman, host)
    return host


def _chain(records: StoreRecords, top: str | None) -> list[str]:
    """Layer ids from `top` down its parents, top → bottom (cycle-safe)."""
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


def _images(records: StoreRecords, problems: list[Problem]) -> dict[str, Image]:
    by_top = {i.top_layer: i for i in records.images.values() if i.top_layer}
    out: dict[str, Image] = {}
    for rec in records.images.values():
        layer_ids = list(reversed(_chain(records, rec.top_layer)))  # bottom → top
        config = _config(records.root, rec, problems)
        diff_ids = _diff_ids(config)
        history: tuple[HistoryEntry, ...] = (
            parse_history(
                config.get("history"),
                big_data_path(records.root, rec.id, "sha256:" + rec.id),
                problems,
            )
            if config
            else ()
        )
        # Chain ids from the config when it matches the layers, else from the records.
        recorded = [records.layers[lid].diff_digest or "" for lid in layer_ids]
        diffs = diff_ids if len(diff_ids) == len(layer_ids) else recorded
        chains = chain_ids(diffs) if all(diffs) else ["sha256:" + lid for lid in layer_ids]
        created_by = layer_history(history, len(layer_ids))
        layers = tuple(
            ImageLayer(
                id=lid,
                chain_id=chain,
                diff_id=diff,
                size=records.layers[lid].diff_size,
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
            extra_size=sum(size for _, size in rec.big_data),
        )
        out[image.key] = image
    return out


def _config(root: str, rec: ImageRecord, problems: list[Problem]) -> dict[str, object] | None:
    key = "sha256:" + rec.id
    if key not in dict(rec.big_data):
        return None  # an image made without a config (rare): its layers are still read
    value = read_json_file(big_data_path(root, rec.id, key), problems)
    return value if isinstance(value, dict) else None


def _diff_ids(config: dict[str, object] | None) -> list[str]:
    rootfs = config.get("rootfs") if config else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) for d in ids):
        return []
    return [str(d) for d in ids]


def _repo(name: str) -> str:
    last = name.rsplit("/", 1)
    return name.rsplit(":", 1)[0] if ":" in last[-1] else name


def _containers(records: StoreRecords, podman: PodmanState, host: Host) -> dict[str, Container]:
    mounted_uppers = overlay_upper_dirs()
    users: dict[str, list[str]] = {}
    out: dict[str, Container] = {}
    for rec in records.containers.values():
        pod: PodmanContainer | None = podman.containers.get(rec.id)
        layer = records.layers.get(rec.layer)
        image_layers = tuple(_chain(records, layer.parent)) if layer else ()
        image = host.images.get("sha256:" + rec.image)
        if layer is None:
            host.problems.append(
                Problem(
                    ProblemKind.CONTAINER_WITHOUT_MOUNT,
                    os.path.join(records.root, "overlay-containers", "containers.json"),
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
            image_layers=image_layers,
            log_path=log,
            path=os.path.join(records.root, "overlay-containers", rec.id),
            store=Store.CONTAINERS_STORAGE,
            image_ref=(pod.image_name if pod else None) or _meta_str(rec.metadata, "image-name"),
            logs=_logs(records.root, rec.id, log),
            runtime_files=RUNTIME_FILES if podman.present else (),
        )
        out[c.key] = c
        users.setdefault(c.image_key, []).append(c.key)
    for key, keys in users.items():
        if key in host.images:
            host.images[key] = replace(host.images[key], containers=tuple(sorted(keys)))
    return out


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
    out: dict[str, Layer] = {}
    for dir_id, d in sorted(dirs.dirs.items()):
        rec = records.layers.get(dir_id)
        problems: list[Problem] = []
        container = owner.get(dir_id)
        if rec is None:
            # Without readable records nobody can say a dir is unreferenced.
            role = Role.ORPHAN if records.layers_readable else Role.IMAGE
        elif container is not None:
            role = Role.RW
        else:
            role = Role.IMAGE
        if rec is not None:
            want = _chain(records, rec.parent)
            if list(d.lower) != want:
                problems.append(
                    Problem(
                        ProblemKind.LOWER_MISMATCH,
                        os.path.join(d.path, "lower"),
                        f"`lower` resolves to {len(d.lower)} layer(s), "
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
            and (rec.incomplete or dir_id not in used),
            cache_key=dir_id
            if rec is not None and role is Role.IMAGE and not rec.incomplete
            else None,
            problems=tuple(p for p in dirs.problems if _inside(p.path, d.path)) + tuple(problems),
        )
    return out


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
    for name in sorted(os.listdir(base)):
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
