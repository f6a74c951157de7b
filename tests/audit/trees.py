"""Real layer trees for the audit tests: write a few entries, scan, audit one layer."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from overlayscope.audit.checks import LayerAuditor
from overlayscope.audit.findings import Finding
from overlayscope.audit.ioc import IocList
from overlayscope.audit.targets import AuditTarget
from overlayscope.scan import scan_tree
from overlayscope.union import LayerStack, StackLayer

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57
DAY_NS = 86_400 * 1_000_000_000
REFERENCE = (time.time_ns() // DAY_NS + 1) * DAY_NS  # "now" for the audit: tomorrow 00:00
IMAGE_CREATED = REFERENCE - 30 * DAY_NS  # the image was built a month ago
OLD = IMAGE_CREATED - 365 * DAY_NS  # the image's files, a year older than the image
NEW = IMAGE_CREATED + DAY_NS  # what the container writes


@dataclass
class Tree:
    """A layer's diff dir; paths are container paths (str, surrogate escapes allowed)."""

    root: Path

    def _p(self, path: str) -> bytes:
        return os.fsencode(str(self.root)) + os.fsencode(path)

    def _parents(self, path: str) -> None:
        os.makedirs(os.path.dirname(self._p(path)), exist_ok=True)

    def file(self, path: str, data: bytes = b"x\n", mode: int = 0o644, mtime: int = NEW) -> Tree:
        self._parents(path)
        p = self._p(path)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        os.utime(p, ns=(mtime, mtime))
        return self

    def dir(self, path: str, *, opaque: bool = False, mtime: int = NEW) -> Tree:
        p = self._p(path)
        os.makedirs(p, exist_ok=True)
        if opaque:
            os.setxattr(p, "trusted.overlay.opaque", b"y")
        os.utime(p, ns=(mtime, mtime))
        return self

    def link(self, path: str, target: str) -> Tree:
        self._parents(path)
        os.symlink(os.fsencode(target), self._p(path))
        return self

    def whiteout(self, path: str) -> Tree:
        self._parents(path)
        os.mknod(self._p(path), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return self

    def device(self, path: str, major: int = 1, minor: int = 3) -> Tree:
        self._parents(path)
        os.mknod(self._p(path), stat.S_IFCHR | 0o600, os.makedev(major, minor))
        return self

    def xattr(self, path: str, name: str, value: bytes) -> Tree:
        os.setxattr(self._p(path), name, value, follow_symlinks=False)
        return self


def base_image(t: Tree) -> None:
    """A small distribution: a shell, tools, a library, account files, scratch dirs."""
    t.file("/bin/sh", ELF + b"sh", 0o755, OLD)
    t.file("/bin/su", ELF + b"su", 0o4755, OLD)
    t.file("/usr/bin/tool", ELF + b"tool", 0o755, OLD)
    t.file("/lib/libc.so.6", ELF + b"libc", 0o644, OLD)
    t.file(
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        0o644,
        OLD,
    )
    t.file("/etc/group", b"root:x:0:\nsudo:x:27:\nnogroup:x:65534:\n", 0o644, OLD)
    t.file("/etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640, OLD)
    t.file("/etc/cron.d/existing", b"# nothing\n", 0o644, OLD)
    t.file("/etc/profile", b"PATH=/bin\n", 0o644, OLD)
    t.file("/root/.ssh/known_hosts", b"", 0o600, OLD)
    t.file("/app/data.txt", b"data\n", 0o644, OLD)
    t.file("/app/run.sh", b"#!/bin/sh\necho hi\n", 0o755, OLD)
    t.link("/usr/bin/sh", "/bin/sh")
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/home/alice", "/etc"):
        t.dir(d, mtime=OLD)


def audit_layer(
    tmp_path: Path,
    build: Callable[[Tree], object],
    *,
    role: str = "rw",
    lower: tuple[Callable[[Tree], object], ...] = (base_image,),
    iocs: IocList | None = None,
    created_ns: int | None = IMAGE_CREATED,
) -> list[Finding]:
    """Build `lower` (bottom first) and the top layer, scan them, audit the top one."""
    layers: list[StackLayer] = []
    builders = [*lower, build]
    for number, builder in enumerate(builders):
        diff = tmp_path / f"layer{number}" / "diff"
        diff.mkdir(parents=True)
        builder(Tree(diff))
        role_of = role if number == len(builders) - 1 else "image"
        layers.append(StackLayer(f"layer{number}", role_of, scan_tree(str(diff))))
    layers.reverse()  # top first
    top, below = layers[0], LayerStack(tuple(layers[1:]))
    target = AuditTarget(
        top.id, role, tuple(layer.id for layer in layers), None, "sha256:img", created_ns
    )
    auditor = LayerAuditor(target, top, below, reference_ns=REFERENCE, iocs=iocs)
    return auditor.run().findings


def kinds(findings: list[Finding]) -> set[tuple[str, str, str]]:
    """(kind, severity, path) of each finding."""
    return {(str(f.kind), str(f.severity), f.path) for f in findings}
