"""Podman's own state: `libpod/bolt_state.db` (bbolt) beside the store's records.

`ctr/<id>/config` (JSON: name, image name, log path, named volumes, created) and
`ctr/<id>/state` (JSON: the state number, started/finished times, exited), with the exit
codes in `exit-code/<id>`. Podman 4 keeps them there; Podman 5 in a SQLite file (not read:
its containers are then listed from containers.json alone, state unknown). CRI-O has none.
"""

from __future__ import annotations

import json
import os
from typing import Any

from overlayscope.record import field, record, replace
from overlayscope.root.bbolt import BoltDB, BoltError, Bucket, read_settled
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import lstat_or_none
from overlayscope.root.run_config import RunConfig, oci_run_config, podman_ports

# libpod/define ContainerStatus, as `podman ps` words them.
_STATES = {
    0: "unknown",
    1: "created",  # configured: created in the DB, not yet in the runtime
    2: "initialized",  # created in the OCI runtime, not started (`podman init`)
    3: "running",
    4: "stopped",
    5: "paused",
    6: "exited",
    7: "removing",
    8: "stopping",
}
_ZERO_TIME = "0001-01-01T00:00:00Z"


@record
class PodmanContainer:
    id: str
    name: str
    state: str
    image_name: str | None
    image_id: str | None  # rootfsImageID: the image's id (hex)
    mount_point: str | None  # where its root is mounted, while it is (`<layer>/merged`)
    log_path: str | None
    created: str | None
    started: str | None
    finished: str | None
    volumes: tuple[str, ...]  # named volumes it mounts
    run: RunConfig = field(default_factory=RunConfig)  # its spec, ports, restart count


@record(frozen=False, slots=False)
class PodmanState:
    path: str
    containers: dict[str, PodmanContainer] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    present: bool = False  # the state DB exists and could be read
    exists: bool = False  # Podman keeps a state DB here (bolt, or Podman 5's SQLite): its store


def read_podman_state(root: str) -> PodmanState:
    """Podman's container state under graph root `root`, if there is a bolt state DB."""
    path = os.path.join(root, "libpod", "bolt_state.db")
    out = PodmanState(path)
    # Podman 5 keeps its SQLite DB in the static dir (libpod/), or in the graph root itself
    # when the static dir was configured (libpod/sqlite_state_internal.go).
    out.exists = any(
        lstat_or_none(os.path.join(root, *rel)) is not None
        for rel in (("libpod", "bolt_state.db"), ("libpod", "db.sql"), ("db.sql",))
    )
    if lstat_or_none(path) is None:
        return out
    try:
        settled = read_settled(path, lambda db: _read(db, path))
    except BoltError as exc:
        out.problems.append(Problem(ProblemKind.BAD_DATABASE, path, exc.message))
        return out
    out.containers, problems = settled.value
    out.problems += problems + [
        Problem(ProblemKind.BAD_DATABASE, path, p.detail) for p in settled.problems
    ]
    out.present = True
    return out


def _read(db: BoltDB, path: str) -> tuple[dict[str, PodmanContainer], list[Problem]]:
    problems: list[Problem] = []
    out: dict[str, PodmanContainer] = {}
    ctrs = db.bucket(b"ctr")
    for raw_id, bkt in ctrs.items() if ctrs is not None else ():
        if not isinstance(bkt, Bucket):
            continue
        cid = raw_id.decode("utf-8", "surrogateescape")
        config = _json(bkt.get(b"config"))
        state = _json(bkt.get(b"state"))
        if config is None or state is None:
            problems.append(
                Problem(ProblemKind.BAD_DATABASE, path, f"container {cid[:12]}: no config or state")
            )
            continue
        number = state.get("state")
        volumes = config.get("namedVolumes") or []
        out[cid] = PodmanContainer(
            id=cid,
            name=_str(config.get("name")) or "",
            state=_STATES.get(number, "unknown") if isinstance(number, int) else "unknown",
            image_name=_str(config.get("rootfsImageName")),
            image_id=_str(config.get("rootfsImageID")),
            mount_point=_str(state.get("mountPoint")) or None,
            log_path=_str(config.get("logPath")),
            created=_str(config.get("createdTime")),
            started=_time(state.get("startedTime")),
            finished=_time(state.get("finishedTime")),
            volumes=tuple(
                v["volumeName"]
                for v in volumes
                if isinstance(v, dict) and isinstance(v.get("volumeName"), str)
            )
            if isinstance(volumes, list)
            else (),
            run=replace(
                oci_run_config(config.get("spec")),
                ports=podman_ports(config),
                restart_count=_int(state.get("restartCount")),
            ),
        )
    return out, problems


def _json(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> str | None:
    return value if isinstance(value, str) and value != _ZERO_TIME else None
