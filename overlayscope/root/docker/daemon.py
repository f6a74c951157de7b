"""The optional live view: a Docker daemon for the same data root, through the SDK.

The disk is the source of truth; the daemon enriches it (live state, names) and
is cross-checked against it. Nothing here is needed for an offline snapshot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from overlayscope.errors import DaemonError
from overlayscope.root.model import DaemonInfo, Host, Store
from overlayscope.root.problems import Problem, ProblemKind

CONNECT_TIMEOUT = 5  # seconds; a hung daemon must not hang the tool


@dataclass
class DaemonView:
    """What the daemon says, fetched once: info plus GraphDriver data per object."""

    info: DaemonInfo
    native_diff: bool | None = None
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → inspect
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → inspect


def connect(base_url: str | None = None) -> Any | None:
    """A docker SDK client that answered a ping, or None when no daemon is reachable."""
    try:
        import docker  # deferred: the SDK is only needed for the live view
        from docker.errors import DockerException
    except ImportError:
        return None
    try:
        if base_url is None:
            client = docker.from_env(timeout=CONNECT_TIMEOUT)
        else:
            client = docker.DockerClient(base_url=base_url, timeout=CONNECT_TIMEOUT)
        client.ping()
        return client
    except (DockerException, OSError, ValueError):
        return None
    except Exception:  # requests/urllib3 errors of every kind: no daemon to talk to
        return None


def daemon_info(client: Any) -> DaemonInfo:
    try:
        info = client.info()
    except Exception as exc:
        raise DaemonError(f"the daemon did not answer `info`: {exc}") from None
    return DaemonInfo(
        host=str(client.api.base_url),
        root_dir=str(info.get("DockerRootDir", "")),
        driver=str(info.get("Driver", "")),
        server_version=str(info.get("ServerVersion", "")),
    )


def driver_status(client: Any) -> dict[str, str]:
    try:
        pairs = client.info().get("DriverStatus") or []
    except Exception:
        return {}
    return {str(k): str(v) for k, v in pairs if isinstance(k, str)}


def fetch_view(client: Any, info: DaemonInfo) -> DaemonView:
    """Inspect every container and image once; objects that vanish meanwhile are skipped."""
    from docker.errors import NotFound

    status = driver_status(client)
    view = DaemonView(info=info, native_diff=_bool(status.get("Native Overlay Diff")))
    try:
        summaries = client.api.containers(all=True)
        image_summaries = client.api.images(all=True)
    except Exception as exc:
        raise DaemonError(f"the daemon did not list containers and images: {exc}") from None
    for summary in summaries:
        try:
            view.containers[summary["Id"]] = client.api.inspect_container(summary["Id"])
        except NotFound:
            continue
    for summary in image_summaries:
        try:
            view.images[summary["Id"]] = client.api.inspect_image(summary["Id"])
        except NotFound:
            continue
    return view


def apply_view(host: Host, view: DaemonView) -> None:
    """Enrich the host with live state and record every disagreement as a problem."""
    host.daemon = view.info
    root = view.info.root_dir
    # Only overlay2 has GraphDriver data to compare: Docker 29's containerd image store
    # reports none (its layers are containerd snapshots, read from containerd's root).
    compare = host.store is Store.DOCKER_OVERLAY2
    # The daemon names objects by id; the host keys them by namespace too (Docker 29: moby).
    container_keys = {c.id: key for key, c in host.containers.items()}
    image_keys = {i.id: key for key, i in host.images.items()}
    for cid, data in view.containers.items():
        ckey = container_keys.get(cid, cid)
        container = host.containers.get(ckey)
        if container is None:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    os.path.join(host.root, "containers", cid),
                    "the daemon lists this container, the disk has no config for it",
                )
            )
            continue
        state = (data.get("State") or {}).get("Status")
        name = str(data.get("Name", "")).lstrip("/")
        if (
            isinstance(state, str)
            and state
            and (state != container.state or name != container.name)
        ):
            host.containers[ckey] = replace(container, state=state, name=name or container.name)
        if not compare:
            continue
        expected = {
            "UpperDir": _diff(root, container.layer),
            "LowerDir": ":".join(_diff(root, d) for d in container.stack()[1:]),
            "WorkDir": _sub(root, container.layer, "work"),
            "MergedDir": _sub(root, container.layer, "merged"),
        }
        _compare(host, os.path.join(host.root, "containers", cid), data, expected)
    for iid, data in view.images.items():
        image = host.images.get(image_keys.get(iid, iid))
        config_path = (
            image.path
            if image is not None and image.path
            else os.path.join(host.root, "image", "overlay2", "imagedb", "content", "sha256",
                              iid.removeprefix("sha256:"))
        )  # fmt: skip
        if image is None:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    config_path,
                    "the daemon lists this image, the disk has no config for it",
                )
            )
            continue
        stack = image.stack()
        if not stack or not compare:
            continue
        expected = {
            "UpperDir": _diff(root, stack[0]),
            "LowerDir": ":".join(_diff(root, d) for d in stack[1:]),
        }
        _compare(host, config_path, data, expected)
    for c in host.containers.values():
        cid = c.id
        if cid not in view.containers:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    os.path.join(host.root, "containers", cid),
                    "on disk, but the daemon does not list this container",
                )
            )


def _compare(host: Host, path: str, data: dict[str, Any], expected: dict[str, str]) -> None:
    driver = data.get("GraphDriver") or {}
    got = driver.get("Data") or {}
    if driver.get("Name") not in (None, "overlay2"):
        host.problems.append(
            Problem(ProblemKind.DAEMON_MISMATCH, path, f"daemon says driver {driver.get('Name')!r}")
        )
        return
    for key, want in expected.items():
        have = got.get(key) or ""
        if have != want:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    path,
                    f"GraphDriver.{key} is {have!r}, the disk says {want!r}",
                )
            )


def _diff(root: str, layer_id: str | None) -> str:
    return _sub(root, layer_id, "diff")


def _sub(root: str, layer_id: str | None, name: str) -> str:
    return os.path.join(root, "overlay2", layer_id, name) if layer_id else ""


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() == "true"
