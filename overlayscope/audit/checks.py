"""The audit of one layer: every entry it holds, judged against what lies beneath it.

A layer is looked at entry by entry (its own `diff/` tree, not the merged
view): what it adds, what it changes of the version beneath, and what its
whiteouts and opaque dirs delete. Findings describe what *this* layer
introduced; a name or a setuid bit that came from beneath is the lower
layer's finding, reported when that layer is audited (`--images`).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator

from overlayscope.audit import paths
from overlayscope.audit.file_checks import FileChecks
from overlayscope.audit.findings import (
    AuditProblem,
    Finding,
    FindingKind,
    Severity,
    read_refused,
    severity_for_role,
)
from overlayscope.audit.ioc import IocList
from overlayscope.audit.names import name_issues
from overlayscope.audit.progress import CancelFlag, check_cancel
from overlayscope.audit.sensitive import classify
from overlayscope.audit.sensitive_checks import SensitiveChecks
from overlayscope.audit.targets import AuditTarget
from overlayscope.audit.times import iso_ns
from overlayscope.errors import OverlayscopeError
from overlayscope.names import printable
from overlayscope.record import field, record
from overlayscope.scan import Entry, Kind
from overlayscope.union import LayerStack, StackLayer, read_in_layer, same_content
from overlayscope.union.copyup import copy_up_kind
from overlayscope.union.provenance import StackHit

FUTURE_SLACK_NS = 5 * 60 * 1_000_000_000  # clock skew tolerated before "in the future"
MAX_SUBTREE = 50_000  # entries walked beneath a deleted dir, looking for sensitive files


@record(frozen=False, slots=False)
class LayerResult:
    findings: list[Finding] = field(default_factory=list)
    # regular files the layer holds, to hash: (path, "added" | "changed", copy-up or not)
    files: list[tuple[str, str, bool]] = field(default_factory=list)
    problems: list[AuditProblem] = field(default_factory=list)


class LayerAuditor:
    """Judge every entry of `top` against `below` (the layers beneath it)."""

    def __init__(
        self,
        target: AuditTarget,
        top: StackLayer,
        below: LayerStack,
        *,
        reference_ns: int,
        iocs: IocList | None = None,
        cancel: CancelFlag | None = None,
        tick: Callable[[int], None] | None = None,
    ) -> None:
        self.target = target
        self.tick = tick  # called with the entries checked so far, every TICK of them
        self.top = top
        self.below = below
        self.reference_ns = reference_ns
        self.iocs = iocs
        self.cancel = cancel
        self.result = LayerResult()
        self.sensitive = SensitiveChecks(self)
        self.files = FileChecks(self)

    # -- reporting -------------------------------------------------------------

    def add(self, kind: FindingKind, severity: Severity, path: str, detail: str) -> None:
        t = self.target
        severity = severity_for_role(kind, severity, t.role)
        container = t.container.id if t.container is not None else None
        self.result.findings.append(
            Finding(kind, severity, path, detail, t.layer_id, t.role, container, t.image_id)
        )

    def problem(self, path: str, exc: BaseException) -> None:
        where = self.top.content_dir + (path if path != "/" else "")
        self.result.problems.append(
            AuditProblem("unreadable", where, str(exc), unread=read_refused(exc))
        )

    # -- the walk --------------------------------------------------------------

    def run(self) -> LayerResult:
        index = self.top.index
        for problem in index.problems:
            self.result.problems.append(
                AuditProblem(
                    "unreadable",
                    self.top.content_dir + problem.path,
                    f"{problem.kind}: {problem.detail}",
                    unread=problem.kind != "vanished",
                )
            )
        for count, entry in enumerate(index):
            if count % 256 == 0:
                check_cancel(self.cancel)
                if self.tick is not None:
                    self.tick(count)  # progress within the layer, not only between layers
            if entry.path != "/":
                self.entry(entry)
        return self.result

    def entry(self, entry: Entry) -> None:
        hit = self.below.resolve(entry.path).winner
        beneath = hit.entry if hit is not None else None
        container = self.target.container
        runtime = container.runtime_files if container is not None else ()
        if entry.path in runtime and paths.runtime_stub(entry):
            return  # the engine's own mount point, as it writes one: not the container's
        if self.target.role == "init":
            if paths.init_stub(entry):
                return
            self.add(
                FindingKind.INIT_LAYER,
                Severity.MEDIUM,
                entry.path,
                f"{_what(entry)} in the init layer is not one of the empty stubs Docker writes "
                "there (/etc/hosts, /etc/resolv.conf, /etc/hostname, /.dockerenv, /dev/console, "
                "/etc/mtab): the layer was changed outside Docker",
            )
        self._iocs(entry)
        self._xattrs(entry)
        if entry.kind is Kind.WHITEOUT:
            if beneath is not None:
                self.deleted(entry.path, beneath, f"deleted by a whiteout in layer {_short(self)}")
            return
        if entry.kind is Kind.OPAQUE_DIR and beneath is not None and beneath.kind.is_dir:
            self._opaque(entry)
        if beneath is None:
            self._names(entry)
        self._mtime(entry, beneath)
        if entry.kind is Kind.FILE:
            change = "added" if beneath is None else "changed"
            copy_up = copy_up_kind(entry, beneath) is not None  # the one classification
            self.result.files.append((entry.path, change, copy_up))
            self.files.file(entry, hit)
        elif entry.kind is Kind.SYMLINK:
            self.files.symlink(entry, hit)
        elif entry.kind is Kind.OTHER and (stat.S_ISCHR(entry.mode) or stat.S_ISBLK(entry.mode)):
            dev = "character" if stat.S_ISCHR(entry.mode) else "block"
            self.add(
                FindingKind.DEVICE_ADDED,
                Severity.MEDIUM,
                entry.path,
                f"a {dev} device node ({os.major(entry.rdev)}:{os.minor(entry.rdev)}) in the "
                "layer: never opened by overlayscope; a container needs no device nodes of its own",
            )
        if classify(entry.path) is not None and entry.kind in (Kind.FILE, Kind.SYMLINK):
            self.sensitive.check(entry, hit)

    # -- deletions -------------------------------------------------------------

    def deleted(self, path: str, old: Entry, how: str) -> None:
        """Something beneath disappeared at `path`: a sensitive file, or a dir holding some."""
        if not old.kind.is_dir:
            cls = classify(path)
            if cls is not None:
                self.add(FindingKind.SENSITIVE_DELETED, Severity.MEDIUM, path, f"{cls.what}: {how}")
            return
        if not paths.may_hold_sensitive(path):
            return
        for sub in self._subtree(path):
            cls = classify(sub)
            if cls is not None:
                self.add(
                    FindingKind.SENSITIVE_DELETED,
                    Severity.MEDIUM,
                    sub,
                    f"{cls.what}: inside {printable(path)}, {how}",
                )

    def _subtree(self, path: str) -> Iterator[str]:
        pending, seen = [path], 0
        while pending and seen < MAX_SUBTREE:
            current = pending.pop()
            try:
                children = self.below.listdir(current)
            except OverlayscopeError:
                continue
            for child in children:
                seen += 1
                if child.entry.kind.is_dir:
                    pending.append(child.path)
                else:
                    yield child.path

    def _opaque(self, entry: Entry) -> None:
        mine = set(self.top.index.children.get(entry.path, ()))
        try:
            merged = self.below.listdir(entry.path)
        except OverlayscopeError:
            return
        for child in merged:
            if child.path not in mine:
                self.deleted(
                    child.path,
                    child.entry,
                    f"deleted: its dir was re-made opaque in {_short(self)}",
                )

    # -- per-entry checks ------------------------------------------------------

    def _iocs(self, entry: Entry) -> None:
        if self.iocs is None or not self.iocs.paths:
            return
        for pattern in self.iocs.match_path(entry.path):
            gone = " (deleted here: a whiteout)" if entry.kind is Kind.WHITEOUT else ""
            self.add(
                FindingKind.IOC_MATCH,
                Severity.HIGH,
                entry.path,
                f"path matches indicator '{printable(pattern)}' from {self.iocs.source}{gone}",
            )

    def _xattrs(self, entry: Entry) -> None:
        x = entry.xattrs
        if x is None:
            return
        if x.redirect is not None:
            self.add(
                FindingKind.OVERLAY_REDIRECT,
                Severity.MEDIUM,
                entry.path,
                f"{x.namespace}.overlay.redirect='{printable(x.redirect)}': Docker mounts overlay2 "
                "without redirect_dir and never writes one; not followed",
            )
        if x.metacopy:
            self.add(
                FindingKind.OVERLAY_METACOPY,
                Severity.MEDIUM,
                entry.path,
                f"{x.namespace}.overlay.metacopy: a metadata-only copy-up, which Docker never "
                "makes; its data was read from this layer only",
            )

    def _names(self, entry: Entry) -> None:
        siblings: set[str] = set()
        if not entry.name.isascii():
            siblings = {
                name.rsplit("/", 1)[-1] for name in self.top.index.children.get(entry.parent, ())
            }
            with contextlib.suppress(OverlayscopeError):
                siblings |= {c.name for c in self.below.listdir(entry.parent)}
            siblings.discard(entry.name)
        for issue in name_issues(entry.name, siblings):
            self.add(issue.kind, issue.severity, entry.path, issue.detail)
        if (
            entry.kind.is_dir
            and entry.name.startswith(".")
            and entry.name not in (".", "..")
            and paths.under(entry.parent, paths.HIDDEN_DIR_ROOTS)
        ):
            self.add(
                FindingKind.HIDDEN_DIR,
                Severity.MEDIUM,
                entry.path,
                "a hidden dir in scratch space, a usual place to stage tools out of sight",
            )

    def _mtime(self, entry: Entry, beneath: Entry | None) -> None:
        if beneath is not None and beneath.mtime_ns == entry.mtime_ns:
            return  # kept from beneath by a copy-up: not this layer's doing
        if entry.mtime_ns > self.reference_ns + FUTURE_SLACK_NS:
            self.add(
                FindingKind.FUTURE_MTIME,
                Severity.MEDIUM,
                entry.path,
                f"mtime {iso_ns(entry.mtime_ns)} is after the audit's reference time "
                f"{iso_ns(self.reference_ns)}: set by hand (touch -d) or a wrong clock",
            )

    # -- helpers used by the checks -----------------------------------------------

    def executable(self, content_dir: str, entry: Entry) -> bool:
        """An exec bit, a shared-library name, or ELF magic (read: 4 bytes)."""
        if entry.kind is not Kind.FILE:
            return False
        if entry.mode & 0o111 or paths.looks_like_library(entry.path):
            return True
        if entry.size < 4:
            return False
        try:
            return read_in_layer(content_dir, entry.path, max_bytes=4) == b"\x7fELF"
        except (OSError, OverlayscopeError):
            return False

    def content_changed(self, entry: Entry, hit: StackHit) -> bool:
        """Whether a file's bytes differ from the file beneath (sizes, then a streamed compare)."""
        old = hit.entry
        if old.kind is not Kind.FILE or old.size != entry.size:
            return True
        try:
            return not same_content(
                self.below.layers[hit.position].content_dir,
                old.path,
                self.top.content_dir,
                entry.path,
            )
        except (OSError, OverlayscopeError) as exc:
            self.problem(entry.path, exc)
            return True

    def read(self, content_dir: str, path: str, limit: int) -> bytes | None:
        try:
            return read_in_layer(content_dir, path, max_bytes=limit)
        except (OSError, OverlayscopeError) as exc:
            self.problem(path, exc)
            return None


def _short(auditor: LayerAuditor) -> str:
    return auditor.target.layer_id[:12]


def _what(entry: Entry) -> str:
    return {Kind.FILE: "a file", Kind.SYMLINK: "a symlink", Kind.WHITEOUT: "a whiteout"}.get(
        entry.kind, "a dir" if entry.kind.is_dir else "an entry"
    )
