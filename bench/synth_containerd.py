"""A containerd root of N entries, cached under /var/tmp: a Kubernetes node's overlayfs
snapshotter holding the synthetic trees of `bench.synth`.

What is real. Every record and the layout are written by a real containerd (the one on
PATH, 1.6 on the machine these numbers come from), run privately by
`tests.containerd.engine.PrivateContainerd` with all its state in one temporary dir: four
images with the structure of `bench.synth._IMAGES` (eight layers shared as there) imported
with `ctr images import` into namespace `k8s.io` under the three names CRI gives a pulled
image, unpacked by containerd into `snapshots/<N>/{fs,work}`, and four containers as
`bench.synth._CONTAINERS`, made with `ctr containers create` (each an active snapshot keyed
by its id, labeled as CRI labels a pod's container; never started). So `meta.db` (images,
containers, content, snapshots, leases), the snapshotter's `metadata.db` (ids, parents,
kinds) and `io.containerd.content.v1.content/blobs/` are containerd's own; nothing here
writes bbolt. containerd is then stopped (no task ran, nothing stays mounted, no process
survives) and its root moved into the cache.

What is synthetic. The content of the snapshots' `fs/` dirs: each was emptied and given a
copy (`cp -a`) of the matching tree of `synthetic_root(entries, seed)`, the overlay2
root's `overlay2/<id>/diff` of the same image layer or container (init layers have no
counterpart: a CRI container has none). The copy keeps the 0/0 whiteout devices, the
opaque and origin xattrs, sparse files and the trees' own hard links, and gives every
other file one link as an unpacked layer has (`cp -al` would share inodes with the
overlay2 root and make every file multiply-linked, a case the scan treats apart). The
build checks it: entries, whiteouts, entries with overlay xattrs, multiply-linked files
and apparent bytes of every copy equal its source's, allocated blocks within 1% (a dir
filled in another order may take other blocks).

The layers' tarballs were tiny (one file each), so the sizes and inode counts containerd
recorded in `metadata.db` at commit are the tiny layers', not the trees': the scan
measures the trees and reads those sizes only to order its work, biggest first, so each
tiny layer's file is sized to give the recorded sizes the order of the trees' sizes. The
content store's blobs are the tiny tarballs.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import synth
from bench.synth import CACHE_DIR, Manifest, build_into_cache, synthetic_root
from tests.containerd.availability import containerd_unavailable_reason, containerd_version
from tests.containerd.config import K8S_NAMESPACE, ContainerdError
from tests.containerd.engine import ImportedImage, PrivateContainerd
from tests.containerd.images import ImageSpec, Layer, tar_dir, tar_file
from tests.containerd.kubernetes import import_cri_image
from tests.engine import EngineUnavailable, mounts_under

VERSION = 1  # bump when this builder changes; the name also carries bench.synth's VERSION
SNAPSHOTTER_DIR = "io.containerd.snapshotter.v1.overlayfs"
POD_NAMESPACE = "bench"  # the Kubernetes namespace of the containers' pods
_RANK_BYTES = 4096  # a tiny layer's file: this many bytes per rank of its tree's size


def containerd_root(entries: int, seed: int = 1, *, log: Callable[[str], None] = print) -> Manifest:
    """The cached containerd root of `entries` entries, built first if needed.

    The manifest's `root` is the containerd root; `layers` maps a snapshot dir number to
    its tree's facts (`name`, `role`, `entries`, `size`, snapshot `key`, the overlay2 layer
    it was copied from); `images` tag → image id (config digest); `containers` name → id.
    Raises EngineUnavailable (with the reason) when it must be built and no containerd can
    run here.
    """
    home = CACHE_DIR / f"containerd-v{VERSION}.{synth.VERSION}-{entries}-s{seed}"
    manifest_path = home / "manifest.json"
    if manifest_path.is_file():
        return Manifest.load(manifest_path)
    reason = containerd_unavailable_reason()
    if reason is not None:
        raise EngineUnavailable(reason)
    source = synthetic_root(entries, seed, log=log)

    def build(work: Path) -> Manifest:
        work.mkdir(mode=0o755, parents=True)
        return _build(work / "root", source, log)

    return build_into_cache(home, build, f"a containerd root of {entries:,} entries", log)


@dataclass(frozen=True)
class _Tree:
    """Where one synthetic tree goes: the overlay2 layer it comes from, the snapshot."""

    name: str
    role: str  # "image" or "rw"
    source_id: str  # the overlay2 dir id in the synthetic root
    snapshot: str  # the snapshot dir number
    key: str  # the snapshot's key: a chain id, or the container id


def _build(root: Path, source: Manifest, log: Callable[[str], None]) -> Manifest:
    """Make the records with a real containerd, move its root to `root`, fill the trees."""
    manifest = Manifest(entries=source.entries, seed=source.seed, root=str(root))
    # The temporary dir inside the cache dir: the root is then moved by a rename.
    daemon = PrivateContainerd(base_dir=CACHE_DIR)
    try:
        daemon.start()  # cleans up after itself when it fails
    except ContainerdError as exc:  # it cannot run here: the benchmark says why and goes on
        raise EngineUnavailable(f"the private containerd did not start: {exc}") from exc
    try:
        log(f"  containerd {containerd_version()} at {daemon.tmp_dir}")
        images = _import_images(daemon, source, log)
        trees = _create_containers(daemon, source, images, manifest, log)
        manifest.images = {tag: image.config_digest for tag, image in images.items()}
    except BaseException:
        daemon.stop()
        raise
    tmp_dir = daemon.tmp_dir
    assert tmp_dir is not None
    daemon.stop(keep=True)  # kills nothing (no task ran), ends containerd, unmounts
    _check_stopped(tmp_dir)  # on failure the dir stays: nothing is deleted under a mount
    os.rename(daemon.root, root)
    shutil.rmtree(tmp_dir)
    for tree in trees:
        facts = _fill(root, source, tree)
        manifest.layers[tree.snapshot] = facts
        log(
            f"  snapshot {tree.snapshot} ({tree.role} {tree.name}): {facts['entries']:,} "
            f"entries, {int(str(facts['blocks'])) * 512 / 1e6:,.0f} MB allocated "
            f"({int(str(facts['source_blocks'])) * 512 / 1e6:,.0f} MB in the source)"
        )
    return manifest


def _import_images(
    daemon: PrivateContainerd, source: Manifest, log: Callable[[str], None]
) -> dict[str, ImportedImage]:
    """Import `bench.synth._IMAGES` into `k8s.io`, each layer a one-file tarball."""
    sizes = {
        str(f["name"]): int(str(f["size"])) for f in source.layers.values() if f["role"] == "image"
    }
    # Ranked by the trees' sizes, so the sizes containerd records keep their order.
    ranks = {name: rank for rank, name in enumerate(sorted(sizes, key=lambda n: sizes[n]))}
    layers = {
        name: Layer(
            (
                tar_dir("etc"),
                tar_file(
                    f"etc/overlayscope-bench-{name}",
                    random.Random(f"{source.seed}/{name}").randbytes(
                        (ranks[name] + 1) * _RANK_BYTES
                    ),
                ),
            ),
            created_by=f"/bin/sh -c install {name}  # synthetic",
        )
        for name in sizes
    }
    images = {}
    for tag, names, _parent in synth._IMAGES:
        spec = ImageSpec(f"docker.io/{tag}", tuple(layers[n] for n in names))
        images[tag] = import_cri_image(daemon, spec)
        log(f"  image {spec.name}: {len(names)} layers")
    return images


def _create_containers(
    daemon: PrivateContainerd,
    source: Manifest,
    images: dict[str, ImportedImage],
    manifest: Manifest,
    log: Callable[[str], None],
) -> list[_Tree]:
    """`ctr containers create` `bench.synth._CONTAINERS`; map every tree to its snapshot.

    Which snapshot dir holds which layer is containerd's answer: each container's mounts
    (`ctr snapshots mounts`) name its upper dir and its image's layers' dirs, top first.
    """
    overlay_ids = {(str(f["role"]), str(f["name"])): lid for lid, f in source.layers.items()}
    trees: dict[tuple[str, str], _Tree] = {}
    for name, tag, _share in synth._CONTAINERS:
        image = images[tag]
        cid = hashlib.sha256(f"overlayscope-bench/container/{name}".encode()).hexdigest()
        pod = f"{name}-0"
        labels = {
            "io.cri-containerd.kind": "container",
            "io.kubernetes.container.name": name,
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": POD_NAMESPACE,
            "io.kubernetes.pod.uid": hashlib.sha256(pod.encode()).hexdigest()[:32],
        }
        args = ["containers", "create", "--snapshotter", "overlayfs"]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        daemon.ctr(*args, image.name, cid, namespace=K8S_NAMESPACE)
        manifest.containers[name] = cid
        [mount] = daemon.snapshot_mounts(K8S_NAMESPACE, cid)
        if mount.upperdir is None:
            raise RuntimeError(f"container {name}: no upper dir in {mount}")
        names = next(n for t, n, _ in synth._IMAGES if t == tag)  # bottom → top
        lowers = list(reversed(mount.lowerdirs))
        if len(lowers) != len(names):
            raise RuntimeError(f"container {name}: {len(lowers)} lower dirs for {names}")
        found = [("rw", name, mount.upperdir, cid)]
        for d in (mount.upperdir, *lowers):
            if d.parent.parent != daemon.snapshots_dir or d.name != "fs":
                raise RuntimeError(f"container {name}: {d} is no snapshot's fs dir")
        found += [
            ("image", n, d, image.chain_ids[i])
            for i, (n, d) in enumerate(zip(names, lowers, strict=True))
        ]
        for role, tree_name, fs, key in found:
            tree = _Tree(tree_name, role, overlay_ids[(role, tree_name)], fs.parent.name, key)
            if trees.setdefault((role, tree_name), tree).snapshot != tree.snapshot:
                raise RuntimeError(f"layer {tree_name} in two snapshot dirs: {tree}")
        log(f"  container {name} ({tag}): snapshot {mount.upperdir.parent.name}")
    missing = {n for n, _ in synth._IMAGE_LAYERS} - {n for r, n in trees if r == "image"}
    if missing:
        raise RuntimeError(f"no container stands on layers {sorted(missing)}")
    return sorted(trees.values(), key=lambda t: int(t.snapshot))


def _check_stopped(tmp_dir: Path) -> None:
    """Nothing mounted below the daemon's dir and no process naming it, or raise."""
    mounted = mounts_under(tmp_dir)
    if mounted:
        raise RuntimeError(f"still mounted after stop: {[str(m.mount_point) for m in mounted]}")
    marker = str(tmp_dir).encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if marker in cmdline:
            raise RuntimeError(f"process {pid} survived containerd: {cmdline!r}")


def _fill(root: Path, source: Manifest, tree: _Tree) -> dict[str, object]:
    """Replace a snapshot's `fs/` with a copy of its synthetic tree; check the copy."""
    src = os.path.join(source.root, "overlay2", tree.source_id, "diff")
    dst = root / SNAPSHOTTER_DIR / "snapshots" / tree.snapshot / "fs"
    shutil.rmtree(dst)
    # -a keeps modes, owners, times, xattrs (trusted.* as root), devices, sparse files and
    # hard links within the tree; --preserve=all makes a lost xattr an error, not silence.
    subprocess.run(
        ["cp", "-a", "--preserve=all", "--no-target-directory", src, str(dst)], check=True
    )
    want, got = _census(src), _census(str(dst))
    # Blocks may differ a little: a dir filled in another order can take other blocks.
    if replace(want, blocks=0) != replace(got, blocks=0) or not (
        0.99 * want.blocks <= got.blocks <= 1.01 * want.blocks
    ):
        raise RuntimeError(f"copy of {src} to {dst} differs: {want} != {got}")
    return {
        "name": tree.name,
        "role": tree.role,
        "entries": got.entries + 1,  # and the top dir, as bench.synth counts
        "size": got.apparent,
        "key": tree.key,
        "source": tree.source_id,
        "blocks": got.blocks,
        "source_blocks": want.blocks,
    }


@dataclass(frozen=True)
class _Census:
    """What a tree holds, to compare a copy with its source."""

    entries: int  # below the top dir
    whiteouts: int  # 0/0 character devices
    overlay_xattrs: int  # entries with any trusted.overlay.* xattr (opaque, origin, impure)
    linked: int  # non-dirs with more than one link
    apparent: int  # bytes of the non-dirs
    blocks: int  # 512-byte blocks of every inode once (du's count)


def _census(top: str) -> _Census:
    entries = whiteouts = overlay = linked = apparent = 0
    blocks = os.lstat(top).st_blocks
    seen: set[int] = set()
    dirs = [top]
    if any(x.startswith("trusted.overlay.") for x in os.listxattr(top)):
        overlay += 1
    while dirs:
        with os.scandir(dirs.pop()) as it:
            for de in it:
                st = de.stat(follow_symlinks=False)
                entries += 1
                if stat.S_ISDIR(st.st_mode):
                    dirs.append(de.path)
                else:
                    apparent += st.st_size
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    whiteouts += 1
                if not stat.S_ISLNK(st.st_mode) and any(
                    x.startswith("trusted.overlay.") for x in os.listxattr(de.path)
                ):
                    overlay += 1
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    linked += 1
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                blocks += st.st_blocks
    return _Census(entries, whiteouts, overlay, linked, apparent, blocks)
