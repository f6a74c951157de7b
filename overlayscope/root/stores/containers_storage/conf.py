"""containers/storage's `storage.conf`: where a store's graph root and run root are.

`[storage]` has `graphroot` (the records and layers), `runroot` (mounts, locks) and
`driver`; rootless users have `$XDG_CONFIG_HOME/containers/storage.conf`. Only those keys
are read; anything else in the file is left alone.
"""

from __future__ import annotations

import os
import tomllib

from overlayscope.errors import OverlayscopeError
from overlayscope.record import record
from overlayscope.root.records import RecordError, read_bytes


@record
class StorageConf:
    graph_root: str | None
    run_root: str | None
    driver: str | None


def read_storage_conf(path: str) -> StorageConf:
    """The roots `path` names; OverlayscopeError when it cannot be read or parsed."""
    try:
        raw = read_bytes(path, 1 << 20)
    except RecordError as exc:
        raise OverlayscopeError(
            f"cannot read {path}: {exc.problem.detail}", hint="pass --storage-conf FILE"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise OverlayscopeError(f"{path} is not valid TOML: {exc}") from None
    storage = data.get("storage")
    if not isinstance(storage, dict):
        raise OverlayscopeError(f"{path} has no [storage] table", hint="is this storage.conf?")

    def text(key: str) -> str | None:
        value = storage.get(key)
        return os.path.expanduser(value) if isinstance(value, str) and value else None

    return StorageConf(text("graphroot"), text("runroot"), text("driver"))
