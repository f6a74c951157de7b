"""`containers/<id>/config.v2.json`: each container's name, image and state."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from overlayscope.record import field, record, replace
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import (
    MissingRecord,
    RecordError,
    list_dir,
    list_record_dir,
    read_json,
    record_dir_problem,
)
from overlayscope.root.run_config import RunConfig, docker_run_config

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


@record
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
    run: RunConfig = field(default_factory=RunConfig)  # command, env, mounts, ports, restarts
    # Its config could not be read whole (a problem says why): what is missing reads as
    # unknown — name "", image "", state "unknown" — and the container is still listed.
    damaged: bool = False


@record(frozen=False, slots=False)
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
        store.containers[record.id] = record
        if record.damaged:
            store.incomplete = True
    store.problems += _duplicate_names(store.containers)
    return store


def _duplicate_names(records: dict[str, ContainerRecord]) -> list[Problem]:
    """One problem per config whose name another container carries too: Docker keeps
    names unique, so one of them was planted or copied in (a reference by that name is
    ambiguous, and says so)."""
    by_name: dict[str, list[ContainerRecord]] = {}
    for rec in records.values():
        if rec.name:
            by_name.setdefault(rec.name, []).append(rec)
    problems = []
    for name, recs in sorted(by_name.items()):
        if len(recs) < 2:
            continue
        for rec in sorted(recs, key=lambda r: r.id):
            others = ", ".join(r.id[:12] for r in sorted(recs, key=lambda r: r.id) if r is not rec)
            problems.append(
                Problem(
                    ProblemKind.DUPLICATE_NAME,
                    os.path.join(rec.path, "config.v2.json"),
                    f"name {name!r} is also the name of {others}: Docker keeps names unique",
                )
            )
    return problems


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


def _read_container(path: str, name: str, problems: list[Problem]) -> ContainerRecord:
    """The container whose record dir is `path`, with what its config says. A config that
    cannot be read, or lacks what every config has, still gives a container — its id from
    the dir's name, the rest unknown (`damaged`) — and a problem saying why."""
    config_path = os.path.join(path, "config.v2.json")
    unknown = ContainerRecord(
        id=name,
        name="",
        image_id="",
        state="unknown",
        created=None,
        started_at=None,
        finished_at=None,
        pid=0,
        exit_code=0,
        driver="",
        log_path=None,
        path=path,
        volumes=None,
        damaged=True,
    )
    bad_dir = record_dir_problem(path)
    if bad_dir is not None:
        problems.append(bad_dir)
        return unknown  # never read through: a symlinked dir could be any dir on the host
    try:
        config = read_json(config_path)
    except RecordError as exc:
        problems.append(exc.problem)
        return replace(unknown, logs=_log_files(path, name))
    state = config.get("State")
    image = config.get("Image")
    missing = [
        f
        for f, ok in (("State", isinstance(state, dict)), ("Image", isinstance(image, str)))
        if not ok
    ]
    if missing:
        problems.append(
            Problem(
                ProblemKind.BAD_METADATA,
                config_path,
                f"no {' or '.join(missing)} of the right type: read as unknown",
            )
        )
    state_obj = state if isinstance(state, dict) else {}
    wrong = _wrong_types(config, _CONFIG_FIELDS, "") + _wrong_types(
        state_obj, _STATE_FIELDS, "State."
    )
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
        image_id=image if isinstance(image, str) else "",
        state=state_string(state) if isinstance(state, dict) else "unknown",
        created=_str(config.get("Created")),
        started_at=_time(state_obj.get("StartedAt")),
        finished_at=_time(state_obj.get("FinishedAt")),
        pid=_int(state_obj.get("Pid")),
        exit_code=_int(state_obj.get("ExitCode")),
        driver=_str(config.get("Driver")) or "",
        log_path=_str(config.get("LogPath")),
        path=path,
        volumes=volumes,
        logs=_log_files(path, name),
        image_manifest=_str(manifest_digest),
        damaged=bool(missing),
        run=docker_run_config(config, _hostconfig(path, problems)),
    )


def _hostconfig(path: str, problems: list[Problem]) -> dict[str, Any] | None:
    """hostconfig.json (the published ports), None when absent; damage is a problem."""
    try:
        return read_json(os.path.join(path, "hostconfig.json"))
    except MissingRecord:
        return None
    except RecordError as exc:
        problems.append(exc.problem)
        return None


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
