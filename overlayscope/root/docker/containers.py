"""`containers/<id>/config.v2.json`: each container's name, image and state."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import (
    RecordError,
    list_dir,
    list_record_dir,
    read_json,
    record_dir_problem,
)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ZERO_TIME = "0001-01-01T00:00:00Z"
# The fields overlayscope reads, with the JSON types Docker writes them as. A field of
# another type is damage: reported, and read as absent (never as true, never as a name).
_STATE_FIELDS = {
    "Running": bool,
    "Paused": bool,
    "Restarting": bool,
    "RemovalInProgress": bool,
    "Dead": bool,
    "Pid": int,
    "ExitCode": int,
    "StartedAt": str,
    "FinishedAt": str,
}
_CONFIG_FIELDS = {"ID": str, "Name": str, "Created": str, "Driver": str, "LogPath": str}


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """A container as its config.v2.json describes it."""

    id: str
    name: str  # without Docker's leading "/"
    image_id: str
    state: str  # Docker's own words: created, running, paused, restarting, removing, exited, dead
    created: str | None
    started_at: str | None
    finished_at: str | None
    pid: int
    exit_code: int
    driver: str
    log_path: str | None
    path: str
    # Names of the local volumes its MountPoints name; None when MountPoints is damaged.
    volumes: tuple[str, ...] | None = ()
    logs: tuple[str, ...] = ()  # its log files (json-file, rotated too) and local-logs/
    image_manifest: str | None = None  # Docker 29: the digest of the manifest it runs


@dataclass
class ContainerStore:
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Some container dir could not be read: which volumes are in use is then unknown.
    incomplete: bool = False


def state_string(state: dict[str, Any]) -> str:
    """Docker's State.StateString(), from the State object of config.v2.json.

    Only a JSON `true` counts as true: `"Running": "yes"` is damage, not a running container.
    """

    def flag(name: str) -> bool:
        return state.get(name) is True

    if flag("Running"):
        if flag("Paused"):
            return "paused"
        if flag("Restarting"):
            return "restarting"
        return "running"
    if flag("RemovalInProgress"):
        return "removing"
    if flag("Dead"):
        return "dead"
    started = state.get("StartedAt")
    if not isinstance(started, str) or not started or started == _ZERO_TIME:
        return "created"
    return "exited"


def read_containers(path: str) -> ContainerStore:
    """Read every `<root>/containers/<id>/config.v2.json`."""
    store = ContainerStore()
    for name in list_record_dir(path, store.problems):
        if not _HEX64.match(name):
            continue
        record = _read_container(os.path.join(path, name), name, store.problems)
        if record is not None:
            store.containers[record.id] = record
        else:
            store.incomplete = True
    return store


def _log_files(path: str, container_id: str) -> tuple[str, ...]:
    """json-file logs (`<id>-json.log`, rotated `.1`, compressed `.2.gz`) and the local
    driver's `local-logs/`, as found in the container's dir."""
    try:
        names = list_dir(path)
    except RecordError:
        return ()
    return tuple(
        os.path.join(path, n)
        for n in names
        if n.startswith(container_id + "-json.log") or n == "local-logs"
    )


def _volume_names(config: dict[str, Any]) -> tuple[str, ...] | None:
    """Local volumes named by `MountPoints` (Docker counts every container, running or
    not); None when MountPoints is not what Docker writes."""
    points = config.get("MountPoints") or {}
    if not isinstance(points, dict):
        return None
    names = set()
    for point in points.values():
        if not isinstance(point, dict):
            continue
        name = point.get("Name")
        if isinstance(name, str) and name and point.get("Type", "volume") == "volume":
            names.add(name)
    return tuple(sorted(names))


def _read_container(path: str, name: str, problems: list[Problem]) -> ContainerRecord | None:
    config_path = os.path.join(path, "config.v2.json")
    bad_dir = record_dir_problem(path)
    if bad_dir is not None:
        problems.append(bad_dir)
        return None
    try:
        config = read_json(config_path)
    except RecordError as exc:
        problems.append(exc.problem)
        return None
    state = config.get("State")
    image = config.get("Image")
    if not isinstance(state, dict) or not isinstance(image, str):
        problems.append(Problem(ProblemKind.BAD_METADATA, config_path, "no State object or Image"))
        return None
    wrong = _wrong_types(config, _CONFIG_FIELDS, "") + _wrong_types(state, _STATE_FIELDS, "State.")
    if wrong:
        problems.append(
            Problem(
                ProblemKind.BAD_METADATA,
                config_path,
                "wrongly typed, read as absent: " + ", ".join(wrong),
            )
        )
    if config.get("ID") not in (None, name):
        problems.append(
            Problem(ProblemKind.BAD_METADATA, config_path, "ID does not match its directory")
        )
    raw_name = config.get("Name")
    volumes = _volume_names(config)
    if volumes is None:
        problems.append(
            Problem(ProblemKind.BAD_METADATA, config_path, "MountPoints is not an object")
        )
    manifest = config.get("ImageManifest")
    manifest_digest = manifest.get("digest") if isinstance(manifest, dict) else None
    return ContainerRecord(
        id=name,
        name=raw_name.lstrip("/") if isinstance(raw_name, str) else "",
        image_id=image,
        state=state_string(state),
        created=_str(config.get("Created")),
        started_at=_time(state.get("StartedAt")),
        finished_at=_time(state.get("FinishedAt")),
        pid=_int(state.get("Pid")),
        exit_code=_int(state.get("ExitCode")),
        driver=_str(config.get("Driver")) or "",
        log_path=_str(config.get("LogPath")),
        path=path,
        volumes=volumes,
        logs=_log_files(path, name),
        image_manifest=_str(manifest_digest),
    )


def _wrong_types(obj: dict[str, Any], fields: Mapping[str, type], prefix: str) -> list[str]:
    """The fields of `obj` present with a JSON type other than Docker's (null is absent)."""
    out = []
    for key, kind in fields.items():
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            out.append(f"{prefix}{key} ({type(value).__name__})")
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> str | None:
    return value if isinstance(value, str) and value != _ZERO_TIME else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
