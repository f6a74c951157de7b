"""Forensic audit of a data root: findings, hashes and a timeline, read-only.

`audit(host)` looks at every container's writable (and init) layer, and with
`images=True` every image layer, entry by entry against what lies beneath,
and returns an `AuditReport` of `Finding`s sorted by `Severity`
(docs/audit.md has the kinds and the rules). `timeline(...)` lists every
entry of chosen layers with its lstat times, for a Sleuth Kit bodyfile
(`bodyfile_line`) or CSV. Nothing here prints, mounts, or writes: reads go
through the scanner and `overlayscope.union.open_in_layer`.
"""

from __future__ import annotations

from overlayscope.audit.findings import (
    AuditProblem,
    Finding,
    FindingKind,
    Severity,
)
from overlayscope.audit.ioc import IocError, IocList, load_iocs, parse_iocs
from overlayscope.audit.progress import AuditProgress
from overlayscope.audit.run import AuditedLayer, AuditOptions, AuditReport, FileHash, audit
from overlayscope.audit.timeline import TimelineEntry, TimelineLayer, timeline, timeline_layers

__all__ = [
    "AuditOptions",
    "AuditProblem",
    "AuditProgress",
    "AuditReport",
    "AuditedLayer",
    "FileHash",
    "Finding",
    "FindingKind",
    "IocError",
    "IocList",
    "Severity",
    "TimelineEntry",
    "TimelineLayer",
    "audit",
    "load_iocs",
    "parse_iocs",
    "timeline",
    "timeline_layers",
]
