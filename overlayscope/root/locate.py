"""Find the data root to read, decide whether a daemon may be consulted, and open it."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any

from overlayscope.errors import NotADataRoot, PermissionDeniedError, UnsupportedDriver
from overlayscope.root import daemon as live
from overlayscope.root.load import DRIVER, load_host
from overlayscope.root.model import DaemonInfo, Host

DEFAULT_ROOT = "/var/lib/docker"


@dataclass(frozen=True)
class Location:
    """Where the data root is, and the daemon that serves it (None: offline)."""

    root: str
    client: Any | None
    daemon: DaemonInfo | None


def locate(root: str | None, *, offline: bool = False) -> Location:
    """Pick the data root as the docker CLI user would expect.

    No root given: the daemon's DockerRootDir when one answers, else /var/lib/docker.
    A root given: a daemon is consulted only when its DockerRootDir is that directory.
    """
    client = None if offline else live.connect()
    info = live.daemon_info(client) if client is not None else None
    if root is None:
        if info is not None:
            check_daemon_driver(info)
            return Location(info.root_dir, client, info)
        return Location(DEFAULT_ROOT, None, None)
    if info is not None and _same_dir(info.root_dir, root):
        check_daemon_driver(info)
        return Location(root, client, info)
    return Location(root, None, None)


def check_daemon_driver(info: DaemonInfo) -> None:
    if info.driver != DRIVER:
        store = " (the containerd image store)" if info.driver in ("overlayfs", "stargz") else ""
        raise UnsupportedDriver(
            f"the daemon at {info.host} uses storage driver {info.driver!r}{store}, not overlay2",
            hint="overlayscope reads overlay2 graph-driver roots; use --root on an overlay2 root",
        )


def check_root(root: str) -> None:
    """Fail with a clear error unless `root` is a readable overlay2 data root."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise NotADataRoot(
            f"{root} does not exist", hint="pass --root PATH to a Docker data root"
        ) from None
    except PermissionError:
        raise PermissionDeniedError(f"cannot read {root}", hint="run as root (sudo)") from None
    if stat.S_ISLNK(st.st_mode):
        raise NotADataRoot(
            f"{root} is a symlink; name the directory it points to",
            hint="overlayscope never follows links in the tree it inspects",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise NotADataRoot(
            f"{root} is not a directory", hint="pass --root PATH to a Docker data root"
        )
    try:
        names = set(os.listdir(root))
    except PermissionError:
        raise PermissionDeniedError(f"cannot list {root}", hint="run as root (sudo)") from None
    except OSError as exc:
        raise NotADataRoot(f"cannot list {root}: {exc.strerror}") from None
    image_dir = os.path.join(root, "image")
    try:
        drivers = set(os.listdir(image_dir)) if "image" in names else set()
    except PermissionError:
        raise PermissionDeniedError(f"cannot list {image_dir}", hint="run as root (sudo)") from None
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise NotADataRoot(f"cannot list {image_dir}: {exc.strerror}") from None
        drivers = set()
    if DRIVER in drivers or DRIVER in names:
        _check_records_listable(root)
        return
    if drivers:
        raise UnsupportedDriver(
            f"{root} uses storage driver {', '.join(sorted(drivers))}, not overlay2",
            hint="overlayscope reads overlay2 graph-driver roots only",
        )
    if "containerd" in names and "image" not in names:
        raise UnsupportedDriver(
            f"{root} has no image/overlay2: it looks like the containerd image store",
            hint="overlayscope reads overlay2 graph-driver roots only",
        )
    raise NotADataRoot(
        f"{root} is not a Docker data root (no image/overlay2 or overlay2/)",
        hint="pass --root PATH to a Docker data root such as /var/lib/docker",
    )


# The dirs every answer comes from. Docker makes them readable by root only (0700/0710):
# run as another user, the tool must say so, not answer with empty lists.
_RECORD_DIRS = (
    DRIVER,
    os.path.join("image", DRIVER),
    os.path.join("image", DRIVER, "layerdb"),
    os.path.join("image", DRIVER, "imagedb"),
    "containers",
)


def _check_records_listable(root: str) -> None:
    for rel in _RECORD_DIRS:
        path = os.path.join(root, rel)
        if _through_symlink(root, rel):
            continue  # never listed through a symlink: the loader reports it
        try:
            os.listdir(path)
        except PermissionError:
            raise PermissionDeniedError(
                f"cannot list {path}: Docker keeps its records readable by root only",
                hint="run as root (sudo)",
            ) from None
        except OSError:
            continue  # missing or damaged: reported as problems by the loader


def _through_symlink(root: str, rel: str) -> bool:
    path = root
    for part in rel.split(os.sep):
        path = os.path.join(path, part)
        if os.path.islink(path):
            return True
    return False


def open_host(location: Location) -> Host:
    """Load the host at `location`, enriched and cross-checked by its daemon if any."""
    check_root(location.root)
    host = load_host(location.root)
    if location.client is not None and location.daemon is not None:
        live.apply_view(host, live.fetch_view(location.client, location.daemon))
    return host


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
