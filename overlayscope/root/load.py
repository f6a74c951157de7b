"""Open a root: say which store it holds, read it with that store's reader, cross-check it
with its daemon when one is consulted. The only caller of the readers."""

from __future__ import annotations

from overlayscope.root.locate import Detected, Location, detect
from overlayscope.root.model import Host, Store


def read_detected(found: Detected, *, namespace: str | None = None) -> Host:
    """The host model of a root whose store `detect` named."""
    if found.store is Store.CONTAINERD:
        from overlayscope.root.stores.containerd.reader import read_host as read_containerd

        assert found.containerd_root is not None
        return read_containerd(
            found.containerd_root, docker_root=found.docker_root, namespace=namespace
        )
    if found.store is Store.CONTAINERS_STORAGE:
        from overlayscope.root.stores.containers_storage.reader import read_host as read_cs

        return read_cs(found.root, run_root=found.run_root)
    if found.store is Store.DOCKER_OVERLAY:
        from overlayscope.root.stores.overlay.reader import read_host as read_overlay

        return read_overlay(found.root)
    from overlayscope.root.stores.overlay2.reader import read_host as read_overlay2

    return read_overlay2(found.root)


def load_host(
    root: str,
    *,
    containerd_root: str | None = None,
    namespace: str | None = None,
    run_root: str | None = None,
) -> Host:
    """Read any root offline: a Docker data root, a containerd root, a containers/storage
    graph root."""
    location = Location(
        root,
        None,
        None,
        containerd_root=containerd_root,
        namespace=namespace,
        run_root=run_root,
    )
    return read_detected(detect(location), namespace=namespace)


def open_host(location: Location) -> Host:
    """Load the host at `location`, enriched and cross-checked by its daemon if any (asked
    while the disk is read: `daemon.ViewFetch`)."""
    found = detect(location)
    fetch = None
    if location.client is not None and location.daemon is not None:
        from overlayscope.root.docker.daemon import ViewFetch

        fetch = ViewFetch(location.client, location.daemon)
    host = read_detected(found, namespace=location.namespace)
    host.problems.extend(location.daemon_problems)
    if fetch is not None:
        from overlayscope.root.docker.daemon_view import apply_view

        apply_view(host, fetch.result())
    return host
