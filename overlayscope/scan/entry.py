"""What the scanner finds in one layer's `diff/` tree.

Paths are absolute inside the layer ("/etc/passwd", the diff root is "/") and
are `str` made with `os.fsdecode`: bytes that are not UTF-8 survive as
surrogate escapes, and `os.fsencode(path)` gives the exact on-disk name back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from overlayscope.record import record

if TYPE_CHECKING:
    from overlayscope.scan.columns import Columns


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

    @property
    def phrase(self) -> str:
        """The kind in a sentence, with its article: "a file", "an opaque dir"..."""
        return _PHRASES[self]


_PHRASES = {
    Kind.FILE: "a file",
    Kind.DIR: "a directory",
    Kind.SYMLINK: "a symlink",
    Kind.WHITEOUT: "a whiteout",
    Kind.OPAQUE_DIR: "an opaque directory",
    Kind.OTHER: "a special file (device, fifo or socket)",
}


@record
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


@record
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


@record
class ScanProblem:
    """Something the scanner could not read; the rest of the layer is still indexed."""

    path: str
    kind: str  # "vanished" | "permission" | "error"
    detail: str


@record
class ScanProgress:
    """Progress of a scan, reported through a callback."""

    layers_done: int
    layers_total: int
    entries: int
    current: str = ""


class LayerIndex:
    """Every entry of one layer's diff tree, by path.

    `entries` maps a path to its `Entry`, the diff root itself as "/"; `children` maps a
    directory whose listing was read to its children's paths (sorted by name bytes in a
    scanned index). Both are read-only `Mapping`s.

    A scanned index keeps its entries in the compact layout of `columns.py` (`columns`),
    and `entries` and `children` are views that make `Entry` objects and paths only when
    asked. An index built by hand (tests) holds plain dicts, which may be filled in place.
    """

    __slots__ = ("children", "columns", "content_dir", "entries", "problems")

    def __init__(
        self,
        content_dir: str,
        entries: dict[str, Entry] | None = None,
        children: dict[str, list[str]] | None = None,
        problems: list[ScanProblem] | None = None,
    ) -> None:
        self.content_dir = content_dir
        self.entries: Mapping[str, Entry] = {} if entries is None else entries
        self.children: Mapping[str, list[str]] = {} if children is None else children
        self.problems: list[ScanProblem] = [] if problems is None else problems
        self.columns: Columns | None = None

    @classmethod
    def from_columns(
        cls, content_dir: str, columns: Columns, problems: list[ScanProblem]
    ) -> LayerIndex:
        """An index over `columns` (what the scanner and the scan cache return)."""
        from overlayscope.scan.columns import ChildMap, EntryMap

        index = cls(content_dir, problems=problems)
        index.columns = columns
        index.entries = EntryMap(columns)
        index.children = ChildMap(columns)
        return index

    def __repr__(self) -> str:
        return (
            f"LayerIndex({self.content_dir!r}, {len(self)} entries, {len(self.problems)} problems)"
        )

    def get(self, path: str) -> Entry | None:
        return self.entries.get(path)

    def listdir(self, path: str) -> list[Entry]:
        c = self.columns
        if c is None:
            return [self.entries[p] for p in self.children.get(path, ())]
        slot = c.slot_of_path(path)
        if slot is None:
            return []
        return [
            c.entry_at(i, p) for i, p in zip(c.child_range(slot), c.child_paths(slot), strict=True)
        ]

    def __iter__(self) -> Iterator[Entry]:
        """Entries parents-first (pre-order), the root "/" included."""
        c = self.columns
        if c is not None:
            yield from _preorder(c)
            return
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


def _preorder(c: Columns) -> Iterator[Entry]:
    if not len(c):
        return
    yield c.entry_at(0, "/")
    slot = c.slot_of_entry(0)
    if slot is None:
        return
    # one pending (paths, entries) listing per open dir along the current path
    stack = [iter(zip(c.child_paths(slot), c.child_range(slot), strict=True))]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        path, i = step
        yield c.entry_at(i, path)
        sub = c.slot_of_entry(i)
        if sub is not None:
            stack.append(iter(zip(c.child_paths(sub), c.child_range(sub), strict=True)))


def parent_of(path: str) -> str:
    """Parent of an absolute layer path; the parent of "/" is "/"."""
    if path == "/":
        return "/"
    head = path.rsplit("/", 1)[0]
    return head or "/"


def join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name
