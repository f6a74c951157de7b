"""Local volumes under `volumes/`, and which containers mount them (config.v2.json)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from overlayscope.root.model import Host
from overlayscope.root.records import RecordError, read_json


@dataclass(frozen=True, slots=True)
class VolumeRecord:
    name: str
    has_data: bool  # volumes/<name>/_data is a directory
    containers: tuple[str, ...] | None  # ids of containers mounting it; None if unknown


def find_volumes(host: Host, root: str) -> list[VolumeRecord]:
    """Every dir in `volumes/` (the local driver's volumes), sorted by name."""
    base = os.path.join(root, "volumes")
    if not _is_dir(base):
        return []  # absent, or a symlink: never followed out of the root
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    refs = volume_refs(host)
    out = []
    for name in names:
        if not _is_dir(os.path.join(base, name)):
            continue  # metadata.db, backingFsBlockDev
        users = None if refs is None else tuple(sorted(refs.get(name, ())))
        out.append(VolumeRecord(name, _is_dir(os.path.join(base, name, "_data")), users))
    return out


def volume_refs(host: Host) -> dict[str, set[str]] | None:
    """Volume name -> ids of the containers whose config mounts it; None if any is unreadable.

    Docker's reference count is every container, running or not, whose
    `MountPoints` names the volume.
    """
    refs: dict[str, set[str]] = {}
    for c in host.containers.values():
        try:
            config = read_json(os.path.join(c.path, "config.v2.json"))
        except RecordError:
            return None
        points = config.get("MountPoints") or {}
        if not isinstance(points, dict):
            return None
        for point in points.values():
            if not isinstance(point, dict):
                continue
            name = point.get("Name")
            if isinstance(name, str) and name and point.get("Type", "volume") == "volume":
                refs.setdefault(name, set()).add(c.id)
    return refs


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
