"""Find the root to read, say which store it holds, decide whether a daemon may be consulted.

This is the one place that tells the stores apart: `detect` looks at a directory and
names its store (and, for Docker 29, the containerd root beside the data root); the
store's reader (root/load.py) does the rest.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, Any

from overlayscope.errors import NotADataRoot, PermissionDeniedError, UnsupportedDriver
from overlayscope.record import record
from overlayscope.root.model import DaemonInfo, Store
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import open_dir

if TYPE_CHECKING:
    from overlayscope.root.docker.daemon import Reaching

DEFAULT_ROOT = "/var/lib/docker"
SYSTEM_CONTAINERD_ROOT = "/var/lib/containerd"
CONTAINERD_META = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")
# The daemon's words for the stores it can use, as `docker info` reports `Driver`.
_DAEMON_DRIVERS = {
    "overlay2": Store.DOCKER_OVERLAY2,
    "overlay": Store.DOCKER_OVERLAY,
    "overlayfs": Store.CONTAINERD,
}


@record(slots=False)
class Location:
    """Where the root is, the daemon that serves it (None: offline), and the store options."""

    root: str
    client: Any | None
    daemon: DaemonInfo | None
    containerd_root: str | None = None  # --containerd-root
    namespace: str | None = None  # --namespace
    run_root: str | None = None  # containers/storage: the run root (from --storage-conf)
    # Why the daemon that may serve this root was not consulted (unreachable, too slow,
    # a bad `info`): problems of the host read from it (daemon-unavailable...).
    daemon_problems: tuple[Problem, ...] = ()


@record(slots=False)
class Detected:
    """A root whose store is known, and the dirs its reader needs."""

    store: Store
    root: str  # the root as named: a Docker data root or a containerd root
    containerd_root: str | None = None  # containerd store: the containerd root
    docker_root: str | None = None  # a Docker data root read with it (Docker 29)
    run_root: str | None = None  # containers/storage: its run root, when known


def locate(
    root: str | None,
    *,
    offline: bool = False,
    containerd_root: str | None = None,
    namespace: str | None = None,
    run_root: str | None = None,
    reaching: Reaching | None = None,
) -> Location:
    """Pick the root as the docker CLI user would expect.

    No root given: the daemon's DockerRootDir when one answers, else /var/lib/docker.
    A root given: a daemon is consulted only when its DockerRootDir is that directory.
    `reaching`: the daemon already being asked (`daemon.Reaching`, begun early), else
    it is asked now.
    """
    options = {"containerd_root": containerd_root, "namespace": namespace, "run_root": run_root}
    if offline:  # the disk alone: the daemon client is not even loaded
        return Location(root or DEFAULT_ROOT, None, None, **options, daemon_problems=())
    if reaching is None:
        from overlayscope.root.docker.daemon import Reaching  # the SDK only when it may be used

        reaching = Reaching()
    reach = reaching.result()
    client, info = reach.client, reach.info
    if root is None:
        if info is not None:
            check_daemon_driver(info)
            return Location(info.root_dir, client, info, **options, daemon_problems=reach.problems)
        return Location(DEFAULT_ROOT, None, None, **options, daemon_problems=reach.problems)
    if info is not None and _same_dir(info.root_dir, root):
        if info.driver not in _DAEMON_DRIVERS:
            # the disk says which store it holds; a daemon that says another is not asked
            mismatch = Problem(
                ProblemKind.DAEMON_MISMATCH,
                info.host,
                f"the daemon says it keeps this root with storage driver {info.driver!r}, "
                "which overlayscope does not read: its view is not used",
            )
            return Location(root, None, None, **options,
                            daemon_problems=(*reach.problems, mismatch))  # fmt: skip
        return Location(root, client, info, **options, daemon_problems=reach.problems)
    # A daemon we could not ask may serve this root when DOCKER_HOST named it, or when the
    # root is the default socket's usual one: say so. Otherwise it is no news.
    relevant = info is None and (reach.explicit or _same_dir(root, DEFAULT_ROOT))
    return Location(root, None, None, **options, daemon_problems=reach.problems if relevant else ())


def check_daemon_driver(info: DaemonInfo) -> None:
    if info.driver not in _DAEMON_DRIVERS:
        raise UnsupportedDriver(
            f"the daemon at {info.host} uses storage driver {info.driver!r}",
            hint="overlayscope reads overlay2 roots and the containerd image store (overlayfs); "
            "use --root on such a root",
        )


def detect(location: Location) -> Detected:
    """Which store `location.root` holds; a clear error unless it is a readable one."""
    root = location.root
    names = _list_root(root)
    if CONTAINERD_META.split(os.sep)[0] in names:
        return Detected(Store.CONTAINERD, root, containerd_root=root)
    if "overlay-layers" in names:
        _check_records_listable(root, _CONTAINERS_STORAGE_RECORD_DIRS)
        return Detected(Store.CONTAINERS_STORAGE, root, run_root=location.run_root)
    image_dir = os.path.join(root, "image")
    try:
        drivers = set(_listdir(image_dir)) if "image" in names else set()
    except PermissionError:
        raise PermissionDeniedError(f"cannot list {image_dir}", hint="run as root (sudo)") from None
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise NotADataRoot(f"cannot list {image_dir}: {exc.strerror}") from None
        drivers = set()
    if "overlay2" in drivers or "overlay2" in names:
        _check_records_listable(root, _OVERLAY2_RECORD_DIRS)
        return Detected(Store.DOCKER_OVERLAY2, root)
    if "overlay" in drivers or ("overlay" in names and not drivers):
        _check_records_listable(root, _record_dirs("overlay"))
        return Detected(Store.DOCKER_OVERLAY, root)
    if drivers:
        raise UnsupportedDriver(
            f"{root} uses storage driver {', '.join(sorted(drivers))}",
            hint="overlayscope reads overlay2 roots, containerd roots, Docker 29's "
            "containerd image store and containers/storage (Podman, CRI-O)",
        )
    if "containers" in names:
        return _docker_on_containerd(location, names)
    raise NotADataRoot(
        f"{root} is not a Docker, containerd or containers/storage root (no image/overlay2, "
        "overlay2/, containers/, io.containerd.metadata.v1.bolt/ or overlay-layers/)",
        hint="pass --root PATH to a root such as /var/lib/docker, /var/lib/containerd or "
        "/var/lib/containers/storage",
    )


def _docker_on_containerd(location: Location, names: set[str]) -> Detected:
    """A Docker data root with no graph driver of its own: Docker 29's containerd image
    store keeps the layers in containerd's root, read with it (namespace `moby`)."""
    root = location.root
    _check_records_listable(root, ("containers",))
    candidates = [location.containerd_root] if location.containerd_root else []
    if not candidates:
        candidates = [
            os.path.join(root, "containerd", "daemon"),  # the containerd dockerd runs itself
            os.path.join(os.path.dirname(os.path.normpath(root)), "containerd"),  # beside it
        ]
        # The host's own containerd root only for the live daemon's own data root: a
        # mounted snapshot must never be read together with the analyst's host.
        if location.daemon is not None:
            candidates.append(SYSTEM_CONTAINERD_ROOT)
    for candidate in candidates:
        if candidate and _is_file(os.path.join(candidate, CONTAINERD_META)):
            if _is_symlink(candidate):
                raise NotADataRoot(
                    f"{candidate} is a symlink; name the directory it points to",
                    hint="overlayscope never follows links in the tree it inspects",
                )
            return Detected(Store.CONTAINERD, root, containerd_root=candidate, docker_root=root)
    tried = ", ".join(c for c in candidates if c)
    raise NotADataRoot(
        f"{root} has containers/ but no image/overlay2: Docker's containerd image store, "
        f"whose layers are in containerd's root — none found ({tried})",
        hint="pass --containerd-root PATH (the containerd root beside this data root, "
        "e.g. /var/lib/containerd)",
    )


def _list_root(root: str) -> set[str]:
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise NotADataRoot(
            f"{root} does not exist", hint="pass --root PATH to a Docker or containerd root"
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
            f"{root} is not a directory", hint="pass --root PATH to a Docker or containerd root"
        )
    try:
        return set(_listdir(root))
    except PermissionError:
        raise PermissionDeniedError(f"cannot list {root}", hint="run as root (sudo)") from None
    except OSError as exc:
        raise NotADataRoot(f"cannot list {root}: {exc.strerror}") from None


def check_root(root: str) -> None:
    """Fail with a clear error unless `root` is a readable root of a store we read."""
    detect(Location(root, None, None))


# The dirs every answer comes from. Docker makes them readable by root only (0700/0710):
# run as another user, the tool must say so, not answer with empty lists.
def _record_dirs(driver: str) -> tuple[str, ...]:
    return (
        driver,
        os.path.join("image", driver),
        os.path.join("image", driver, "layerdb"),
        os.path.join("image", driver, "imagedb"),
        "containers",
    )


_OVERLAY2_RECORD_DIRS = _record_dirs("overlay2")


_CONTAINERS_STORAGE_RECORD_DIRS = (
    "overlay",
    "overlay-layers",
    "overlay-images",
    "overlay-containers",
)


def _check_records_listable(root: str, record_dirs: tuple[str, ...]) -> None:
    for rel in record_dirs:
        path = os.path.join(root, rel)
        if _through_symlink(root, rel):
            continue  # never listed through a symlink: the reader reports it
        try:
            _listdir(path)
        except PermissionError:
            raise PermissionDeniedError(
                f"cannot list {path}: Docker keeps its records readable by root only",
                hint="run as root (sudo)",
            ) from None
        except OSError:
            continue  # missing or damaged: reported as problems by the reader


def _listdir(path: str) -> list[str]:
    """`os.listdir` through an O_NOATIME fd: looking at a live root leaves its atimes."""
    fd = open_dir(path)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def _through_symlink(root: str, rel: str) -> bool:
    path = root
    for part in rel.split(os.sep):
        path = os.path.join(path, part)
        if os.path.islink(path):
            return True
    return False


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_symlink(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
