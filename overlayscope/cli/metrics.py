"""`metrics` (the host's figures in Prometheus exposition, or a node_exporter textfile) and
`serve` (an exporter answering /metrics from the last background scan).

prometheus_client and `overlayscope.metrics` load only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from overlayscope.cli.context import Context
from overlayscope.errors import ExitCode, OverlayscopeError
from overlayscope.root.locate import DEFAULT_ROOT

if TYPE_CHECKING:
    from overlayscope.metrics.figures import Figures

DEFAULT_LISTEN = "127.0.0.1:9861"
DEFAULT_INTERVAL = 300.0  # seconds
DEFAULT_TOP = 50  # containers and images with series of their own
CAP_SYS_ADMIN = 21
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def register(sub: Any) -> None:
    """Add `metrics` and `serve` to the argparse sub-parsers."""
    m: argparse.ArgumentParser = sub.add_parser(
        "metrics",
        help="the host's figures in Prometheus text exposition (or OpenMetrics), or written "
        "atomically for node_exporter's textfile collector",
    )
    m.add_argument(
        "--openmetrics", action="store_true", help="OpenMetrics text instead of Prometheus'"
    )
    m.add_argument(
        "--textfile",
        metavar="DIR",
        help="write DIR/overlayscope.prom atomically (temp file + rename) instead of stdout",
    )
    m.add_argument(
        "--textfile-name",
        metavar="NAME",
        default="overlayscope.prom",
        type=_prom_name,
        help="the file's name in DIR, for a host publishing several roots "
        "(default overlayscope.prom)",
    )
    _common(m)
    m.set_defaults(func=cmd_metrics, _parser=m)

    s: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="a Prometheus exporter: /metrics from the last completed scan, refreshed in the "
        "background at low I/O priority; /healthz",
    )
    s.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        type=parse_listen,
        default=parse_listen(DEFAULT_LISTEN),
        help=f"where to listen (default {DEFAULT_LISTEN}, loopback only; ':9861' or "
        "'0.0.0.0:9861' for every interface, '[::1]:9861' for IPv6)",
    )
    s.add_argument(
        "--interval",
        metavar="DURATION",
        type=parse_duration,
        default=DEFAULT_INTERVAL,
        help="pause between the end of a scan and the next: 300, 90s, 5m, 1h (default 5m); "
        "SIGHUP starts one at once",
    )
    _common(s)
    s.set_defaults(func=cmd_serve, _parser=s)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--top",
        type=_count,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"a series of their own for the N largest containers and N largest images; the "
        f"rest summed into one series labelled 'other' (default {DEFAULT_TOP})",
    )
    p.add_argument(
        "--no-copy-ups",
        action="store_true",
        help="leave out the copy-up series (they read every container's layers once more, "
        "and need CAP_SYS_ADMIN to see a rootful store's trusted.overlay.* xattrs)",
    )


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _prom_name(value: str) -> str:
    if "/" in value or not value.endswith(".prom") or value.startswith("."):
        raise argparse.ArgumentTypeError("a file name ending in .prom (the collector reads those)")
    return value


def parse_listen(value: str) -> tuple[str, int]:
    """`ADDR:PORT`, `[IPv6]:PORT`, or `:PORT` (every interface) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"not ADDR:PORT: {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"write an IPv6 address in brackets: {value!r}")
    return host or "0.0.0.0", int(port)


def parse_duration(value: str) -> float:
    """Seconds from `300`, `90s`, `5m`, `1.5h`."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if found is None or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration (300, 90s, 5m, 1h): {value!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


# -- metrics --------------------------------------------------------------------


def cmd_metrics(ctx: Context) -> int:
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    from overlayscope.cli.progress import scan_progress
    from overlayscope.metrics.families import FiguresCollector, ScanStatus
    from overlayscope.metrics.figures import measure
    from overlayscope.metrics.priority import at_low_priority
    from overlayscope.metrics.textfile import write_textfile

    args = ctx.args
    _no_json(ctx)
    if args.textfile and args.openmetrics:
        args._parser.error("node_exporter's textfile collector reads the Prometheus text format")
    copy_ups = not args.no_copy_ups
    _note_copy_ups(copy_ups)

    def output(figures: Figures | None, status: ScanStatus) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FiguresCollector(figures, status, top=args.top))
        if args.textfile:
            try:
                write_textfile(args.textfile, args.textfile_name, generate_latest(registry))
            except OSError as exc:
                raise OverlayscopeError(
                    f"cannot write {os.path.join(args.textfile, args.textfile_name)}: "
                    f"{exc.strerror or exc}",
                    hint="--textfile names node_exporter's --collector.textfile.directory, "
                    "which must exist and be writable",
                ) from None
        elif args.openmetrics:
            openmetrics = cast("Callable[[CollectorRegistry], bytes]", generate_openmetrics)
            sys.stdout.buffer.write(openmetrics(registry))
        else:
            sys.stdout.buffer.write(generate_latest(registry))
        sys.stdout.flush()

    try:
        with scan_progress("measuring the data root") as progress:
            # a periodic job: the host's own work comes first
            figures = at_low_priority(
                lambda: measure(ctx.host, copy_ups=copy_ups, progress=progress)
            )
    except Exception as exc:
        if args.textfile:
            # node_exporter keeps publishing the file: make it say the scan failed
            from overlayscope.metrics.exporter import describe

            with contextlib.suppress(OverlayscopeError):  # the scan's error is the news
                output(None, ScanStatus(_root_label(ctx), failed=True, error=describe(exc)))
        raise
    output(figures, ScanStatus(figures.root))
    return ExitCode.OK


def _no_json(ctx: Context) -> None:
    if ctx.json:
        ctx.args._parser.error(f"{ctx.args.command} speaks Prometheus' formats, not --json")


def _root_label(ctx: Context) -> str:
    """The root a failed scan is labelled with: the one asked for, else the default."""
    root = ctx.args.root or DEFAULT_ROOT
    with contextlib.suppress(OverlayscopeError, OSError):
        root = ctx.location().root
    return os.path.abspath(root)


def _note_copy_ups(copy_ups: bool) -> None:
    """Copy-ups renamed after the copy are known by their trusted.overlay.origin xattr,
    which the kernel shows only to CAP_SYS_ADMIN: say so once, on stderr."""
    if copy_ups and not _has_capability(CAP_SYS_ADMIN):
        sys.stderr.write(
            "overlayscope: note: without CAP_SYS_ADMIN the kernel hides trusted.overlay.* "
            "xattrs: on a rootful store, copy-ups renamed or linked after the copy count as "
            "additions (--no-copy-ups leaves the copy-up series out)\n"
        )


def _has_capability(cap: int) -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


# -- serve ----------------------------------------------------------------------


def cmd_serve(ctx: Context) -> int:
    from overlayscope.metrics.exporter import Exporter, log_to_stderr
    from overlayscope.metrics.figures import measure
    from overlayscope.metrics.server import MetricsServer
    from overlayscope.scan.cache import set_read_only_mounts

    args = ctx.args
    _no_json(ctx)
    copy_ups = not args.no_copy_ups
    _note_copy_ups(copy_ups)
    # A live root, mounted read-only into the exporter: its layers' identities are the host
    # filesystem's for as long as it runs, so rescans may reuse the cached image layers.
    set_read_only_mounts(True)

    def scan(cancel: threading.Event) -> Figures:
        # a fresh Context: the records are read again, with whatever changed since
        return measure(Context(args).host, copy_ups=copy_ups, cancel=cancel)

    exporter = Exporter(scan, root=_root_label(ctx), interval=args.interval, top=args.top)
    host, port = args.listen
    try:
        server = MetricsServer((host, port), exporter)
    except OSError as exc:
        raise OverlayscopeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --listen ADDR:PORT",
        ) from None
    log_to_stderr(f"serving {server.url}/metrics, scanning every {args.interval:g} s")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    signal.signal(signal.SIGHUP, lambda *_: exporter.rescan())
    exporter.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        exporter.stop()
        server.server_close()
    return ExitCode.OK
