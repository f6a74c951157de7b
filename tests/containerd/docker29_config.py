"""The records Docker 29 keeps beside a container: config.v2.json, hostconfig.json and the
json-file log, written field for field as dockerd writes them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containerd.config import SNAPSHOTTER
from tests.containerd.engine import ImportedImage
from tests.containerd.images import docker_short_name


@dataclass(frozen=True)
class Docker29State:
    """The State block of a config.v2.json."""

    running: bool
    pid: int
    exit_code: int
    started_at: str
    finished_at: str


@dataclass(frozen=True)
class Docker29Container:
    """A container made by create_docker29_container (tests/containerd/docker29.py)."""

    id: str
    name: str
    image: ImportedImage
    argv: tuple[str, ...]
    running: bool
    exec_script: str | None
    created: str
    image_config: Mapping[str, Any]
    docker_root: Path
    exit_code: int = 0

    @property
    def init_key(self) -> str:
        """The key the init layer was prepared under (gone once committed)."""
        return f"{self.id}-init-key"

    @property
    def init_name(self) -> str:
        """The committed init layer: `<id>-init`."""
        return f"{self.id}-init"

    @property
    def rootfs(self) -> Path:
        """Where Docker mounts the rw snapshot while the container runs."""
        return self.docker_root / "rootfs" / SNAPSHOTTER / self.id


_ZERO_TIME = "0001-01-01T00:00:00Z"


def write_docker29_config(record: Docker29Container, state: Docker29State | None) -> None:
    """Write containers/<id>/config.v2.json and hostconfig.json as Docker 29 does.

    Field order and names follow moby's daemon/container/container.go (Container, State,
    SecurityOptions), daemon/network/settings.go (Settings) and daemon/create.go /
    daemon/container.go (newContainer: Path/Args from Cmd, Hostname = id[:12], Driver = the
    snapshotter, Image = the image record's target digest, ImageManifest = the platform
    manifest's descriptor). `state` None is a created, never started container.
    """
    container_dir = record.docker_root / "containers" / record.id
    st = state or Docker29State(False, 0, 0, _ZERO_TIME, _ZERO_TIME)
    image_cfg = record.image_config
    started = state is not None
    config_v2 = {
        "StreamConfig": {},
        "State": {
            "Running": st.running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": "",
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at or _ZERO_TIME,
            "Health": None,
        },
        "ID": record.id,
        "Created": record.created,
        "Managed": False,
        "Path": record.argv[0],
        "Args": list(record.argv[1:]),
        "Config": {
            "Hostname": record.id[:12],
            "Domainname": "",
            "User": "",
            "AttachStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": list(image_cfg.get("Env", [])),
            "Cmd": list(record.argv),
            "Image": docker_short_name(record.image.name),
            "Volumes": None,
            "WorkingDir": image_cfg.get("WorkingDir", ""),
            "Entrypoint": None,
            "Labels": dict(image_cfg.get("Labels") or {}),
        },
        "Image": record.image.manifest_digest,
        "ImageManifest": {
            "mediaType": record.image.manifest_media_type,
            "digest": record.image.manifest_digest,
            "size": record.image.manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        "NetworkSettings": {
            "SandboxID": "",
            "SandboxKey": "",
            "Networks": {
                "none": {
                    "IPAMConfig": None,
                    "Links": None,
                    "Aliases": None,
                    "DriverOpts": None,
                    "GwPriority": 0,
                    "NetworkID": "",
                    "EndpointID": "",
                    "Gateway": "",
                    "IPAddress": "",
                    "MacAddress": "",
                    "IPPrefixLen": 0,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": None,
                    "IPAMOperational": False,
                    "DesiredMacAddress": "",
                }
            },
            "Service": None,
            "Ports": {},
            "HasSwarmEndpoint": False,
        },
        "LogPath": str(container_dir / f"{record.id}-json.log") if started else "",
        "Name": "/" + record.name,
        "Driver": SNAPSHOTTER,
        "OS": "linux",
        "ImagePlatform": {"architecture": "amd64", "os": "linux"},
        "RestartCount": 0,
        "HasBeenStartedBefore": started,
        "HasBeenManuallyStopped": False,
        "MountPoints": {},
        "SecretReferences": None,
        "ConfigReferences": None,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "WritableCgroups": None,
        "HostnamePath": str(container_dir / "hostname") if started else "",
        "HostsPath": str(container_dir / "hosts") if started else "",
        "ShmPath": str(container_dir / "mounts" / "shm") if started else "",
        "ResolvConfPath": str(container_dir / "resolv.conf") if started else "",
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }
    host_config = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "none",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CgroupnsMode": "private",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "Isolation": "",
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }
    # Go's json.Encoder: compact, HTML characters escaped, a trailing newline; 0600 like
    # atomicwriter.New(pth, 0o600) (hostconfig.json 0644).
    _write_atomic(container_dir / "config.v2.json", _go_json(config_v2), 0o600)
    _write_atomic(container_dir / "hostconfig.json", _go_json(host_config), 0o644)


def _go_json(obj: Any) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return (text + "\n").encode()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    tmp.replace(path)


def append_json_log(path: Path, output: bytes, when: str) -> None:
    """Docker's json-file log lines for a container's stdout."""
    with path.open("ab") as f:
        for line in output.decode(errors="replace").splitlines(keepends=True):
            f.write(_go_json({"log": line, "stream": "stdout", "time": when}))
