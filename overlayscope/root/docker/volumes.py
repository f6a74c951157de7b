"""Local volumes under `volumes/`, and which containers mount them (config.v2.json)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from overlayscope.root.docker.containers import ContainerRecord
from overlayscope.root.model import Volume
from overlayscope.root.records import RecordError, list_dir


def read_volumes(
    base: str, records: Iterable[ContainerRecord], *, incomplete: bool, key_of: dict[str, str]
) -> dict[str, Volume]:
    """Every dir in `base` (`<root>/volumes`, the local driver's volumes), by name.

    A volume's `containers` are the keys (`key_of[container id]`) of every container,
    running or not, whose `MountPoints` names it — Docker's own reference count — or None
    when some container's config could not be read (`incomplete`): then nobody can say
    the volume is unused.
    """
    if not _is_dir(base):
        return {}  # absent, or a symlink: never followed out of the root
    try:
        names = list_dir(base)
    except RecordError:
        return {}
    refs: dict[str, set[str]] | None = {} if not incomplete else None
    for rec in records:
        if refs is None:
            break
        if rec.volumes is None:
            refs = None
            break
        for name in rec.volumes:
            refs.setdefault(name, set()).add(key_of.get(rec.id, rec.id))
    out: dict[str, Volume] = {}
    for name in names:
        path = os.path.join(base, name)
        if not _is_dir(path):
            continue  # metadata.db, backingFsBlockDev
        data = os.path.join(path, "_data")
        users = None if refs is None else tuple(sorted(refs.get(name, ())))
        out[name] = Volume(name, path, data if _is_dir(data) else None, users)
    return out


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
