"""What the scanner finds in one layer's `diff/` tree.

Paths are absolute inside the layer ("/etc/passwd", the diff root is "/") and
are `str` made with `os.fsdecode`: bytes that are not UTF-8 survive as
surrogate escapes, and `os.fsencode(path)` gives the exact on-disk name back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """The type of an entry as overlayfs sees it."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    WHITEOUT = "whiteout"  # char device 0/0, or a zero-size file with overlay.whiteout
    OPAQUE_DIR = "opaque-dir"  # dir with overlay.opaque=y: hides everything beneath
    OTHER = "other"  # other devices, fifos, sockets

    @property
    def is_dir(self) -> bool:
        return self in (Kind.DIR, Kind.OPAQUE_DIR)


@dataclass(frozen=True, slots=True)
class OverlayXattrs:
    """The overlay.* extended attributes of an entry (trusted.* or, rootless, user.*)."""

    namespace: str = "trusted"
    opaque: bool = False  # value "y"; "x" (kernel 6.7+, dir holding xattr whiteouts) is not opaque
    whiteout: bool = False
    impure: bool = False
    origin: bytes | None = None  # opaque file handle of the lower inode this was copied up from
    redirect: str | None = None  # redirect_dir: where a renamed dir really lives below
    metacopy: bool = False  # metadata-only copy-up: the data stays in a lower layer
    xwhiteouts: bool = False  # opaque="x": a dir holding xattr whiteouts; not opaque


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry of a layer, with its lstat facts. Never a followed symlink."""

    path: str
    kind: Kind
    mode: int
    uid: int
    gid: int
    size: int
    blocks: int  # st_blocks, 512-byte units
    mtime_ns: int
    ctime_ns: int
    ino: int
    nlink: int
    rdev: int = 0
    target: str | None = None  # symlink target, fsdecoded
    xattrs: OverlayXattrs | None = None  # None when the entry carries no overlay xattrs

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] if self.path != "/" else "/"

    @property
    def parent(self) -> str:
        return parent_of(self.path)


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """Something the scanner could not read; the rest of the layer is still indexed."""

    path: str
    kind: str  # "vanished" | "permission" | "error"
    detail: str


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """Progress of a scan, reported through a callback."""

    layers_done: int
    layers_total: int
    entries: int
    current: str = ""


@dataclass
class LayerIndex:
    """Every entry of one layer's diff tree, by path.

    `entries` holds the diff root itself as "/". `children` maps a directory
    path to the paths of its direct children in scan order.
    """

    diff_dir: str
    # repr=False: a layer can hold millions of entries, and reprs end up in logs and in
    # Textual's worker descriptions.
    entries: dict[str, Entry] = field(default_factory=dict, repr=False)
    children: dict[str, list[str]] = field(default_factory=dict, repr=False)
    problems: list[ScanProblem] = field(default_factory=list)

    def get(self, path: str) -> Entry | None:
        return self.entries.get(path)

    def listdir(self, path: str) -> list[Entry]:
        return [self.entries[p] for p in self.children.get(path, ())]

    def __iter__(self) -> Iterator[Entry]:
        """Entries parents-first (pre-order), the root "/" included."""
        stack = ["/"]
        while stack:
            path = stack.pop()
            entry = self.entries.get(path)
            if entry is None:
                continue
            yield entry
            stack.extend(reversed(self.children.get(path, ())))

    def __len__(self) -> int:
        return len(self.entries)


def parent_of(path: str) -> str:
    """Parent of an absolute layer path; the parent of "/" is "/"."""
    if path == "/":
        return "/"
    head = path.rsplit("/", 1)[0]
    return head or "/"


def join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name
