"""What a container runs, from its engine's records: the command, the environment, the
mounts, the published ports and the restart count (lazydocker's and `docker inspect`'s
config view).

Two record shapes are read: Docker's `config.v2.json` + `hostconfig.json`, and an OCI
runtime spec (`process.args`, `process.env`, `mounts`), which containerd keeps in each
container's record in meta.db and Podman in its state DB. Every field is type-checked:
a value of another JSON type reads as absent, never as something else.
"""

from __future__ import annotations

from typing import Any

from overlayscope.record import record
from overlayscope.root.model import ContainerMount


@record
class RunConfig:
    command: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    mounts: tuple[ContainerMount, ...] = ()
    ports: tuple[str, ...] = ()
    restart_count: int | None = None


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def docker_run_config(config: dict[str, Any], hostconfig: dict[str, Any] | None) -> RunConfig:
    """From Docker's config.v2.json (and hostconfig.json, for the published ports)."""
    path = config.get("Path")
    command = ((path,) if isinstance(path, str) and path else ()) + _strings(config.get("Args"))
    env = _strings(_dict(config.get("Config")).get("Env"))
    mounts = []
    for point in _dict(config.get("MountPoints")).values():
        if not isinstance(point, dict) or not isinstance(point.get("Destination"), str):
            continue
        kind = _str(point.get("Type"), "volume")
        source = _str(point.get("Source"))
        if kind == "volume" and isinstance(point.get("Name"), str) and point["Name"]:
            source = point["Name"]
        mounts.append(ContainerMount(point["Destination"], source, kind, point.get("RW") is False))
    mounts.sort(key=lambda m: m.destination)
    ports: list[str] = []
    bound = _dict((hostconfig or {}).get("PortBindings"))
    for port, bindings in sorted(bound.items()):
        for b in bindings if isinstance(bindings, list) else ():
            if isinstance(b, dict) and isinstance(b.get("HostPort"), str) and b["HostPort"]:
                ip = (
                    b.get("HostIp")
                    if isinstance(b.get("HostIp"), str) and b["HostIp"]
                    else "0.0.0.0"
                )
                ports.append(f"{ip}:{b['HostPort']}->{port}")
    exposed = _dict(_dict(config.get("Config")).get("ExposedPorts"))
    ports += [port for port in sorted(exposed) if port not in bound or not bound[port]]
    return RunConfig(
        command=command,
        env=env,
        mounts=tuple(mounts),
        ports=tuple(ports),
        restart_count=_int(config.get("RestartCount")),
    )


def oci_run_config(spec: Any) -> RunConfig:
    """From an OCI runtime spec (`config.json`'s shape)."""
    spec = _dict(spec)
    process = _dict(spec.get("process"))
    mounts = []
    for m in spec.get("mounts") if isinstance(spec.get("mounts"), list) else ():
        if not isinstance(m, dict) or not isinstance(m.get("destination"), str):
            continue
        options = _strings(m.get("options"))
        mounts.append(
            ContainerMount(
                m["destination"],
                _str(m.get("source")),
                _str(m.get("type"), "bind"),
                "ro" in options,
            )
        )
    return RunConfig(
        command=_strings(process.get("args")),
        env=_strings(process.get("env")),
        mounts=tuple(mounts),
    )


def podman_ports(config: dict[str, Any]) -> tuple[str, ...]:
    """libpod's `newPortMappings` (Podman 4) or `portMappings`, as `podman ps` shows them."""
    mappings = config.get("newPortMappings") or config.get("portMappings") or []
    out = []
    for m in mappings if isinstance(mappings, list) else ():
        if not isinstance(m, dict):
            continue
        cport, hport = _int(m.get("container_port")), _int(m.get("host_port"))
        if cport is None or hport is None:
            continue
        proto = m.get("protocol") if isinstance(m.get("protocol"), str) and m["protocol"] else "tcp"
        ip = m.get("host_ip") if isinstance(m.get("host_ip"), str) and m["host_ip"] else "0.0.0.0"
        count = _int(m.get("range")) or 1
        for i in range(min(count, 64)):
            out.append(f"{ip}:{hport + i}->{cport + i}/{proto}")
    return tuple(out)


def run_fields(run: RunConfig, exit_code: int | None = None) -> dict[str, Any]:
    """`Container` keyword arguments for what `run` holds (one line at each reader)."""
    return {
        "command": run.command,
        "env": run.env,
        "mounts": run.mounts,
        "ports": run.ports,
        "restart_count": run.restart_count,
        "exit_code": exit_code,
    }


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def any_json(raw: bytes) -> Any:
    """The JSON value inside a protobuf `google.protobuf.Any` whose value is JSON, as
    containerd stores a container's OCI spec (type_url = field 1, value = field 2);
    None when it is not that."""
    import json

    at, value = 0, None
    try:
        while at < len(raw):
            tag, at = _uvarint(raw, at)
            if tag & 7 != 2:  # only length-delimited fields are expected here
                return None
            length, at = _uvarint(raw, at)
            field, at = raw[at : at + length], at + length
            if tag >> 3 == 2:
                value = field
        return None if value is None else json.loads(value)
    except (ValueError, RecursionError):
        return None
