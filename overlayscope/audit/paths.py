"""Facts about container paths: where executables are odd, Docker's init stubs, link targets."""

from __future__ import annotations

import re
import stat

from overlayscope.audit.sensitive import CLASSES
from overlayscope.scan import Entry, Kind

# Where an executable has no business: scratch space, memory-backed dirs, kernel views.
ODD_EXEC_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/dev", "/run", "/var/run", "/proc", "/sys")
HIDDEN_DIR_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")
_SHARED_LIBRARY = re.compile(r"\.so(\.\d+)*$")

# What Docker's init layer holds (moby daemon/initlayer: setupInitLayer): empty files,
# the dirs they need, and /etc/mtab -> /proc/mounts. Only those the image lacked are made.
INIT_DIRS = frozenset({"/dev", "/dev/pts", "/dev/shm", "/proc", "/sys", "/etc"})
INIT_FILES = frozenset(
    {"/.dockerenv", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/dev/console"}
)
INIT_LINKS = {"/etc/mtab": "/proc/mounts"}


def under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def hidden_component(path: str) -> bool:
    """A component of the path (the last one included) starts with a dot."""
    return any(name.startswith(".") for name in path.split("/") if name)


def odd_exec_location(path: str) -> str | None:
    """Why an executable at `path` is out of place, or None for an ordinary location."""
    for root in ODD_EXEC_DIRS:
        if path.startswith(root + "/"):
            return f"under {root}"
    if hidden_component(path):
        return "in a hidden file or dir"
    return None


def looks_like_library(path: str) -> bool:
    return _SHARED_LIBRARY.search(path.rsplit("/", 1)[-1]) is not None


def init_stub(entry: Entry) -> bool:
    """Whether an init-layer entry is one of the stubs Docker writes there, as Docker writes it."""
    if entry.path in INIT_DIRS:
        return entry.kind.is_dir
    if entry.path in INIT_FILES:
        return entry.kind is Kind.FILE and entry.size == 0 and not entry.mode & _SPECIAL
    if entry.path in INIT_LINKS:
        return entry.kind is Kind.SYMLINK and entry.target == INIT_LINKS[entry.path]
    return False


_SPECIAL = stat.S_ISUID | stat.S_ISGID


def runtime_stub(entry: Entry) -> bool:
    """Whether an entry at one of the paths an engine writes into a container's own layer
    for the runtime (Podman's mount points: `Container.runtime_files`) is what the engine
    writes there: a dir, an empty plain file, or the /etc/mtab symlink."""
    if entry.kind.is_dir:
        return True
    if entry.kind is Kind.FILE:
        return entry.size == 0 and not entry.mode & _SPECIAL
    return entry.kind is Kind.SYMLINK and entry.target == INIT_LINKS.get(entry.path)


def resolve_target(link_path: str, target: str) -> tuple[str, bool]:
    """Where a symlink points, lexically, inside the container; and whether it climbs above /.

    `..` that would go above the root stops there (as in the container) but
    is reported: the same link read from the layer dir on the host would
    leave the container's tree.
    """
    parts: list[str] = []
    if not target.startswith("/"):
        parts = [name for name in link_path.split("/")[1:-1] if name]
    climbs = False
    for name in target.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if parts:
                parts.pop()
            else:
                climbs = True
            continue
        parts.append(name)
    return "/" + "/".join(parts), climbs


def _literal_prefix(pattern: str) -> str:
    cut = min((i for i, ch in enumerate(pattern) if ch in "*?["), default=len(pattern))
    return pattern[:cut]


_SENSITIVE_PREFIXES = tuple(_literal_prefix(p) for c in CLASSES for p in c.patterns)


def may_hold_sensitive(dir_path: str) -> bool:
    """Whether a sensitive file could lie somewhere beneath `dir_path`."""
    head = dir_path.rstrip("/") + "/"
    return any(p.startswith(head) or head.startswith(p) for p in _SENSITIVE_PREFIXES)
