"""Forensic commands: `audit` (findings, hashes, IOC matches) and `timeline` (bodyfile, CSV)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.text import Text

from overlayscope.audit import (
    AuditOptions,
    AuditProblem,
    AuditProgress,
    AuditReport,
    Finding,
    Severity,
    audit,
    load_iocs,
)
from overlayscope.audit.bodyfile import CSV_HEADER, bodyfile_line, csv_row
from overlayscope.audit.timeline import TimelineEntry, timeline, timeline_layers
from overlayscope.audit.times import iso_ns, parse_rfc3339_ns
from overlayscope.cli import shapes
from overlayscope.cli.context import Context
from overlayscope.cli.output import safe, short, stderr_console, stdout_console, table, write_json
from overlayscope.cli.progress import delayed_bar
from overlayscope.errors import ExitCode
from overlayscope.names import printable
from overlayscope.root.model import Host
from overlayscope.root.refs import resolve
from overlayscope.scan.cache import set_enabled as set_cache_enabled
from overlayscope.usage.images import image_sizes

SEVERITIES = [str(s) for s in Severity]
_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def register(sub: Any) -> None:
    """Add `audit` and `timeline` to the argparse sub-parsers."""
    a: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="forensic findings in every container's writable layer (read-only); see docs/audit.md",
    )
    a.add_argument("--images", action="store_true", help="audit every image layer too")
    a.add_argument(
        "--hash", action="store_true", help="SHA-256 of every file the audited layers hold"
    )
    a.add_argument(
        "--ioc",
        metavar="FILE",
        help="indicators to match: SHA-256 hashes and paths or globs, one a line (# comments)",
    )
    a.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        choices=SEVERITIES,
        help="exit 1 when a finding at or above SEVERITY (info, low, medium, high) exists",
    )
    a.add_argument(
        "--min-severity",
        metavar="SEVERITY",
        choices=SEVERITIES,
        default="info",
        help="leave findings below SEVERITY out of the output (default: info, i.e. all)",
    )
    a.add_argument(
        "--reference-time",
        metavar="TIME",
        type=_rfc3339,
        help="'now' for future mtimes, RFC 3339 (e.g. when the evidence was acquired); "
        "default: when the audit starts",
    )
    a.set_defaults(func=cmd_audit)
    t: argparse.ArgumentParser = sub.add_parser(
        "timeline",
        help="Sleuth Kit bodyfile (mactime, plaso) of a container's layers; or --csv",
    )
    t.add_argument("ref", nargs="?", metavar="REF", help="a container or an image")
    t.add_argument("--all", action="store_true", help="every container's rw and init layers")
    t.add_argument("--images", action="store_true", help="image layers too")
    t.add_argument("--hash", action="store_true", help="MD5 and SHA-256 of every regular file")
    t.add_argument("--csv", action="store_true", help="CSV with nanosecond times instead")
    t.set_defaults(func=cmd_timeline)


# -- audit ---------------------------------------------------------------------------


def _rfc3339(text: str) -> int:
    ns = parse_rfc3339_ns(text)
    if ns is None:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r} (2026-01-31T12:00:00Z)")
    return ns


def cmd_audit(ctx: Context) -> int:
    args = ctx.args
    # Evidence may have been altered after a cached scan: a forensic run reads it itself.
    set_cache_enabled(False)
    iocs = load_iocs(args.ioc) if args.ioc else None
    host = ctx.host()
    options = AuditOptions(
        images=args.images, hash=args.hash, iocs=iocs, reference_ns=args.reference_time
    )
    with progress_bar() as progress:
        report = audit(host, options, progress=progress)
    shown = report.at_least(Severity(args.min_severity))
    if ctx.json:
        write_json(audit_json(host, report, shown))
    else:
        _print_audit(ctx, host, report, shown)
    if args.fail_on and report.at_least(Severity(args.fail_on)):
        return ExitCode.FINDINGS
    return ExitCode.OK


def audit_json(host: Host, report: AuditReport, findings: list[Finding]) -> dict[str, Any]:
    """The `audit` JSON document (docs/json.md)."""
    sizes = report.sizes
    isizes = image_sizes(host)
    containers = sorted(host.containers.values(), key=lambda c: (c.name, c.id))
    images = sorted(host.images.values(), key=lambda i: (i.intermediate, not i.tags, i.tags, i.id))
    layers = sorted(host.layers.values(), key=lambda layer: (str(layer.role), layer.id))
    counts = Counter(str(f.severity) for f in report.findings)
    return {
        "root": host.root,
        "store": str(host.store),
        "reference_time": iso_ns(report.reference_ns),
        "images_audited": report.images,
        "hashed": report.hashed,
        "summary": {s: counts.get(s, 0) for s in reversed(SEVERITIES)},
        "containers": [
            shapes.container(c, sizes.get(c.layer) if c.layer else None) for c in containers
        ],
        "images": [shapes.image(host, i, isizes[i.key]) for i in images],
        "layers": [shapes.layer(host, layer, sizes.get(layer.id)) for layer in layers],
        "orphans": [
            shapes.orphan(o, sizes.get(o.id)) for o in sorted(host.orphans, key=lambda o: o.id)
        ],
        "unresolved": [
            shapes.orphan(o, sizes.get(o.id)) | {"why": o.unresolved}
            for o in sorted(host.unresolved, key=lambda o: o.id)
        ],
        "problems": [shapes.problem(p) for p in host.problems]
        + [problem_json(p) for p in report.problems],
        "audited": [
            {
                "layer": a.layer,
                "role": a.role,
                "container": a.container,
                "image": a.image,
                "entries": a.entries,
            }
            for a in report.audited
        ],
        "findings": [finding_json(f) for f in findings],
        "hashes": [
            {
                "container": h.container,
                "image": h.image,
                "layer": h.layer,
                "role": h.role,
                "path": h.path,
                "change": h.change,
                "size": h.size,
                "sha256": h.sha256,
            }
            for h in report.hashes
        ],
    }


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "kind": str(f.kind),
        "severity": str(f.severity),
        "container": f.container,
        "image": f.image,
        "layer": f.layer,
        "role": f.role,
        "path": f.path,
        "detail": f.detail,
        "sha256": f.sha256,
    }


def problem_json(p: AuditProblem) -> dict[str, Any]:
    return {"kind": p.kind, "path": p.path, "detail": p.detail}


def _print_audit(ctx: Context, host: Host, report: AuditReport, shown: list[Finding]) -> None:
    console = stdout_console()
    names = {c.id: c.name for c in host.containers.values()}
    tags = {i.id: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    roles = Counter(a.role for a in report.audited)
    console.print(
        Text(
            f"Audit of {printable(host.root)}: {roles['rw']} container layer(s), "
            f"{roles['init']} init layer(s), {roles['image']} image layer(s); "
            f"reference time {iso_ns(report.reference_ns)}"
        )
    )
    if shown:
        rows: list[tuple[Text | str, ...]] = []
        for f in shown:
            owner = names.get(f.container, short(f.container)) if f.container else None
            where = f"{owner} ({f.role})" if owner else tags.get(f.image or "", short(f.image))
            rows.append(
                (
                    Text(str(f.severity), style=_STYLE[str(f.severity)]),
                    str(f.kind),
                    safe(where),
                    short(f.layer),
                    safe(f.path),
                )
            )
            # The detail goes under the path, the one column that folds to fit.
            rows.append(("", "", "", "", _detail(f.detail)))
        console.print(
            table(
                None,
                ["severity", "kind", "container / image", "layer", "path"],
                rows,
                flexible=["container / image", "path"],
            )
        )
    counts = Counter(str(f.severity) for f in report.findings)
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in reversed(SEVERITIES))
    hidden = len(report.findings) - len(shown)
    line = f"\n{len(report.findings)} finding(s): {summary}"
    if hidden:
        line += f" ({hidden} below --min-severity not shown)"
    console.print(Text(line + "."))
    if report.hashed:
        console.print(Text(f"{len(report.hashes)} file(s) hashed; the digests are in --json."))
    problems = len(host.problems) + len(report.problems)
    if problems:
        console.print(
            Text(f"{problems} problem(s) reading the root; see `overlayscope check` and --json.")
        )


def _detail(text: str) -> Text:
    # Details already show evidence escaped; escape again only what slipped through.
    return Text(text, style="dim") if text.isprintable() else safe(text, "dim")


# -- timeline ------------------------------------------------------------------------


def cmd_timeline(ctx: Context) -> int:
    args = ctx.args
    set_cache_enabled(False)  # as for audit: never a cached view of the evidence
    if bool(args.ref) == bool(args.all):
        stderr_console().print(
            "overlayscope: error: timeline takes one container or image, or --all",
            markup=False,
            highlight=False,
        )
        return ExitCode.USAGE
    host = ctx.host()
    obj = resolve(host, args.ref) if args.ref else None
    layers = timeline_layers(host, obj, images=args.images)
    problems: list[AuditProblem] = []
    with progress_bar() as progress:
        entries = timeline(layers, hash=args.hash, problems=problems, progress=progress)
        if ctx.json:
            _timeline_json(layers_json(layers), entries, problems)
        elif args.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            for entry in entries:
                writer.writerow(csv_row(entry))
        else:
            for entry in entries:
                sys.stdout.write(bodyfile_line(entry) + "\n")
    if not ctx.json:
        err = stderr_console()
        for p in problems:
            err.print(
                Text(f"overlayscope: warning: {p.kind}: {printable(p.path)}: {printable(p.detail)}")
            )
    return ExitCode.OK


def layers_json(layers: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "layer": layer.layer_id,
            "role": layer.role,
            "container": layer.container,
            "name": layer.container_name,
        }
        for layer in layers
    ]


def timeline_entry_json(e: TimelineEntry) -> dict[str, Any]:
    return {
        "container": e.layer.container,
        "role": e.layer.role,
        "layer": e.layer.layer_id,
        "path": e.path,
        "type": e.type,
        "mode": e.mode,
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size,
        "inode": e.inode,
        "nlink": e.nlink,
        "atime_ns": e.atime_ns,
        "mtime_ns": e.mtime_ns,
        "ctime_ns": e.ctime_ns,
        "target": e.target,
        "md5": e.md5,
        "sha256": e.sha256,
    }


def _timeline_json(
    layers: list[dict[str, Any]], entries: Iterator[TimelineEntry], problems: list[AuditProblem]
) -> None:
    """Stream the document: a timeline may hold millions of entries."""
    out = sys.stdout
    out.write('{\n  "layers": ' + json.dumps(layers, ensure_ascii=True) + ',\n  "entries": [')
    first = True
    for entry in entries:
        out.write(("\n    " if first else ",\n    ") + _dumps(timeline_entry_json(entry)))
        first = False
    out.write(("\n  " if not first else "") + '],\n  "problems": ')
    out.write(json.dumps([problem_json(p) for p in problems], ensure_ascii=True) + "\n}\n")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


# -- progress --------------------------------------------------------------------------


@contextmanager
def progress_bar() -> Iterator[Callable[[AuditProgress], None]]:
    """A progress callback for the audit's phases; a delayed bar on stderr."""
    labels = {"scan": "scanning layers", "check": "checking", "hash": "hashing", "walk": "walking"}
    with delayed_bar() as bar:
        yield lambda p: bar.update(p.phase, labels.get(p.phase, p.phase), p.done, p.total)
