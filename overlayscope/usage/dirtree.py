"""A `du` of a data root kept as a tree, to browse it as ncdu does (the TUI's `b`).

`disk_usage` sums the root by category; this keeps every directory with its bytes on
disk, its apparent bytes, its entries and its newest mtime, so a user can open
`overlay2/`, `containers/`, `buildkit/`… and see what the "other" bytes are. Files are
kept per directory only as its `KEEP_FILES` largest, the rest summed, so memory grows
with the number of directories, not of files.

Read-only and careful as every walk here: directories are opened with `O_NOATIME`
(`open_dir`), symlinks are never followed (one counts as the small file it is), a mount
point below a root is not crossed (it is marked), and a multiply-linked inode is counted
once, in the first place met. What cannot be read is marked on its directory.
"""

from __future__ import annotations

import heapq
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence

from overlayscope.record import field, record
from overlayscope.root.records import open_dir
from overlayscope.scan import ScanProgress
from overlayscope.scan.progress import check_cancel
from overlayscope.usage.footprint import Links

KEEP_FILES = 50  # per directory: the largest files kept by name, the rest summed
_TICK = 0.1  # seconds between progress reports


@record
class FileNode:
    """A non-directory: a file, a symlink (never followed), a device, fifo or socket."""

    path: str
    kind: str  # "file", "symlink", "other"
    apparent: int
    allocated: int
    mtime_ns: int


@record(frozen=False)
class DirNode:
    """A directory with the figures of everything beneath it (itself included)."""

    path: str
    apparent: int = 0
    allocated: int = 0
    items: int = 0  # entries beneath it
    mtime_ns: int = 0  # the newest mtime beneath it, its own included
    dirs: dict[str, DirNode] = field(default_factory=dict)
    files: list[FileNode] = field(default_factory=list)  # its largest files, by allocated bytes
    other_files: int = 0  # its files not kept by name
    other_apparent: int = 0
    other_allocated: int = 0
    mount: bool = False  # another filesystem is mounted here: not crossed, not counted
    problem: str | None = None  # why it (or part of its listing) could not be read


Progress = Callable[[ScanProgress], None]


def walk_dir_tree(
    roots: Sequence[str],
    *,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    keep_files: int = KEEP_FILES,
) -> list[DirNode]:
    """One `DirNode` per root (a root that is not a directory is one with a problem)."""
    links = Links()
    out = []
    state = {"entries": 0, "next": time.monotonic()}
    for i, root in enumerate(roots):
        out.append(_walk(root, links, cancel, progress, keep_files, state, (i, len(roots))))
    return out


def _walk(
    root: str,
    links: Links,
    cancel: threading.Event | None,
    progress: Progress | None,
    keep_files: int,
    state: dict[str, float],
    which: tuple[int, int],
) -> DirNode:
    top = DirNode(root)
    try:
        st = os.lstat(root)
    except OSError as exc:
        top.problem = exc.strerror or str(exc)
        return top
    if not stat.S_ISDIR(st.st_mode):
        top.problem = "not a directory"
        return top
    top.allocated = st.st_blocks * 512
    top.mtime_ns = st.st_mtime_ns
    order: list[DirNode] = []  # pre-order: parents before children
    pending: list[tuple[DirNode, int]] = [(top, st.st_dev)]
    while pending:
        node, dev = pending.pop()
        order.append(node)
        check_cancel(cancel)
        heap: list[tuple[int, str, FileNode]] = []
        try:
            fd = open_dir(node.path)
        except OSError as exc:
            node.problem = exc.strerror or str(exc)
            continue
        try:
            with os.scandir(fd) as it:
                for de in it:
                    path = os.path.join(node.path, de.name)
                    try:
                        cst = de.stat(follow_symlinks=False)
                    except OSError as exc:
                        node.problem = f"{de.name}: {exc.strerror or exc}"
                        continue
                    state["entries"] += 1
                    node.items += 1
                    if stat.S_ISDIR(cst.st_mode):
                        child = DirNode(path, mtime_ns=cst.st_mtime_ns)
                        node.dirs[de.name] = child
                        if cst.st_dev != dev:
                            child.mount = True
                            continue
                        child.allocated = cst.st_blocks * 512
                        pending.append((child, dev))
                        continue
                    node.mtime_ns = max(node.mtime_ns, cst.st_mtime_ns)
                    counted = links.first(cst.st_dev, cst.st_ino, cst.st_nlink, cst.st_mode)
                    apparent = cst.st_size if counted else 0
                    allocated = cst.st_blocks * 512 if counted else 0
                    node.apparent += apparent
                    node.allocated += allocated
                    kind = (
                        "file"
                        if stat.S_ISREG(cst.st_mode)
                        else "symlink"
                        if stat.S_ISLNK(cst.st_mode)
                        else "other"
                    )
                    entry = FileNode(path, kind, apparent, allocated, cst.st_mtime_ns)
                    item = (allocated, path, entry)
                    if len(heap) < keep_files:
                        heapq.heappush(heap, item)
                    else:
                        dropped = heapq.heappushpop(heap, item)[2]
                        node.other_files += 1
                        node.other_apparent += dropped.apparent
                        node.other_allocated += dropped.allocated
        except OSError as exc:  # the listing failed part way
            node.problem = exc.strerror or str(exc)
        finally:
            os.close(fd)
        node.files = [entry for _, _, entry in sorted(heap, reverse=True)]
        if progress is not None and time.monotonic() >= state["next"]:
            state["next"] = time.monotonic() + _TICK
            progress(ScanProgress(which[0], which[1], int(state["entries"]), node.path))
    # Children's figures into their parents, deepest first.
    parents = {id(child): node for node in order for child in node.dirs.values()}
    for node in reversed(order):
        parent = parents.get(id(node))
        if parent is None:
            continue
        parent.apparent += node.apparent
        parent.allocated += node.allocated
        parent.items += node.items
        parent.mtime_ns = max(parent.mtime_ns, node.mtime_ns)
    return top
