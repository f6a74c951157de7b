"""What the live daemon said, checked against the disk and used where it holds.

The disk is the source of truth. The daemon's word enriches it — a container's live
state and name — only once checked: a state outside Docker's words, a name Docker would
refuse, one name for two containers, GraphDriver data of the wrong shape are each a
`bad-daemon-reply` problem, and the disk's value stays. GraphDriver data that disagrees
with the disk is a `daemon-mismatch`; a dir it names is in use, never an orphan.
"""

from __future__ import annotations

import os
from typing import Any

from overlayscope.record import replace
from overlayscope.root.docker.daemon import (
    NAME,
    STATES,
    DaemonView,
    bad_reply,
    clip,
    json_type,
    shown_value,
)
from overlayscope.root.docker.graph import settle_daemon_named
from overlayscope.root.model import Host, Store
from overlayscope.root.problems import Problem, ProblemKind


def apply_view(host: Host, view: DaemonView) -> None:
    """Enrich the host with live state and record every disagreement as a problem.

    What the daemon says is checked before it is used: a state outside Docker's words,
    a name Docker would refuse, one name for two containers, GraphDriver data of the
    wrong shape — each is a `bad-daemon-reply` problem, and the disk's value stays. A
    layer dir its GraphDriver data names is in use: never an orphan.
    """
    host.problems.extend(view.problems)
    if not view.complete:
        return
    host.daemon = view.info
    if host.store in (Store.DOCKER_OVERLAY2, Store.DOCKER_OVERLAY):
        settle_daemon_named(host, named_dirs(host, view))
    root = view.info.root_dir
    # Only overlay2 has GraphDriver data to compare: Docker 29's containerd image store
    # reports none (its layers are containerd snapshots, read from containerd's root).
    compare = host.store is Store.DOCKER_OVERLAY2
    # The daemon names objects by id; the host keys them by namespace too (Docker 29: moby).
    container_keys = {c.id: key for key, c in host.containers.items()}
    image_keys = {i.id: key for key, i in host.images.items()}
    live = _live_states(host, view, container_keys)
    for cid in sorted(view.listed_containers):
        ckey = container_keys.get(cid, cid)
        path = os.path.join(host.root, "containers", cid)
        container = host.containers.get(ckey)
        if container is None:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    path,
                    "the daemon lists this container, the disk has no config for it",
                )
            )
            continue
        if ckey in live:
            state, name = live[ckey]
            host.containers[ckey] = replace(
                container, state=state or container.state, name=name or container.name
            )
        data = view.containers.get(cid)
        if compare and data is not None:
            expected = {
                "UpperDir": _diff(root, container.layer),
                "LowerDir": ":".join(_diff(root, d) for d in container.stack()[1:]),
                "WorkDir": _sub(root, container.layer, "work"),
                "MergedDir": _sub(root, container.layer, "merged"),
            }
            _compare(host, path, data, expected)
    for iid in sorted(view.listed_images):
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
        data = view.images.get(iid)
        if not stack or not compare or data is None:
            continue
        expected = {
            "UpperDir": _diff(root, stack[0]),
            "LowerDir": ":".join(_diff(root, d) for d in stack[1:]),
        }
        _compare(host, config_path, data, expected)
    for c in host.containers.values():
        if c.id not in view.listed_containers:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    os.path.join(host.root, "containers", c.id),
                    "on disk, but the daemon does not list this container",
                )
            )


def _live_states(
    host: Host, view: DaemonView, container_keys: dict[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    """Container key → (state, name) the daemon says, each None where its word is not
    used: outside Docker's states or names, or a name it gives to two containers."""
    out: dict[str, tuple[str | None, str | None]] = {}
    owners: dict[str, list[str]] = {}
    for cid, data in sorted(view.containers.items()):
        ckey = container_keys.get(cid)
        if ckey is None:
            continue
        path = os.path.join(host.root, "containers", cid)
        if data.get("Id") not in (None, cid):
            host.problems.append(
                bad_reply(path, f"the daemon's inspect has Id {shown_value(data['Id'])}")
            )
            continue
        state_obj = data.get("State")
        state = state_obj.get("Status") if isinstance(state_obj, dict) else None
        if state_obj is not None and not isinstance(state_obj, dict):
            host.problems.append(bad_reply(path, f"the daemon's State is a {json_type(state_obj)}"))
        if state is not None and state not in STATES:
            host.problems.append(
                bad_reply(
                    path, f"the daemon's State.Status {shown_value(state)} is no Docker state"
                )
            )
        raw_name = data.get("Name")
        name = raw_name if isinstance(raw_name, str) and NAME.fullmatch(raw_name) else None
        if raw_name is not None and name is None:
            host.problems.append(
                bad_reply(
                    path, f"the daemon's Name {shown_value(raw_name)} is no name Docker gives"
                )
            )
        if name is not None:
            owners.setdefault(name, []).append(ckey)
        out[ckey] = (state if state in STATES else None, name.lstrip("/") if name else None)
    for name, keys in owners.items():
        if len(keys) > 1:
            for ckey in keys:
                state, _ = out[ckey]
                out[ckey] = (state, None)
                cid = host.containers[ckey].id
                host.problems.append(
                    bad_reply(
                        os.path.join(host.root, "containers", cid),
                        f"the daemon gives the name {shown_value(name.lstrip('/'))} to "
                        f"{len(keys)} containers: Docker keeps names unique",
                    )
                )
    return out


def _compare(host: Host, path: str, data: dict[str, Any], expected: dict[str, str]) -> None:
    driver = data.get("GraphDriver")
    if driver is None:
        driver = {}
    if not isinstance(driver, dict):
        host.problems.append(bad_reply(path, f"the daemon's GraphDriver is a {json_type(driver)}"))
        return
    got = driver.get("Data")
    if got is None:
        got = {}
    name = driver.get("Name")
    if not isinstance(got, dict) or not isinstance(name, str | None):
        host.problems.append(
            bad_reply(
                path,
                f"the daemon's GraphDriver has Name {shown_value(name)}, Data {shown_value(got)}",
            )
        )
        return
    if name not in (None, "overlay2"):
        host.problems.append(
            Problem(ProblemKind.DAEMON_MISMATCH, path, f"daemon says driver {shown_value(name)}")
        )
        return
    for key, want in expected.items():
        have = got.get(key) or ""
        if not isinstance(have, str):
            host.problems.append(
                bad_reply(path, f"the daemon's GraphDriver.{key} is a {json_type(have)}")
            )
        elif have != want:
            host.problems.append(
                Problem(
                    ProblemKind.DAEMON_MISMATCH,
                    path,
                    f"GraphDriver.{key} is {clip(repr(have))}, the disk says {want!r}",
                )
            )


def _diff(root: str, layer_id: str | None) -> str:
    return _sub(root, layer_id, "diff")


def _sub(root: str, layer_id: str | None, name: str) -> str:
    return os.path.join(root, "overlay2", layer_id, name) if layer_id else ""


# The GraphDriver.Data keys that name a container's or image's layer dirs.
_DIR_KEYS = ("UpperDir", "LowerDir", "WorkDir", "MergedDir")


def named_dirs(host: Host, view: DaemonView) -> dict[str, str]:
    """Layer dir id → the container or image whose GraphDriver data names it, for every
    dir under the graph driver's dir that the daemon's inspect replies name, whether or
    not the disk knows that object. Data of the wrong shape names nothing (`_compare`
    reports it)."""
    bases = {
        os.path.join(os.path.normpath(r), host.driver) + os.sep
        for r in (view.info.root_dir, host.root)
    }
    out: dict[str, str] = {}
    objects = [(f"container {oid[:12]}", data) for oid, data in sorted(view.containers.items())]
    objects += [
        (f"image {oid.removeprefix('sha256:')[:12]}", data)
        for oid, data in sorted(view.images.items())
    ]
    for who, data in objects:
        driver = data.get("GraphDriver")
        if not isinstance(driver, dict) or driver.get("Name") not in (None, host.driver):
            continue
        got = driver.get("Data")
        if not isinstance(got, dict):
            continue
        for key in _DIR_KEYS:
            value = got.get(key)
            for named in value.split(":") if isinstance(value, str) else ():
                path = os.path.normpath(named)
                for base in bases:
                    if path.startswith(base):
                        out.setdefault(path[len(base) :].split(os.sep, 1)[0], who)
    return out
