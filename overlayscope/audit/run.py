"""`audit(host)`: every container's writable layers (and image layers) judged, one report."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from overlayscope.audit.checks import LayerAuditor
from overlayscope.audit.findings import AuditProblem, Finding, FindingKind, Severity, sort_key
from overlayscope.audit.hashing import DEFAULT_MAX_HOLE_BYTES, hash_files
from overlayscope.audit.ioc import IocList
from overlayscope.audit.progress import ProgressCallback, Reporter, check_cancel
from overlayscope.audit.targets import AuditTarget, plan, scan_for, stack_of
from overlayscope.record import record, replace
from overlayscope.root.model import Host, Role
from overlayscope.scan import LayerIndex
from overlayscope.usage.sizes import engine_size


@record
class AuditOptions:
    """What to audit and how.

    `images` audits every image layer too; `hash` hashes every regular file
    of the audited layers (implied when `iocs` holds hashes); `reference_ns`
    is "now" for `future-mtime` (default: when the audit starts), e.g. the
    time the evidence was acquired; `max_hole_bytes` bounds the bytes of holes
    (zeros never read, but fed to SHA-256) a sparse file may have to be hashed
    (None: no bound); past it the file is a `not-hashed` problem.
    """

    images: bool = False
    hash: bool = False
    iocs: IocList | None = None
    reference_ns: int | None = None
    scan_workers: int | None = None
    hash_workers: int | None = None
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES


@record
class AuditedLayer:
    layer: str
    role: str
    container: str | None
    image: str | None
    entries: int


@record
class FileHash:
    """The SHA-256 of one regular file an audited layer holds."""

    layer: str
    role: str
    container: str | None
    image: str | None
    path: str
    change: str  # "added" (nothing beneath) or "changed" (copied up or replaced)
    size: int
    sha256: str
    copy_up: bool = False  # a copy-up as `union/copyup.py` classifies it (docs/union.md)


@record
class AuditReport:
    root: str
    reference_ns: int
    images: bool  # image layers were audited
    hashed: bool
    audited: tuple[AuditedLayer, ...]
    findings: tuple[Finding, ...]  # most severe first
    hashes: tuple[FileHash, ...]
    problems: tuple[AuditProblem, ...]  # the audit's own; the host's are in host.problems
    sizes: Mapping[str, int | None]  # every overlay2 dir: bytes, as the `layers` command counts

    def at_least(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity.at_least(severity)]


def audit(
    host: Host,
    options: AuditOptions | None = None,
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Audit the host's containers (and images): findings, optional hashes, problems.

    Reads only: layers are scanned with the read-only scanner and files are
    opened through `open_in_layer` (no symlink followed, O_NOATIME where the
    kernel allows). Raises `Cancelled` when `cancel` is set.
    """
    options = options or AuditOptions()
    reference = options.reference_ns if options.reference_ns is not None else time.time_ns()
    report = Reporter(progress)
    targets, problems = plan(host, images=options.images)
    orphans = [layer.id for layer in host.orphans + host.unresolved]  # unnamed dirs: sized
    indexes = scan_for(
        host, targets, orphans, cancel=cancel, progress=progress, workers=options.scan_workers
    )
    findings: list[Finding] = []
    audited: list[AuditedLayer] = []
    to_hash: list[tuple[str, str, int]] = []  # (content_dir, path, target number)
    changes: dict[tuple[int, str], tuple[str, bool]] = {}
    checked = 0  # entries checked in the layers before this one
    for number, target in enumerate(targets):
        check_cancel(cancel)
        report("check", number, len(targets), target.layer_id, checked)

        def tick(
            count: int, number: int = number, target: AuditTarget = target, before: int = checked
        ) -> None:
            report("check", number, len(targets), target.layer_id, before + count)

        top, below = stack_of(host, target, indexes)
        result = LayerAuditor(
            target,
            top,
            below,
            reference_ns=reference,
            iocs=options.iocs,
            cancel=cancel,
            tick=tick,
        ).run()
        checked += len(top.index)
        findings += result.findings
        problems += result.problems
        container = target.container.id if target.container is not None else None
        audited.append(
            AuditedLayer(target.layer_id, target.role, container, target.image_id, len(top.index))
        )
        for path, change, copy_up in result.files:
            to_hash.append((top.content_dir, path, number))
            changes[(number, path)] = (change, copy_up)
    report("check", len(targets), len(targets), "", checked)
    hashes: list[FileHash] = []
    want_hash = options.hash or (options.iocs is not None and bool(options.iocs.hashes))
    if want_hash:
        digests, failures = hash_files(
            [(d, p) for d, p, _ in to_hash],
            workers=options.hash_workers,
            cancel=cancel,
            report=report,
            max_hole_bytes=options.max_hole_bytes,
        )
        problems += [
            AuditProblem(f.kind, f.content_dir + f.path, f.detail, unread=f.unread)
            for f in failures
        ]
        for content_dir, path, number in to_hash:
            digest = digests.get((content_dir, path))
            if digest is None:
                continue
            t = targets[number]
            container = t.container.id if t.container is not None else None
            hashes.append(
                FileHash(
                    t.layer_id,
                    t.role,
                    container,
                    t.image_id,
                    path,
                    changes[(number, path)][0],
                    digest.size,
                    digest.sha256,
                    copy_up=changes[(number, path)][1],
                )
            )
        findings = _with_hashes(findings, hashes, options.iocs)
    check_cancel(cancel)  # a cancel that came as the last file finished still counts
    findings.sort(key=sort_key)
    return AuditReport(
        root=host.root,
        reference_ns=reference,
        images=options.images,
        hashed=want_hash,
        audited=tuple(audited),
        findings=tuple(findings),
        hashes=tuple(hashes),
        problems=tuple(problems),
        sizes=_sizes(host, indexes),
    )


def _with_hashes(
    findings: list[Finding], hashes: list[FileHash], iocs: IocList | None
) -> list[Finding]:
    """Hash IOC matches, and each finding about a hashed file given its sha256."""
    by_file = {(h.layer, h.path): h for h in hashes}
    out = [
        replace(f, sha256=by_file[(f.layer, f.path)].sha256) if (f.layer, f.path) in by_file else f
        for f in findings
    ]
    if iocs is not None and iocs.hashes:
        for h in hashes:
            if iocs.match_hash(h.sha256):
                out.append(
                    Finding(
                        FindingKind.IOC_MATCH,
                        Severity.HIGH,
                        h.path,
                        f"content sha256 {h.sha256} is an indicator from {iocs.source}",
                        h.layer,
                        h.role,
                        h.container,
                        h.image,
                        h.sha256,
                    )
                )
    return out


def _sizes(host: Host, indexes: Mapping[str, LayerIndex]) -> dict[str, int | None]:
    """Bytes per layer as the `layers` command counts them (docs/json.md)."""
    sizes: dict[str, int | None] = {}
    for lid, layer in host.layers.items():
        if not layer.has_content:
            sizes[lid] = 0
        elif layer.role is Role.IMAGE and layer.recorded_size is not None:
            sizes[lid] = layer.recorded_size
        elif lid in indexes:
            sizes[lid] = engine_size(host, indexes[lid])
        else:
            sizes[lid] = None
    return sizes
