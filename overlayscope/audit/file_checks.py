"""Checks on the regular files and symlinks a layer holds, against the version beneath."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from overlayscope.audit import paths
from overlayscope.audit.findings import FindingKind, Severity
from overlayscope.audit.sensitive import classify, escape_target
from overlayscope.audit.times import iso_ns
from overlayscope.errors import OverlayscopeError
from overlayscope.names import plural, printable
from overlayscope.scan import Entry, Kind
from overlayscope.union import layer_xattr
from overlayscope.union.provenance import StackHit

if TYPE_CHECKING:
    from overlayscope.audit.checks import LayerAuditor

CAPABILITY = "security.capability"
_SETID = stat.S_ISUID | stat.S_ISGID


class FileChecks:
    """`executable-*`, `setuid-added`, `capability-added`, `mtime-before-image`, `symlink-*`."""

    def __init__(self, auditor: LayerAuditor) -> None:
        self.a = auditor

    def file(self, entry: Entry, hit: StackHit | None) -> None:
        """Executables, setuid/setgid bits, file capabilities, backdated content."""
        beneath = hit.entry if hit is not None else None
        old = beneath if beneath is not None and beneath.kind is Kind.FILE else None
        executable = self.a.executable(self.a.top.content_dir, entry)
        if executable:
            self._executable(entry, hit, old)
        new_bits = entry.mode & _SETID & ~(old.mode & _SETID if old is not None else 0)
        if new_bits:
            which = "setuid" if new_bits & stat.S_ISUID else "setgid"
            if new_bits == _SETID:
                which = "setuid and setgid"
            owner = f" (owner uid {entry.uid}, gid {entry.gid})"
            self.a.add(
                FindingKind.SETUID_ADDED,
                Severity.HIGH,
                entry.path,
                f"{which} bit set here{owner}: mode {stat.filemode(entry.mode)}",
            )
        if executable:
            self._capability(entry, hit, old)
        self._before_image(entry, hit, old)

    def _executable(self, entry: Entry, hit: StackHit | None, old: Entry | None) -> None:
        beneath = hit.entry if hit is not None else None
        if old is not None and hit is not None:
            was = self.a.executable(self.a.below.layers[hit.position].content_dir, old)
            if was:
                if self.a.content_changed(entry, hit):
                    self.a.add(
                        FindingKind.EXECUTABLE_MODIFIED,
                        Severity.HIGH,
                        entry.path,
                        f"an executable from layer {hit.layer_id[:12]} was rewritten "
                        f"({old.size} → {entry.size} bytes)",
                    )
                return
            how = "made executable here (it was a plain file beneath)"
        elif beneath is not None:
            how = f"added here in place of {beneath.kind.phrase}"
        else:
            how = "added here"
        odd = paths.odd_exec_location(entry.path)
        severity = Severity.HIGH if odd else Severity.MEDIUM
        if self.a.target.role == "image" and not odd:
            severity = Severity.LOW  # lowered once more by add(): an image installs software
        what = "shared library" if paths.looks_like_library(entry.path) else "executable"
        links = f", one of {entry.nlink} hard links" if entry.nlink > 1 else ""
        self.a.add(
            FindingKind.EXECUTABLE_ADDED,
            severity,
            entry.path,
            f"{what} {how}, {plural(entry.size, 'byte')}{links}" + (f", {odd}" if odd else ""),
        )

    def _capability(self, entry: Entry, hit: StackHit | None, old: Entry | None) -> None:
        cap = self._xattr(self.a.top.content_dir, entry.path, CAPABILITY)
        if cap is None:
            return
        before = None
        if old is not None and hit is not None:
            before = self._xattr(
                self.a.below.layers[hit.position].content_dir, old.path, CAPABILITY
            )
        if cap != before:
            self.a.add(
                FindingKind.CAPABILITY_ADDED,
                Severity.HIGH,
                entry.path,
                f"file capabilities set here ({CAPABILITY}, {len(cap)} bytes): privileges "
                "without a setuid bit",
            )

    def _before_image(self, entry: Entry, hit: StackHit | None, old: Entry | None) -> None:
        created = self.a.target.image_created_ns
        if self.a.target.role == "image" or created is None:
            return  # image layers carry their files' original dates by design
        if hit is None:
            if entry.mtime_ns < created:
                self.a.add(
                    FindingKind.MTIME_BEFORE_IMAGE,
                    Severity.LOW,
                    entry.path,
                    f"added in the container but dated {iso_ns(entry.mtime_ns)}, before its "
                    f"image was created ({iso_ns(created)}): copied with its dates kept (cp -p, "
                    "tar, a package) or backdated",
                )
            return
        if old is None or not self.a.content_changed(entry, hit):
            return
        if entry.mtime_ns < created or entry.mtime_ns <= old.mtime_ns:
            self.a.add(
                FindingKind.MTIME_BEFORE_IMAGE,
                Severity.MEDIUM,
                entry.path,
                f"content changed in the container, but its mtime {iso_ns(entry.mtime_ns)} is "
                f"not later than the version beneath ({iso_ns(old.mtime_ns)}) or the image "
                f"({iso_ns(created)}): backdated (timestomped)",
            )

    def symlink(self, entry: Entry, hit: StackHit | None) -> None:
        """An executable replaced by a link; targets that climb out or name secrets."""
        beneath = hit.entry if hit is not None else None
        target = entry.target or ""
        if (
            beneath is not None
            and beneath.kind is Kind.FILE
            and hit is not None
            and (beneath.mode & 0o111 or paths.looks_like_library(beneath.path))
        ):
            self.a.add(
                FindingKind.EXECUTABLE_MODIFIED,
                Severity.HIGH,
                entry.path,
                f"an executable from layer {hit.layer_id[:12]} was replaced by a symlink to "
                f"'{printable(target)}'",
            )
        if beneath is not None and beneath.kind is Kind.SYMLINK and beneath.target == target:
            return  # the same link, copied up
        where, climbs = paths.resolve_target(entry.path, target)
        if climbs:
            self.a.add(
                FindingKind.SYMLINK_ESCAPE,
                Severity.HIGH,
                entry.path,
                f"symlink to '{printable(target)}' climbs above the container's root: inside "
                "the container '..' stops at /, but from the layer dir on the host it leads out "
                "(never followed by overlayscope)",
            )
        cls = classify(where)
        if escape_target(where) or (cls is not None and cls.link_target):
            why = cls.what if cls is not None and cls.link_target else "a way out of the container"
            self.a.add(
                FindingKind.SYMLINK_SENSITIVE,
                Severity.HIGH,
                entry.path,
                f"symlink to '{printable(target)}' names {why}: a tool on the host that follows "
                "it reads the host's file, not the container's",
            )

    def _xattr(self, content_dir: str, path: str, name: str) -> bytes | None:
        try:
            return layer_xattr(content_dir, path, name)
        except (OSError, OverlayscopeError):
            return None
