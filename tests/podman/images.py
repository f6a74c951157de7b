"""Image archives for `podman load`, built from layers a test spells out: `Layer`s of `Dir`,
`File`, `Symlink`, `HardLink`, `Whiteout` and `Opaque` entries, written as a `docker save`
or an OCI archive, deterministically."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.engine import FIXED_MTIME

FIXED_CREATED = "2000-01-01T00:00:00Z"  # image config `created` (matches FIXED_MTIME)


@dataclass(frozen=True)
class Dir:
    """A directory in a layer."""

    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class File:
    """A regular file in a layer."""

    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in a layer (`target` is stored as given, absolute or relative)."""

    path: str
    target: str


@dataclass(frozen=True)
class HardLink:
    """A hard link to `target`, a file earlier in the same layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` from the layers below: the tar member `<dir>/.wh.<name>`."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """Hides everything below in directory `path`: the tar member `<path>/.wh..wh..opq`."""

    path: str


Entry = Dir | File | Symlink | HardLink | Whiteout | Opaque


def _norm(path: str) -> str:
    return path.strip("/")


def _tar_member(tar: tarfile.TarFile, entry: Entry) -> None:
    info: tarfile.TarInfo
    data: bytes | None = None
    if isinstance(entry, Dir):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.mode = tarfile.DIRTYPE, entry.mode
    elif isinstance(entry, File):
        info = tarfile.TarInfo(_norm(entry.path))
        info.mode, info.size, data = entry.mode, len(entry.data), entry.data
    elif isinstance(entry, Symlink):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
    elif isinstance(entry, HardLink):
        info = tarfile.TarInfo(_norm(entry.path))
        info.type, info.linkname, info.mode = tarfile.LNKTYPE, _norm(entry.target), 0o644
    elif isinstance(entry, Whiteout):
        parent, _, name = _norm(entry.path).rpartition("/")
        info = tarfile.TarInfo(f"{parent}/.wh.{name}" if parent else f".wh.{name}")
        info.mode = 0o644
    else:
        info = tarfile.TarInfo(f"{_norm(entry.path)}/.wh..wh..opq")
        info.mode = 0o644
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tarball of `entries`, in the order given (fixed mtimes, owner 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            _tar_member(tar, entry)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One image layer: its uncompressed tar, whether the archive stores it gzipped, history."""

    tar: bytes
    gzip: bool = False
    created_by: str = ""

    @classmethod
    def of(cls, *entries: Entry, gzip: bool = False, created_by: str = "") -> Layer:
        """A layer made of `entries`."""
        return cls(layer_tar(entries), gzip=gzip, created_by=created_by)

    @property
    def diff_id(self) -> str:
        """sha256 of the uncompressed tar (what podman calls diff-digest)."""
        return _sha256(self.tar)

    @property
    def blob(self) -> bytes:
        """The bytes stored in an archive: the tar, or its gzip (mtime 0, so deterministic)."""
        return gzip.compress(self.tar, compresslevel=6, mtime=0) if self.gzip else self.tar

    @property
    def media_type(self) -> str:
        """The OCI media type of `blob`."""
        base = "application/vnd.oci.image.layer.v1.tar"
        return base + "+gzip" if self.gzip else base


@dataclass(frozen=True)
class ImageSpec:
    """An image to write as a docker-save or OCI archive."""

    name: str  # fully qualified, e.g. localhost/scope/app:1
    layers: tuple[Layer, ...]
    cmd: tuple[str, ...] = ("sh",)
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    workdir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def config(self) -> bytes:
        """The image config JSON (OCI and Docker agree on every field used here)."""
        conf: dict[str, Any] = {"Env": list(self.env), "Cmd": list(self.cmd)}
        if self.workdir:
            conf["WorkingDir"] = self.workdir
        if self.labels:
            conf["Labels"] = dict(self.labels)
        doc = {
            "architecture": "amd64",
            "os": "linux",
            "created": FIXED_CREATED,
            "config": conf,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
            "history": [
                {"created": FIXED_CREATED, "created_by": layer.created_by or f"layer {i}"}
                for i, layer in enumerate(self.layers)
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @property
    def config_digest(self) -> str:
        """sha256 of the config: the image id podman gives it."""
        return _sha256(self.config())


def _archive(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data in members:
            parent = name.rpartition("/")[0]
            parts = parent.split("/") if parent else []
            for i in range(len(parts)):
                d = "/".join(parts[: i + 1])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(image: ImageSpec) -> bytes:
    """`docker save` format: manifest.json, <config>.json, <n>/layer.tar (gzipped if asked).

    podman (containers/image) decompresses a gzipped layer of a docker archive on the fly, so
    such a layer is stored exactly like an uncompressed one.
    """
    config = image.config()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members: list[tuple[str, bytes]] = [(config_name, config)]
    layer_names = []
    for i, layer in enumerate(image.layers):
        name = f"{i:02d}-{layer.diff_id.removeprefix('sha256:')[:12]}/layer.tar"
        layer_names.append(name)
        members.append((name, layer.blob))
    manifest = [{"Config": config_name, "RepoTags": [image.name], "Layers": layer_names}]
    members.insert(0, ("manifest.json", json.dumps(manifest).encode()))
    return _archive(members)


def oci_archive(image: ImageSpec) -> bytes:
    """An OCI image layout tarball (oci-layout, index.json, blobs/sha256/...).

    The index names the image through the `org.opencontainers.image.ref.name` annotation,
    which `podman load` takes as the image's name.
    """
    config = image.config()
    blobs: dict[str, bytes] = {_sha256(config): config}
    layers = []
    for layer in image.layers:
        blob = layer.blob
        blobs[_sha256(blob)] = blob
        layers.append({"mediaType": layer.media_type, "digest": _sha256(blob), "size": len(blob)})
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha256(config),
                "size": len(config),
            },
            "layers": layers,
        },
        sort_keys=True,
    ).encode()
    blobs[_sha256(manifest)] = manifest
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": image.name},
            }
        ],
    }
    members = [
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("index.json", json.dumps(index, sort_keys=True).encode()),
    ]
    members += [(f"blobs/sha256/{d.removeprefix('sha256:')}", b) for d, b in sorted(blobs.items())]
    return _archive(members)
