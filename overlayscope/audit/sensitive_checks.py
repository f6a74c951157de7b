"""Changes to sensitive files, judged by class, by what changed, and by what the lines say."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from overlayscope.audit.findings import FindingKind, Severity
from overlayscope.audit.sensitive import SensitiveClass, classify, content_alerts
from overlayscope.names import plural, printable
from overlayscope.scan import Entry, Kind
from overlayscope.union.provenance import StackHit

if TYPE_CHECKING:
    from overlayscope.audit.checks import LayerAuditor

MAX_CONTENT = 1 << 20  # account files past 1 MiB are read in part (the lines that fit)


class SensitiveChecks:
    """`sensitive-modified` findings for files and symlinks at sensitive paths."""

    def __init__(self, auditor: LayerAuditor) -> None:
        self.auditor = auditor

    def check(self, entry: Entry, hit: StackHit | None) -> None:
        cls = classify(entry.path)
        if cls is None:
            return
        beneath = hit.entry if hit is not None else None
        if entry.kind is Kind.SYMLINK:
            if (
                beneath is not None
                and beneath.kind is Kind.SYMLINK
                and beneath.target == entry.target
            ):
                return
            verb = "added" if beneath is None else f"replaced {beneath.kind.phrase}"
            self._report(
                cls,
                cls.changed,
                entry.path,
                f"{verb} as a symlink to '{printable(entry.target or '')}'",
            )
            return
        if beneath is None:
            self._content(cls, cls.added, entry, None, "added here")
        elif beneath.kind is not Kind.FILE:
            instead = f"added here in place of {beneath.kind.phrase}"
            self._content(cls, cls.changed, entry, None, instead)
        elif hit is not None and self.auditor.content_changed(entry, hit):
            self._content(cls, cls.changed, entry, hit, "changed here")
        else:
            self._metadata(cls, entry, beneath)

    def _content(
        self,
        cls: SensitiveClass,
        severity: Severity,
        entry: Entry,
        hit: StackHit | None,
        verb: str,
    ) -> None:
        auditor = self.auditor
        detail = f"{verb} ({plural(entry.size, 'byte')})"
        if cls.name in ("account", "sudo"):
            new = auditor.read(auditor.top.content_dir, entry.path, MAX_CONTENT)
            old = None
            if hit is not None:
                old = auditor.read(
                    auditor.below.layers[hit.position].content_dir, hit.entry.path, MAX_CONTENT
                )
            alerts = content_alerts(entry.path, old, new) if new is not None else []
            if alerts:
                severity = Severity.HIGH
                detail += ": " + "; ".join(printable(a) for a in alerts[:5])
                if len(alerts) > 5:
                    detail += f"; and {len(alerts) - 5} more"
        self._report(cls, severity, entry.path, detail)

    def _metadata(self, cls: SensitiveClass, entry: Entry, old: Entry) -> None:
        """Same bytes as beneath: only a mode or owner change is worth a word."""
        if (entry.mode, entry.uid, entry.gid) == (old.mode, old.uid, old.gid):
            return
        severity = Severity.LOW
        why = (
            f"mode {stat.filemode(old.mode)} → {stat.filemode(entry.mode)}, "
            f"owner {old.uid}:{old.gid} → {entry.uid}:{entry.gid}, content unchanged"
        )
        secret = entry.path.rstrip("-").endswith(("shadow", "sudoers")) or cls.name == "ssh-keys"
        if entry.mode & stat.S_IWOTH or (secret and entry.mode & stat.S_IROTH):
            severity = Severity.HIGH
            why += "; now world-" + ("writable" if entry.mode & stat.S_IWOTH else "readable")
        self._report(cls, severity, entry.path, why)

    def _report(self, cls: SensitiveClass, severity: Severity, path: str, detail: str) -> None:
        self.auditor.add(FindingKind.SENSITIVE_MODIFIED, severity, path, f"{cls.what}: {detail}")
