"""What the audit reports: finding kinds, severities, and the finding record itself."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from enum import StrEnum

from overlayscope.errors import PermissionDeniedError, ReadError
from overlayscope.record import record


class Severity(StrEnum):
    """How much a finding deserves an analyst's attention; part of the JSON contract."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def lower(self) -> Severity:
        """One step less severe (info stays info)."""
        return _ORDER[max(0, self.rank - 1)]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls(text.strip().lower())


_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH)
_RANK = {severity: i for i, severity in enumerate(_ORDER)}


class FindingKind(StrEnum):
    """Stable finding kinds; part of the JSON contract (docs/audit.md has the rules)."""

    EXECUTABLE_ADDED = "executable-added"  # a new executable or shared library
    EXECUTABLE_MODIFIED = "executable-modified"  # an executable from beneath, content changed
    SETUID_ADDED = "setuid-added"  # setuid/setgid bit that was not there beneath
    CAPABILITY_ADDED = "capability-added"  # security.capability that was not there beneath
    SENSITIVE_MODIFIED = "sensitive-modified"  # passwd, shadow, sudoers, crontabs, keys, …
    SENSITIVE_DELETED = "sensitive-deleted"  # a whiteout or opaque dir hides a sensitive file
    SYMLINK_ESCAPE = "symlink-escape"  # a symlink whose target climbs above the root
    SYMLINK_SENSITIVE = "symlink-sensitive"  # a symlink naming credentials or a host escape
    NAME_CONTROL = "name-control"  # control characters in a name
    NAME_INVISIBLE = "name-invisible"  # bidi controls, zero-width or odd whitespace in a name
    NAME_CONFUSABLE = "name-confusable"  # look-alike letters from another script
    NAME_WHITESPACE = "name-whitespace"  # leading/trailing spaces, names of dots and spaces
    NAME_UNDECODABLE = "name-undecodable"  # a name that is not valid UTF-8
    HIDDEN_DIR = "hidden-dir"  # a dot-dir under /tmp, /var/tmp or /dev/shm
    FUTURE_MTIME = "future-mtime"  # mtime later than the audit's reference time
    MTIME_BEFORE_IMAGE = "mtime-before-image"  # written in the container, dated before its image
    DEVICE_ADDED = "device-added"  # a device node that is not a whiteout
    OVERLAY_REDIRECT = "overlay-redirect"  # overlay.redirect xattr: Docker never sets it
    OVERLAY_METACOPY = "overlay-metacopy"  # overlay.metacopy xattr: Docker never sets it
    INIT_LAYER = "init-layer"  # the init layer holds more than Docker's stubs
    IOC_MATCH = "ioc-match"  # a hash or path from the --ioc list


@record
class Finding:
    """One fact worth an analyst's look, tied to the layer and path that hold it.

    `container` is the container id for findings in a container's rw or init
    layer (None in an image layer); `image` the image id the layer belongs to
    (for a shared image layer, the first image holding it); `role` the
    layer's role (`rw`, `init`, `image`); `path` the path inside the
    container. `sha256` is set when the file was hashed (`--hash`).
    """

    kind: FindingKind
    severity: Severity
    path: str
    detail: str
    layer: str
    role: str
    container: str | None = None
    image: str | None = None
    sha256: str | None = None


def severity_for_role(kind: FindingKind, severity: Severity, role: str) -> Severity:
    """Image layers were built on purpose by a Dockerfile: one step less, but not everything.

    An IOC match is high wherever it is, and overlay xattrs Docker never sets
    are as odd in an image layer as in a container's.
    """
    if role != "image" or kind in _SAME_IN_IMAGES:
        return severity
    return severity.lower()


_SAME_IN_IMAGES = frozenset(
    {FindingKind.IOC_MATCH, FindingKind.OVERLAY_REDIRECT, FindingKind.OVERLAY_METACOPY}
)


def sort_key(finding: Finding) -> tuple[int, str, str, bytes, str]:
    """Most severe first, then by container, layer and path (bytes order), then kind."""
    return (
        -finding.severity.rank,
        finding.container or "~",  # image layers after containers
        finding.layer,
        finding.path.encode("utf-8", "surrogateescape"),
        str(finding.kind),
    )


@record
class AuditProblem:
    """Something the audit could not read or compare; shaped like the root's problems.

    `kind` is `unreadable` (a file or dir the audit could not read),
    `not-hashed` (a sparse file with more holes than the bound on holes hashed) or
    `audit-incomplete` (a layer chain is broken, so a layer was compared
    against fewer layers than it should have been, or not audited at all).
    `unread` is set when what is there could not be read (refused, an I/O error): the
    answer is incomplete (exit 4). An entry that vanished or was replaced while it was
    read (a live container) is `unreadable` too, but not `unread`.
    """

    kind: str
    path: str
    detail: str
    unread: bool = False


# What a walk or a read meets when an entry is deleted or replaced under it (as
# scan/problems.py classifies them): the entry is gone, not kept from us.
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ESTALE})


def read_refused(exc: BaseException) -> bool:
    """Whether `exc` says the evidence is there but could not be read (permission, an I/O
    error), rather than that it vanished or was replaced while it was read."""
    if isinstance(exc, (PermissionDeniedError, ReadError)):  # union/content.py's words for them
        return True
    return isinstance(exc, OSError) and exc.errno not in _GONE


# More findings alike than this (one kind and severity in one layer) show as one row with a
# count and a few examples: 100,000 identical low findings must not bury the one that counts.
GROUP_AT = 5
EXAMPLES = 3


@record
class FindingGroup:
    """Findings alike: one kind and severity in one layer, `count` of them. `examples` are
    the first paths (in the findings' order) and `detail` the first one's detail."""

    kind: FindingKind
    severity: Severity
    layer: str
    role: str
    container: str | None
    image: str | None
    count: int
    examples: tuple[str, ...]
    detail: str


def _alike(f: Finding) -> tuple[FindingKind, Severity, str, str | None]:
    return (f.kind, f.severity, f.layer, f.container)


def finding_groups(findings: Sequence[Finding]) -> list[FindingGroup]:
    """Every finding in one group per (kind, severity, layer), in the order of each group's
    first finding; together the groups count every finding once."""
    groups: dict[tuple[FindingKind, Severity, str, str | None], list[Finding]] = {}
    counts: dict[tuple[FindingKind, Severity, str, str | None], int] = {}
    for f in findings:
        key = _alike(f)
        counts[key] = counts.get(key, 0) + 1
        kept = groups.setdefault(key, [])
        if len(kept) < EXAMPLES:
            kept.append(f)
    return [
        FindingGroup(
            kind=first[0].kind,
            severity=first[0].severity,
            layer=first[0].layer,
            role=first[0].role,
            container=first[0].container,
            image=first[0].image,
            count=counts[key],
            examples=tuple(f.path for f in first),
            detail=first[0].detail,
        )
        for key, first in groups.items()
    ]


def fold_findings(findings: Sequence[Finding], at: int = GROUP_AT) -> list[Finding | FindingGroup]:
    """The findings to show, in order: those of a group of more than `at` alike folded into
    their `FindingGroup`, at the place of the group's first finding."""
    groups = {(g.kind, g.severity, g.layer, g.container): g for g in finding_groups(findings)}
    out: list[Finding | FindingGroup] = []
    shown: set[tuple[FindingKind, Severity, str, str | None]] = set()
    for f in findings:
        key = _alike(f)
        group = groups[key]
        if group.count <= at:
            out.append(f)
        elif key not in shown:
            shown.add(key)
            out.append(group)
    return out
