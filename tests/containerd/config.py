"""The private containerd's settings: the names and constants it runs with, its error, and
its config.toml (`containerd config default` with every path moved into the temporary dir)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.engine import EngineError

SNAPSHOTTER = "overlayfs"
RUNC_RUNTIME = "io.containerd.runc.v2"
# Plugins that would read or write host paths, or that we have no use for: the CRI plugin
# (/etc/cni, /opt/cni, /var/run/netns, its own pod network), the other snapshotters (each would
# make its own dir in root; btrfs/zfs/devmapper probe host devices). The legacy v1 runtime
# stays: containerd 1.6's tasks service refuses to load without it (its state is under ours).
DISABLED_PLUGINS = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.native",
    "io.containerd.snapshotter.v1.zfs",
)
# Docker's and CRI's namespaces inside containerd.
MOBY_NAMESPACE = "moby"
K8S_NAMESPACE = "k8s.io"
# CRI's type URL of an OCI runtime spec in a container record, and runc's options message.
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"
# A label set on a content blob or snapshot that the garbage collector must treat as a root.
GC_ROOT_LABEL = "containerd.io/gc.root"
# The GC scheduler's pause threshold: interval between automatic collections =
# average collection time / threshold, so 1e-9 means weeks (see containerd_config).
GC_PAUSE_THRESHOLD = 1e-9
SLEEP_FOREVER = ("sleep", "2147483647")
# The temporary dir's layout: containerd's root and state, its TMPDIR, the opt plugin's dir,
# what its mount namespace sees as /run, the harness's own files, and a Docker 29 data root
# and exec root beside containerd's root (as /var/lib/docker beside /var/lib/containerd).
DIRS = ("containerd", "state", "tmp", "opt", "run", "scratch", "docker", "docker-exec")


class ContainerdError(EngineError):
    """The private containerd failed to start, stop, or run a command."""


# --------------------------------------------------------------------------- config (TOML)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string as long as no surrogate escapes appear.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: Mapping[str, Any]) -> str:
    """Write nested dicts of scalars and lists as TOML (enough for containerd's config)."""
    lines: list[str] = []

    def table(prefix: tuple[str, ...], tbl: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in tbl.items() if not isinstance(v, Mapping)]
        subtables = [(k, v) for k, v in tbl.items() if isinstance(v, Mapping)]
        if prefix:
            lines.append("")
            lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for k, v in subtables:
            table((*prefix, k), v)

    table((), data)
    return "\n".join(lines) + "\n"


def containerd_config(tmp_dir: Path) -> dict[str, Any]:
    """`containerd config default` with every path moved under `tmp_dir`.

    Also: the CRI plugin and unused plugins disabled, the debug and metrics listeners off,
    the ocicrypt stream processors (which name /etc/containerd) dropped, and the garbage
    collector made to run only when asked for (`--sync` deletes): with the default scheduler a
    deleted image's blobs, the scenario's deliberate garbage, would vanish within a second.
    """
    res = subprocess.run(
        ["containerd", "config", "default"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise ContainerdError(f"containerd config default failed: {res.stderr.strip()}")
    config = tomllib.loads(res.stdout)
    config["root"] = str(tmp_dir / "containerd")
    config["state"] = str(tmp_dir / "state")
    config["temp"] = str(tmp_dir / "tmp")
    config["disabled_plugins"] = list(DISABLED_PLUGINS)
    config["required_plugins"] = [f"io.containerd.snapshotter.v1.{SNAPSHOTTER}"]
    config["grpc"]["address"] = str(tmp_dir / "containerd.sock")
    config["grpc"]["tcp_address"] = ""
    config.setdefault("ttrpc", {})["address"] = str(tmp_dir / "containerd.sock.ttrpc")
    config.setdefault("debug", {})["address"] = ""
    config.setdefault("metrics", {})["address"] = ""
    plugins = config.setdefault("plugins", {})
    for name in DISABLED_PLUGINS:
        plugins.pop(name, None)
    plugins.setdefault("io.containerd.internal.v1.opt", {})["path"] = str(tmp_dir / "opt")
    plugins.setdefault(f"io.containerd.snapshotter.v1.{SNAPSHOTTER}", {})["root_path"] = ""
    # No startup collection and no threshold, so nothing schedules a collection; and since
    # the scheduler re-runs one every avg_gc_time / pause_threshold once a first collection
    # happened and anything was deleted since, a tiny threshold pushes that past days.
    gc = plugins.setdefault("io.containerd.gc.v1.scheduler", {})
    gc.update(
        startup_delay="0s",
        deletion_threshold=1 << 30,
        mutation_threshold=0,
        pause_threshold=GC_PAUSE_THRESHOLD,
    )
    config["stream_processors"] = {}
    return config
