"""Forensic commands: `audit` (findings, hashes, IOC matches) and `timeline` (bodyfile, CSV)."""

from __future__ import annotations

import argparse
import csv
import errno
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
from overlayscope.audit.findings import GROUP_AT, FindingGroup, finding_groups, fold_findings
from overlayscope.audit.hashing import DEFAULT_MAX_HOLE_BYTES, NOT_HASHED
from overlayscope.audit.timeline import TimelineEntry, timeline, timeline_layers
from overlayscope.audit.times import iso_ns, parse_rfc3339_ns
from overlayscope.cli import shapes
from overlayscope.cli.ansi import write_line
from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import warning_lines
from overlayscope.cli.output import stderr_console
from overlayscope.cli.plain import short, write_json
from overlayscope.cli.progress import delayed_bar
from overlayscope.cli.text_table import Cell, Styled, cell, table, write_table
from overlayscope.errors import ExitCode
from overlayscope.names import plural, printable
from overlayscope.root.model import Host
from overlayscope.root.refs import resolve
from overlayscope.scan.cache import set_enabled as set_cache_enabled
from overlayscope.usage.ci import parse_bytes
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
    _hole_bound(a)
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
        "--ungrouped",
        action="store_true",
        help=f"one row per finding (by default more than {GROUP_AT} alike in one layer are one "
        "row with a count and examples; --json always has every finding)",
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
    _hole_bound(t)
    t.add_argument("--csv", action="store_true", help="CSV with nanosecond times instead")
    t.set_defaults(func=cmd_timeline)


def _hole_bound(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hash-max-holes",
        metavar="SIZE",
        type=_byte_count,
        default=DEFAULT_MAX_HOLE_BYTES,
        help="leave unhashed (a not-hashed problem) a sparse file with more than SIZE bytes of "
        "holes, which SHA-256 must still process as zeros (default 16GiB; 'off': no bound)",
    )


def _byte_count(text: str) -> int | None:
    try:
        return parse_bytes(text, "--hash-max-holes")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        images=args.images,
        hash=args.hash,
        iocs=iocs,
        reference_ns=args.reference_time,
        max_hole_bytes=args.hash_max_holes,
    )
    with progress_bar() as progress:
        report = audit(host, options, progress=progress)
    shown = report.at_least(Severity(args.min_severity))
    if ctx.json:
        write_json(audit_json(host, report, shown))
    else:
        _print_audit(ctx, host, report, shown, ungrouped=args.ungrouped)
    unread = [p for p in report.problems if p.unread]
    if not ctx.json:
        warning_lines(
            [
                f"overlayscope: warning: cannot read {printable(p.path)} "
                f"({printable(p.detail)}): findings at or beneath it are unknown"
                for p in unread
            ],
            style="",
        )
    if args.fail_on and report.at_least(Severity(args.fail_on)):
        return ExitCode.FINDINGS
    # What it could not read may hold findings: a gate never passes on partial evidence.
    return ExitCode.INCOMPLETE if unread else ExitCode.OK


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
        # every finding again, counted by (kind, severity, layer) with a few example paths
        "groups": [group_json(g) for g in finding_groups(findings)],
        "hashes": [
            {
                "container": h.container,
                "image": h.image,
                "layer": h.layer,
                "role": h.role,
                "path": h.path,
                "change": h.change,
                "copy_up": h.copy_up,
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


def group_json(g: FindingGroup) -> dict[str, Any]:
    return {
        "kind": str(g.kind),
        "severity": str(g.severity),
        "container": g.container,
        "image": g.image,
        "layer": g.layer,
        "role": g.role,
        "count": g.count,
        "examples": list(g.examples),
        "detail": g.detail,
    }


def problem_json(p: AuditProblem) -> dict[str, Any]:
    return {"kind": p.kind, "path": p.path, "detail": p.detail}


def _print_audit(
    ctx: Context, host: Host, report: AuditReport, shown: list[Finding], *, ungrouped: bool
) -> None:
    names = {c.id: c.name for c in host.containers.values()}
    tags = {i.id: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    roles = Counter(a.role for a in report.audited)
    write_line(
        f"Audit of {printable(host.root)}: {plural(roles['rw'], 'container layer')}, "
        f"{plural(roles['init'], 'init layer')}, {plural(roles['image'], 'image layer')}; "
        f"reference time {iso_ns(report.reference_ns)}"
    )
    if shown:
        rows: list[tuple[Cell, ...]] = []
        # Many findings alike (one kind in one layer) are one row: a count and examples.
        for f in fold_findings(shown, at=len(shown) if ungrouped else GROUP_AT):
            owner = names.get(f.container, short(f.container)) if f.container else None
            where = f"{owner} ({f.role})" if owner else tags.get(f.image or "", short(f.image))
            if isinstance(f, FindingGroup):
                listed = ", ".join(printable(p) for p in f.examples)
                path: Cell = f"{f.count:,} paths, e.g. {listed}, …"
                detail = f"{f.detail} (the first of {f.count:,} alike; all in --json)"
            else:
                path, detail = cell(f.path), f.detail
            rows.append(
                (
                    Styled(str(f.severity), _STYLE[str(f.severity)]),
                    str(f.kind),
                    cell(where),
                    short(f.layer),
                    path,
                )
            )
            # The detail goes under the path, the one column that folds to fit.
            rows.append(("", "", "", "", _detail(detail)))
        write_table(
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
    line = f"{plural(len(report.findings), 'finding')}: {summary}"
    if hidden:
        line += f" ({hidden} below --min-severity not shown)"
    write_line()
    write_line(line + ".")
    if report.hashed:
        write_line(f"{plural(len(report.hashes), 'file')} hashed; the digests are in --json.")
        unhashed = sum(1 for p in report.problems if p.kind == NOT_HASHED)
        if unhashed:
            write_line(
                f"{plural(unhashed, 'sparse file')} not hashed: more holes than "
                "--hash-max-holes (each is a not-hashed problem in --json).",
                "yellow",
                wrap=True,
            )
    problems = len(host.problems) + sum(1 for p in report.problems if p.kind != NOT_HASHED)
    if problems:
        write_line(
            f"{plural(problems, 'problem')} reading the root; see `overlayscope check` and --json.",
            wrap=True,
        )


def _detail(text: str) -> Styled:
    # Details already show evidence escaped; escape again only what slipped through.
    return Styled(text, "dim") if text.isprintable() else cell(text, "dim")


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
        entries = timeline(
            layers,
            hash=args.hash,
            problems=problems,
            progress=progress,
            max_hole_bytes=args.hash_max_holes,
        )
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
                f"overlayscope: warning: {p.kind}: {printable(p.path)}: {printable(p.detail)}",
                markup=False,
            )
    # Entries it could not read are missing from the timeline: exit 4 (docs/cli.md). What
    # vanished while it read (a live container) was simply no longer there.
    if any(p.kind == "unreadable" and p.detail not in _VANISHED for p in problems):
        return ExitCode.INCOMPLETE
    return ExitCode.OK


# The walk (audit/walk.py) records the system's words for what it could not read: these
# say the entry was deleted or replaced while it looked (scan/problems.py's `vanished`).
_VANISHED = frozenset(
    [os.strerror(code) for code in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ESTALE)]
    + ["replaced while walking; not followed"]
)


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
        yield lambda p: bar.update(
            p.phase,
            labels.get(p.phase, p.phase),
            p.done,
            p.total,
            f"layers, {plural(p.entries, 'entry', 'entries')}" if p.entries else "",
        )
