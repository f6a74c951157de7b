"""Image tarballs built from layers a test spells out: tar entries, `Layer`s and `ImageSpec`s
written as an OCI image layout or a legacy `docker save` tarball, deterministically."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.engine import FIXED_MTIME, busybox_rootfs_tar

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# Image history "created" stamps: fixed, so config digests are the same on every run.
FIXED_CREATED = "2000-01-01T00:00:00Z"
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


@dataclass(frozen=True)
class TarEntry:
    """One entry of a layer tarball, as a test spells it (see the tar_* helpers)."""

    name: str  # the path inside the layer, no leading '/'
    type: str  # "dir", "file", "symlink" or "hardlink"
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""  # a symlink's target, or the hard link's target path in the layer


def tar_dir(name: str, mode: int = 0o755) -> TarEntry:
    """A directory."""
    return TarEntry(name.strip("/"), "dir", mode=mode)


def tar_file(name: str, data: bytes | str = b"", mode: int = 0o644) -> TarEntry:
    """A regular file with `data`."""
    return TarEntry(name.strip("/"), "file", data.encode() if isinstance(data, str) else data, mode)


def tar_symlink(name: str, target: str) -> TarEntry:
    """A symbolic link to `target` (kept verbatim: absolute or relative)."""
    return TarEntry(name.strip("/"), "symlink", mode=0o777, linkname=target)


def tar_hardlink(name: str, target: str) -> TarEntry:
    """A hard link to `target`, a path earlier in the same layer."""
    return TarEntry(name.strip("/"), "hardlink", linkname=target.strip("/"))


def tar_whiteout(path: str) -> TarEntry:
    """The whiteout that deletes `path` from the layers beneath: `DIR/.wh.NAME`."""
    parent, _, name = path.strip("/").rpartition("/")
    return TarEntry(f"{parent}/.wh.{name}" if parent else f".wh.{name}", "file", mode=0o644)


def tar_opaque(directory: str) -> TarEntry:
    """The opaque marker that hides everything beneath `directory`: `DIR/.wh..wh..opq`."""
    return TarEntry(f"{directory.strip('/')}/.wh..wh..opq", "file", mode=0o644)


def layer_tar(entries: Iterable[TarEntry]) -> bytes:
    """A deterministic PAX tarball of `entries`, in the order given (root-owned, fixed mtime)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode, info.mtime = e.mode, FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if e.type == "dir":
                info.type = tarfile.DIRTYPE
            elif e.type == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.linkname
            elif e.type == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.linkname
            elif e.type == "file":
                info.size = len(e.data)
            else:
                raise ValueError(f"unknown tar entry type {e.type!r}")
            tar.addfile(info, io.BytesIO(e.data) if e.type == "file" else None)
    return buf.getvalue()


@dataclass(frozen=True)
class Layer:
    """One image layer: tar entries (or a ready tarball), optionally gzip-compressed."""

    entries: tuple[TarEntry, ...] = ()
    created_by: str = ""
    gzip: bool = False
    raw_tar: bytes | None = None  # used instead of `entries` (the busybox base)

    def tar(self) -> bytes:
        """The uncompressed layer tarball (its sha256 is the diff id)."""
        return self.raw_tar if self.raw_tar is not None else layer_tar(self.entries)

    def blob(self) -> bytes:
        """The layer as stored in an image: gzip (mtime 0, so deterministic) or plain tar."""
        return gzip.compress(self.tar(), mtime=0) if self.gzip else self.tar()


@dataclass(frozen=True)
class EmptyStep:
    """A history step that made no layer (ENV, CMD, LABEL…): `empty_layer: true`."""

    created_by: str


def base_layer(created_by: str = "ADD busybox-rootfs.tar / # overlayscope base") -> Layer:
    """The busybox rootfs of tests/engine.py as a layer (same bytes, so the same diff id)."""
    return Layer(raw_tar=busybox_rootfs_tar(), created_by=created_by)


@dataclass(frozen=True)
class ImageSpec:
    """An image to build: its full name and its history (layers and empty steps), in order."""

    name: str  # a full reference: docker.io/library/app:1
    steps: tuple[Layer | EmptyStep, ...]
    cmd: tuple[str, ...] = ("sh",)
    env: tuple[str, ...] = DEFAULT_ENV
    labels: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The steps that made a layer."""
        return tuple(s for s in self.steps if isinstance(s, Layer))

    @property
    def tag(self) -> str:
        """The tag part of the name ("1" of docker.io/library/app:1)."""
        return self.name.rpartition(":")[2]


def sha256_digest(data: bytes) -> str:
    """ "sha256:<hex>" of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> tuple[str, ...]:
    """OCI chain ids: chain(1) = diff(1); chain(n) = sha256("chain(n-1) diff(n)")."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else sha256_digest(f"{out[-1]} {diff_id}".encode()))
    return tuple(out)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class BuiltImage:
    """An image's blobs, ready to be written as an OCI layout or a `docker save` tarball."""

    spec: ImageSpec
    config: bytes
    layer_blobs: tuple[bytes, ...]
    diff_ids: tuple[str, ...]

    @property
    def config_digest(self) -> str:
        """The config blob's digest (Docker's image id with the graph drivers)."""
        return sha256_digest(self.config)

    @property
    def layer_media_types(self) -> tuple[str, ...]:
        """OCI media types of the layers, as the manifest names them."""
        return tuple(
            MEDIA_OCI_LAYER_GZIP if la.gzip else MEDIA_OCI_LAYER for la in self.spec.layers
        )

    @property
    def manifest(self) -> bytes:
        """The OCI image manifest."""
        return _canonical(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": {
                    "mediaType": MEDIA_OCI_CONFIG,
                    "digest": self.config_digest,
                    "size": len(self.config),
                },
                "layers": [
                    {"mediaType": mt, "digest": sha256_digest(b), "size": len(b)}
                    for mt, b in zip(self.layer_media_types, self.layer_blobs, strict=True)
                ],
            }
        )


def build_image(spec: ImageSpec) -> BuiltImage:
    """Make an image's config (rootfs.diff_ids, history with empty_layer steps) and blobs."""
    diff_ids, blobs, history = [], [], []
    for step in spec.steps:
        entry: dict[str, Any] = {"created": FIXED_CREATED, "created_by": step.created_by}
        if isinstance(step, EmptyStep):
            entry["empty_layer"] = True
        else:
            diff_ids.append(sha256_digest(step.tar()))
            blobs.append(step.blob())
        history.append(entry)
    run_config: dict[str, Any] = {"Env": list(spec.env), "Cmd": list(spec.cmd)}
    if spec.labels:
        run_config["Labels"] = dict(spec.labels)
    if spec.working_dir:
        run_config["WorkingDir"] = spec.working_dir
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": FIXED_CREATED,
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    return BuiltImage(spec, _canonical(config), tuple(blobs), tuple(diff_ids))


def _tar_of_files(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oci_layout_tar(spec: ImageSpec) -> bytes:
    """An OCI image-layout tarball (oci-layout, index.json, blobs/sha256/…) of one image.

    index.json names it the way `docker save` (25+) does: `io.containerd.image.name` holds the
    full name, `org.opencontainers.image.ref.name` the tag.
    """
    built = build_image(spec)
    manifest = built.manifest
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": sha256_digest(manifest),
                "size": len(manifest),
                "annotations": {
                    "io.containerd.image.name": spec.name,
                    "org.opencontainers.image.ref.name": spec.tag,
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    files = {"oci-layout": _canonical({"imageLayoutVersion": "1.0.0"})}
    files["index.json"] = _canonical(index)
    for blob in (built.config, manifest, *built.layer_blobs):
        files[f"blobs/sha256/{sha256_digest(blob).removeprefix('sha256:')}"] = blob
    return _tar_of_files(files)


def docker_short_name(name: str) -> str:
    """The familiar name `docker save` (and Docker's records) write: docker.io/library/app:1
    -> app:1."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def docker_save_tar(spec: ImageSpec) -> bytes:
    """A legacy `docker save` tarball (manifest.json, repositories, <id>/layer.tar, config).

    Layer dirs are named by v1-compatible ids made from the chain ids (Docker derives them
    the same way: a hash over the parent id and the layer); a gzip layer is stored gzipped in
    `layer.tar`, which containerd's importer detects.
    """
    built = build_image(spec)
    config_name = built.config_digest.removeprefix("sha256:") + ".json"
    files: dict[str, bytes] = {}
    layer_paths, parent = [], ""
    for chain_id, blob in zip(chain_ids(built.diff_ids), built.layer_blobs, strict=True):
        v1_id = hashlib.sha256(f"{parent} {chain_id}".encode()).hexdigest()
        files[f"{v1_id}/VERSION"] = b"1.0"
        files[f"{v1_id}/json"] = _canonical(
            {"id": v1_id, **({"parent": parent} if parent else {}), "created": FIXED_CREATED}
        )
        files[f"{v1_id}/layer.tar"] = blob
        layer_paths.append(f"{v1_id}/layer.tar")
        parent = v1_id
    files[config_name] = built.config
    short = docker_short_name(spec.name)
    repo, _, tag = short.rpartition(":")
    files["manifest.json"] = _canonical(
        [{"Config": config_name, "RepoTags": [short], "Layers": layer_paths}]
    )
    files["repositories"] = _canonical({repo: {tag: parent}})
    return _tar_of_files(files)


_TAR_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def tar_listing(data: bytes) -> list[tuple[str, str, int, int]]:
    """(name, type, size, mode) of every entry of a (possibly gzipped) tarball, in order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return [
            (m.name, _TAR_TYPES.get(m.type, repr(m.type)), m.size, m.mode & 0o7777)
            for m in tar.getmembers()
        ]
