"""Figures as Prometheus metric families (prometheus_client), every series of docs/metrics.md.

Every series carries `root` (a host may publish several roots: Docker and a user's rootless
Podman). Per-container and per-image series are bounded by `top`: the largest `top`
containers (by the bytes they hold on disk) and images (by unique bytes) get a series of
their own, the rest are summed into one series labelled `other`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from overlayscope import __version__
from overlayscope.metrics.figures import CategoryFigures, ContainerFigures, Figures, ImageFigures
from overlayscope.names import printable
from overlayscope.record import record
from overlayscope.root.problems import ProblemKind

OTHER = "other"  # the label value of the series summing what `top` leaves out
CONTAINER_LABELS = (
    "root",
    "container_id",
    "name",
    "image",
    "store",
    "namespace",
    "pod",
    "pod_namespace",
    "container",
)
IMAGE_LABELS = ("root", "image_id", "image", "store", "namespace")
# What can go wrong in a scan: the whole scan, or one path its walk could not read (df's
# `scan_problems` kinds). Always published, 0 when it did not happen.
SCAN_ERROR_KINDS = ("failed", "permission", "vanished", "error")
_T = TypeVar("_T")


@record
class ScanStatus:
    """How the last scan attempt went (beside the figures of the last completed one)."""

    root: str  # the root's label value when there are no figures yet
    failed: bool = False  # the last attempt ended without figures
    error: str = ""  # why, for a human (logs and /healthz)
    running: bool | None = None  # a scan is under way (the exporter); None: not published


def families(figures: Figures | None, status: ScanStatus, *, top: int) -> list[Metric]:
    """Every metric family: the scan's status, and the figures when there are any."""
    root = _v(figures.root if figures is not None else status.root)
    out = list(_status(figures, status, root))
    if figures is not None:
        out += _host(figures, root)
        out += _containers(figures, root, top)
        out += _images(figures, root, top)
    return out


class FiguresCollector:
    """A prometheus_client collector of fixed figures (one scan: `overlayscope metrics`)."""

    def __init__(self, figures: Figures | None, status: ScanStatus, *, top: int) -> None:
        self._families = families(figures, status, top=top)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _v(value: str) -> str:
    """A label value from the evidence (names, tags, pods): no control characters, and
    undecodable bytes as `\\xNN`, as human output shows them."""
    return printable(value)


def _gauge(name: str, doc: str, labels: Sequence[str], unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(f"overlayscope_{name}", doc, labels=list(labels), unit=unit)


def _status(figures: Figures | None, status: ScanStatus, root: str) -> Iterator[Metric]:
    errors = _gauge(
        "scan_errors",
        "Errors of the scan: kind=failed is 1 when the last scan attempt failed (the figures "
        "are those of the last completed scan); permission, vanished, error count the paths "
        "that scan could not read (its figures count the rest).",
        ["root", "kind"],
    )
    unreadable: Mapping[str, int] = figures.unreadable if figures is not None else {}
    errors.add_metric([root, "failed"], 1 if status.failed else 0)
    for kind in sorted(set(SCAN_ERROR_KINDS[1:]) | set(unreadable)):
        errors.add_metric([root, _v(kind)], unreadable.get(kind, 0))
    yield errors
    if status.running is not None:
        running = _gauge("scan_running", "1 while a scan of the root is under way.", ["root"])
        running.add_metric([root], 1 if status.running else 0)
        yield running
    if figures is None:
        return
    duration = _gauge(
        "scan_duration_seconds",
        "How long the last completed scan took, opening the root included.",
        ["root"],
        "seconds",
    )
    duration.add_metric([root], figures.duration)
    yield duration
    stamp = _gauge(
        "scan_timestamp_seconds",
        "When the last completed scan ended (Unix time): the age of every figure.",
        ["root"],
        "seconds",
    )
    stamp.add_metric([root], figures.finished)
    yield stamp


def _host(f: Figures, root: str) -> Iterator[Metric]:
    info = InfoMetricFamily(
        "overlayscope",
        "The store read at the root and its engine (engine_version: the live daemon's, "
        "empty when read offline).",
        labels=["root"],
    )
    info.add_metric(
        [root],
        {
            "store": f.store,
            "driver": _v(f.driver),
            "engine": _v(f.engine),
            "engine_version": _v(f.engine_version),
            "version": __version__,
        },
    )
    yield info
    mounts = InfoMetricFamily(
        "overlayscope_root",
        "The filesystem holding each dir measured for the root (Docker 29: the data root and "
        "its containerd root): join on device with node_filesystem_size_bytes.",
        labels=["root"],
    )
    for fs in f.filesystems:
        mounts.add_metric(
            [root],
            {
                "path": _v(fs.path),
                "device": _v(fs.device),
                "mountpoint": _v(fs.mountpoint),
                "fstype": _v(fs.fstype),
            },
        )
    yield mounts
    yield from _categories(f, root)
    for measure, doc in (
        ("apparent", "file sizes (st_size of non-directories)"),
        ("allocated", "bytes on disk (st_blocks x 512, as du)"),
    ):
        g = _gauge(
            f"df_image_layers_{measure}_bytes",
            f"Image layer dirs by sharing, {doc}: shared, held by two or more of the images "
            "`docker images` lists; unique, the rest. Sums to df's image_layers.",
            ["root", "sharing"],
            "bytes",
        )
        for sharing, fp in (("shared", f.image_layers_shared), ("unique", f.image_layers_unique)):
            g.add_metric([root, sharing], getattr(fp, measure))
        yield g
    yield _single("orphans", "Layer dirs no record of the store references.", root, f.orphans)
    yield _single(
        "orphan_bytes",
        "Bytes in the orphans' content dirs, as the engine counts a layer (the total of "
        "`overlayscope orphans`).",
        root,
        f.orphan_bytes,
        "bytes",
    )
    problems = _gauge(
        "problems",
        "Problems in the store's records, by kind (what `overlayscope check` lists).",
        ["root", "kind"],
    )
    for kind in sorted({str(k) for k in ProblemKind} | set(f.problems)):
        problems.add_metric([root, _v(kind)], f.problems.get(kind, 0))
    yield problems
    states = _gauge("containers", "Containers, by the engine's state.", ["root", "state"])
    for state, n in sorted(f.container_states.items()):
        states.add_metric([root, _v(state)], n)
    yield states
    yield _single(
        "images", "Images `docker images` lists (intermediate ones left out).", root, len(f.images)
    )


def _categories(f: Figures, root: str) -> Iterator[Metric]:
    rows: list[tuple[str, str, str, Callable[[CategoryFigures], int]]] = [
        ("apparent_bytes", "file sizes (st_size of non-directories)", "bytes",
         lambda c: c.apparent),
        ("allocated_bytes", "bytes on disk (st_blocks x 512, as du; hard links once)",
         "bytes", lambda c: c.allocated),
        ("reclaimable_bytes", "allocated bytes the engine's prune commands or garbage "
         "collection would free", "bytes", lambda c: c.reclaimable),
        ("items", "what the category holds: layers, containers with logs, volumes, "
         "blobs, buckets", "", lambda c: c.count),
    ]  # fmt: skip
    for name, doc, unit, value in rows:
        g = _gauge(f"df_{name}", f"The root by df's category: {doc}.", ["root", "category"], unit)
        for c in f.categories:
            g.add_metric([root, c.name], value(c))
        yield g


def _single(name: str, doc: str, root: str, value: float, unit: str = "") -> Metric:
    g = _gauge(name, doc, ["root"], unit)
    g.add_metric([root], value)
    return g


def _split(
    items: Sequence[_T], key: Callable[[_T], tuple[object, ...]], top: int
) -> tuple[list[_T], list[_T]]:
    ranked = sorted(items, key=key)
    return ranked[: max(top, 0)], ranked[max(top, 0) :]


def _containers(f: Figures, root: str, top: int) -> Iterator[Metric]:
    shown, rest = _split(
        f.containers, lambda c: (-c.disk_bytes, -(c.writable_bytes or 0), c.name, c.id), top
    )
    series: list[tuple[str, str, Callable[[ContainerFigures], int | None]]] = [
        ("writable", "Bytes in the container's writable layer, as the engine counts them "
         "(docker/podman inspect --size SizeRw; = `containers --json` size).",
         lambda c: c.writable_bytes),
        ("log", "Bytes on disk of the container's log files (Docker's json-file and local "
         "logs, Podman's ctr.log).", lambda c: c.log_bytes),
    ]  # fmt: skip
    if f.copy_ups:
        series += [
            ("copy_up", "Bytes of files the container's writable layer holds as copies of "
             "files beneath it (overlayfs copy-ups).", lambda c: c.copy_up_bytes),
            ("metadata_only_copy_up", "Bytes of copy-ups whose content equals the file "
             "beneath: copied whole for a chmod, chown or touch.",
             lambda c: c.metadata_only_copy_up_bytes),
        ]  # fmt: skip
    for name, doc, value in series:
        g = _gauge(f"container_{name}_bytes", doc, CONTAINER_LABELS, "bytes")
        for c in shown:
            v = value(c)
            if v is not None:
                g.add_metric(_container_labels(root, c), v)
        g.add_metric([root, OTHER, OTHER, "", "", "", "", "", ""], _total(rest, value))
        yield g


def _container_labels(root: str, c: ContainerFigures) -> list[str]:
    return [
        root,
        _v(c.id),
        _v(c.name),
        _v(c.image),
        c.store,
        _v(c.namespace),
        _v(c.pod),
        _v(c.pod_namespace),
        _v(c.container),
    ]


def _images(f: Figures, root: str, top: int) -> Iterator[Metric]:
    shown, rest = _split(
        f.images, lambda i: (-(i.unique_bytes or 0), -(i.size or 0), i.name, i.id), top
    )
    rows: list[tuple[str, str, Callable[[ImageFigures], int | None]]] = [
        ("unique", "Bytes of the image's layers no other listed image holds (docker system "
         "df -v UniqueSize).", lambda i: i.unique_bytes),
        ("shared", "Bytes of the image's layers another listed image holds too (docker "
         "system df -v SharedSize).", lambda i: i.shared_bytes),
    ]  # fmt: skip
    for name, doc, value in rows:
        g = _gauge(f"image_{name}_bytes", doc, IMAGE_LABELS, "bytes")
        for i in shown:
            v = value(i)
            if v is not None:
                g.add_metric(_image_labels(root, i), v)
        g.add_metric([root, OTHER, OTHER, "", ""], _total(rest, value))
        yield g


def _image_labels(root: str, i: ImageFigures) -> list[str]:
    return [root, _v(i.id), _v(i.name), i.store, _v(i.namespace)]


def _total(items: Iterable[_T], value: Callable[[_T], int | None]) -> int:
    return sum(v for item in items if (v := value(item)) is not None)
