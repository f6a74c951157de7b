"""Docker's records for a synthetic data root, as dockerd 20.10+ writes them with overlay2.

`overlay2/<id>/{link,lower,work,committed}` and `overlay2/l/<short>`, the layer store
(`layerdb/sha256/<chainID>/{cache-id,diff,size,parent}`, `layerdb/mounts/<container>/`),
the image store (`imagedb/content` configs named by their sha256, `imagedb/metadata`
parents, `repositories.json`) and `containers/<id>/` (config.v2.json, hostconfig.json, a
json-file log). Shapes follow the captured snapshot in fixtures/.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

_SHORT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def hex_id(*parts: object) -> str:
    """A deterministic 64-hex id (overlay2 dir ids and container ids are random in Docker)."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def short_link(layer_id: str) -> str:
    """A 26-character `l/` name, like the daemon's random base32-ish short ids."""
    digest = hashlib.sha256(("link:" + layer_id).encode()).digest()
    return "".join(_SHORT_ALPHABET[b % len(_SHORT_ALPHABET)] for b in digest[:26])


def chain_ids(diff_ids: list[str]) -> list[str]:
    """chainID(1) = diffID(1); chainID(n) = sha256("chainID(n-1) diffID(n)")."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


def _write(path: str, text: str | bytes) -> None:
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def layer_dir(
    root: str, layer_id: str, lower: list[str], *, committed: bool, mounted: bool
) -> None:
    """`overlay2/<id>/` around an existing `diff/`: link, lower, work/, committed, `l/` link.

    `lower` are the overlay2 ids beneath, top → bottom. `mounted` layers (rw and init
    layers, which overlayfs mounted once) have the `work/work` dir overlayfs makes.
    """
    path = os.path.join(root, "overlay2", layer_id)
    short = short_link(layer_id)
    _write(os.path.join(path, "link"), short)
    if lower:
        _write(os.path.join(path, "lower"), ":".join("l/" + short_link(i) for i in lower))
    os.mkdir(os.path.join(path, "work"), 0o700)
    if mounted:
        os.mkdir(os.path.join(path, "work", "work"), 0o000)
    if committed:
        _write(os.path.join(path, "committed"), "")
    os.symlink(f"../{layer_id}/diff", os.path.join(root, "overlay2", "l", short))


def layer_record(root: str, chain_id: str, parent: str | None, diff_id: str, cache_id: str,
                 size: int) -> None:  # fmt: skip
    """`layerdb/sha256/<chainID>/` of one image layer."""
    path = os.path.join(root, "image", "overlay2", "layerdb", "sha256", chain_id.split(":")[1])
    os.makedirs(path)
    _write(os.path.join(path, "cache-id"), cache_id)
    _write(os.path.join(path, "diff"), diff_id)
    _write(os.path.join(path, "size"), str(size))
    if parent is not None:
        _write(os.path.join(path, "parent"), parent)


@dataclass(frozen=True)
class ImageSpec:
    """An image to record: tag, its layers' diff ids bottom → top, what made each layer."""

    tag: str
    diff_ids: list[str]
    created_by: list[str]
    parent: str | None  # image id it was built FROM (locally built images record it)
    created: str


def image_config(spec: ImageSpec) -> bytes:
    """The image config JSON; its sha256 is the image id."""
    history: list[dict[str, Any]] = []
    for step in spec.created_by:
        history.append({"created": spec.created, "created_by": step})
    history.append(
        {
            "created": spec.created,
            "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
            "empty_layer": True,
        }
    )
    config = {
        "architecture": "amd64",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Labels": {"org.opencontainers.image.title": spec.tag},
        },
        "created": spec.created,
        "docker_version": "20.10.24+dfsg1",
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": spec.diff_ids},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def image_records(root: str, specs: list[ImageSpec]) -> dict[str, str]:
    """imagedb content + metadata and repositories.json; returns tag → image id."""
    image_dir = os.path.join(root, "image", "overlay2")
    content = os.path.join(image_dir, "imagedb", "content", "sha256")
    metadata = os.path.join(image_dir, "imagedb", "metadata", "sha256")
    os.makedirs(content, exist_ok=True)
    os.makedirs(metadata, exist_ok=True)
    ids: dict[str, str] = {}
    repos: dict[str, dict[str, str]] = {}
    for spec in specs:
        raw = image_config(spec)
        digest = hashlib.sha256(raw).hexdigest()
        _write(os.path.join(content, digest), raw)
        meta = os.path.join(metadata, digest)
        os.makedirs(meta, exist_ok=True)
        _write(os.path.join(meta, "lastUpdated"), spec.created)
        if spec.parent is not None:
            _write(os.path.join(meta, "parent"), spec.parent)
        ids[spec.tag] = "sha256:" + digest
        repo = spec.tag.rsplit(":", 1)[0]
        repos.setdefault(repo, {})[spec.tag] = "sha256:" + digest
    _write(os.path.join(image_dir, "repositories.json"), json.dumps({"Repositories": repos}))
    return ids


@dataclass(frozen=True)
class ContainerSpec:
    """A stopped container to record: its id, name, image, rw dir, and the image's top chain."""

    id: str
    name: str
    image_id: str
    image_tag: str
    mount_id: str
    top_chain_id: str
    created: str
    log_bytes: int


def container_records(root: str, spec: ContainerSpec) -> None:
    """`layerdb/mounts/<id>/` and `containers/<id>/` of an exited container."""
    mounts = os.path.join(root, "image", "overlay2", "layerdb", "mounts", spec.id)
    os.makedirs(mounts)
    _write(os.path.join(mounts, "mount-id"), spec.mount_id)
    _write(os.path.join(mounts, "init-id"), spec.mount_id + "-init")
    _write(os.path.join(mounts, "parent"), spec.top_chain_id)
    path = os.path.join(root, "containers", spec.id)
    os.makedirs(os.path.join(path, "checkpoints"))
    os.mkdir(os.path.join(path, "mounts"), 0o700)
    log_path = os.path.join(path, f"{spec.id}-json.log")
    config = {
        "StreamConfig": {},
        "State": {
            "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "RemovalInProgress": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": spec.created, "FinishedAt": spec.created, "Health": None,
        },
        "ID": spec.id,
        "Created": spec.created,
        "Managed": False,
        "Path": "sh",
        "Args": [],
        "Config": {"Hostname": spec.id[:12], "Image": spec.image_tag, "Cmd": ["sh"]},
        "Image": spec.image_id,
        "LogPath": log_path,
        "Name": "/" + spec.name,
        "Driver": "overlay2",
        "OS": "linux",
        "RestartCount": 0,
        "HasBeenStartedBefore": True,
        "MountPoints": {},
        "HostnamePath": os.path.join(path, "hostname"),
        "HostsPath": os.path.join(path, "hosts"),
        "ResolvConfPath": os.path.join(path, "resolv.conf"),
    }  # fmt: skip
    _write(os.path.join(path, "config.v2.json"), json.dumps(config))
    hostconfig = {"LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none"}
    _write(os.path.join(path, "hostconfig.json"), json.dumps(hostconfig))
    _write(os.path.join(path, "hostname"), spec.id[:12] + "\n")
    _write(os.path.join(path, "hosts"), "127.0.0.1\tlocalhost\n")
    _write(os.path.join(path, "resolv.conf"), "nameserver 10.0.0.1\n")
    line = json.dumps({"log": "request served\n", "stream": "stdout", "time": spec.created})
    _write(log_path, (line + "\n") * max(1, spec.log_bytes // (len(line) + 1)))
