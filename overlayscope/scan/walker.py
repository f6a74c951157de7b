"""The walk of one `diff/` tree: directory fds, an explicit stack, lstat only.

With the C helper and a sink that takes columns (`ColumnSink`: the `IndexBuilder`),
the helper walks the whole tree and builds the layer's columns itself
(native_walk.py). Otherwise this pure-Python walk turns the tree into flat `Record`
tuples, batched per directory, and hands them to a `Sink`; it is also the reference
the C walk is tested against, and does the same thing step for step.

Every directory is opened relative to its parent's fd, with O_NOFOLLOW, so no
path is ever resolved as one string (depth and PATH_MAX don't matter) and no
symlink is ever followed. Only the diff root itself is opened by its path.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from overlayscope.scan import native
from overlayscope.scan.entry import Kind, OverlayXattrs, ScanProblem, join
from overlayscope.scan.native_walk import walk_native
from overlayscope.scan.problems import errno_problem, replaced
from overlayscope.scan.problems import problem_for as problem_for  # kept here for other modules
from overlayscope.scan.readahead import Detector, ReadAhead
from overlayscope.scan.xattrs import (
    QUIET_ERRNOS,
    overlay_names,
    overlay_prefixes,
    path_prefix,
    read_overlay_xattrs,
)

if TYPE_CHECKING:
    from overlayscope.scan.columns import Columns
    from overlayscope.scan.split import Part

# name, kind, mode, uid, gid, size, blocks, mtime_ns, ctime_ns, ino, nlink, rdev, target, xattrs
Record: TypeAlias = tuple[
    str, Kind,
    int, int, int, int, int, int, int, int, int, int,
    "str | None", "OverlayXattrs | None",
]  # fmt: skip

BATCH = 4096  # entries read at a time: per `Sink.entries` call (bounds memory for a huge dir)
FD_WINDOW = 32  # directory fds held open along the current path (plus the root's)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
_S_IFMT, _S_IFREG, _S_IFDIR, _S_IFLNK = 0o170000, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
_FILE, _DIR, _OPAQUE_DIR = Kind.FILE, Kind.DIR, Kind.OPAQUE_DIR


class Sink(Protocol):
    """Where the walker delivers what it finds, in walk order (parents first)."""

    def root(self, record: Record) -> None:
        """The diff root itself; its name is "/"."""

    def entries(self, dir_path: str, records: list[Record]) -> None:
        """Children of `dir_path`. Called at least once (maybe with []) for every
        directory whose listing was read, and again per `BATCH` for big ones."""

    def problem(self, problem: ScanProblem) -> None:
        """Something that could not be read; the walk goes on."""

    def tick(self, entries: int, current: str) -> None:
        """Called per directory and per batch (the C walk: every `native_walk.STEP` entries):
        report progress, honour cancel (may raise)."""


@runtime_checkable
class ColumnSink(Sink, Protocol):
    """A sink that takes a whole layer in the compact layout (`IndexBuilder`): with the
    C helper, the walk builds the columns itself (native_walk.py) and hands them over
    at the end; `root`, `entries` are then never called, `problem` and `tick` are."""

    def adopt(self, columns: Columns) -> None:
        """The layer, every entry of it; no more calls follow."""


def open_dir(name: str, dir_fd: int | None = None) -> int:
    """Open a directory for listing without updating its atime where the kernel allows."""
    flags = _DIR_FLAGS if dir_fd is not None else _DIR_FLAGS & ~os.O_NOFOLLOW
    if _NOATIME:
        try:
            return os.open(name, flags | _NOATIME, dir_fd=dir_fd)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:  # EPERM: O_NOATIME needs ownership; EACCES is real
                raise
    return os.open(name, flags, dir_fd=dir_fd)


def classify(mode: int, rdev: int, size: int, xattrs: OverlayXattrs | None) -> Kind:
    """The overlayfs kind of an entry from its lstat mode and overlay xattrs."""
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFREG:
        if size == 0 and xattrs is not None and xattrs.whiteout:
            return Kind.WHITEOUT
        return Kind.FILE
    if fmt == stat.S_IFDIR:
        return Kind.OPAQUE_DIR if xattrs is not None and xattrs.opaque else Kind.DIR
    if fmt == stat.S_IFLNK:
        return Kind.SYMLINK
    if fmt == stat.S_IFCHR and rdev == 0:
        return Kind.WHITEOUT
    return Kind.OTHER


class _Frame:
    """A directory on the current path of the walk."""

    __slots__ = ("dev", "fd", "ino", "name", "path", "pending")

    def __init__(self, path: str, name: str, fd: int, dev: int, ino: int) -> None:
        self.path = path
        self.name = name
        self.fd = fd  # -1 once closed to stay within FD_WINDOW
        self.dev = dev
        self.ino = ino
        self.pending: list[tuple[str, int, int]] = []  # subdirs still to visit, reversed


def walk_tree(
    content_dir: str, sink: Sink, *, xattrs: bool = True, overlay_xattrs: str | None = None,
    cold: bool = False,
) -> None:  # fmt: skip
    """Walk `content_dir` depth-first, parents before children, delivering to `sink`.

    With `xattrs=False`, extended attributes are read only where they change what a
    byte count sees, on zero-size regular files (which may be xattr whiteouts): one
    syscall an entry less, for callers that only count bytes. Opaque dirs are then
    plain `DIR`s, and no other entry carries `xattrs`.

    `overlay_xattrs` is the namespace the layer's mounts read overlay metadata from:
    "trusted" (rootful) or "user" (rootless, `userxattr`); the other namespace's
    attributes are then no overlay metadata at all, and an entry carrying only those is
    what its mode says. None reads either, trusted winning (trees no host describes).
    Raises ValueError for any other value.

    `cold`: the page cache is known to be cold (another walk of the same scan found it
    so): read ahead from the start instead of probing first (readahead.py).

    Filesystem errors become `ScanProblem`s, never exceptions; a root that
    cannot be opened gives one problem at "/" and nothing else. Exceptions
    raised by the sink (Cancelled) propagate, and every fd is closed.
    """
    _Walk(content_dir, sink, xattrs, overlay_xattrs, cold).run()


def walk_part(
    content_dir: str, part: Part, sink: ColumnSink, *, xattrs: bool = True,
    overlay_xattrs: str | None = None, cold: bool = False,
) -> None:  # fmt: skip
    """Walk one subtree of `content_dir` that another walk delegated (split.py), with the
    C helper: the dir `part` names is opened below the layer's root without following a
    symlink and must be the inode that walk listed; else the one problem at its path is
    what a single walk would have reported there. Paths stay the layer's. `cold`: the
    page cache is known cold; read ahead from the start."""
    rel, dev, ino = part
    where = "/" + os.fsdecode(rel)
    overlay_prefixes(overlay_xattrs)
    assert native.listdir is not None
    try:
        root_fd = open_dir(content_dir)
    except OSError as exc:
        sink.problem(problem_for(where, exc))
        return
    try:
        fd, err = native.listdir.open_subdir(root_fd, rel, dev, ino)
    finally:
        os.close(root_fd)
    if fd < 0:
        sink.problem(errno_problem(where, err) if err else replaced(where))
        return
    walk_native(content_dir, fd, sink, read_xattrs=xattrs, namespace=overlay_xattrs,
                fd_window=FD_WINDOW, batch=BATCH, prefix=b"/" + rel, cold=cold)  # fmt: skip


class _Walk:
    def __init__(
        self, content_dir: str, sink: Sink, read_xattrs: bool = True, namespace: str | None = None,
        cold: bool = False,
    ) -> None:  # fmt: skip
        self.content_dir = content_dir
        self.read_xattrs = read_xattrs
        self.namespace = namespace
        self.prefixes = overlay_prefixes(namespace)  # the names that are overlay metadata
        self.sink = sink
        self.count = 0
        self.stack: list[_Frame] = []
        # the C helper walks the whole tree for a sink that takes its columns
        self.column_sink: ColumnSink | None = (
            sink if native.listdir is not None and isinstance(sink, ColumnSink) else None
        )
        # start a read-ahead at the next directory
        self.cold = (cold and native.listdir is not None) or Detector.forced()
        self.readahead: ReadAhead | None = None

    def run(self) -> None:
        sink = self.sink
        try:
            root_fd = open_dir(self.content_dir)
        except OSError as exc:
            problem = problem_for("/", exc)
            if exc.errno == errno.ENOTDIR:  # not a dir we saw vanish: simply not a tree
                problem = ScanProblem("/", "error", problem.detail)
            sink.problem(problem)
            return
        if self.column_sink is not None:
            walk_native(self.content_dir, root_fd, self.column_sink, read_xattrs=self.read_xattrs,
                        namespace=self.namespace, fd_window=FD_WINDOW, batch=BATCH,
                        cold=self.cold)  # fmt: skip
            return
        try:
            root = self._root_frame(root_fd)
        except BaseException as exc:
            os.close(root_fd)
            if not isinstance(exc, OSError):
                raise
            sink.problem(problem_for("/", exc))
            return
        stack = self.stack
        stack.append(root)
        try:
            root.pending = self._list(root)
            while stack:
                if self.cold and self.readahead is None:
                    self._start_readahead()
                top = stack[-1]
                if not top.pending:
                    stack.pop()
                    if top.fd >= 0:
                        os.close(top.fd)
                    continue
                self._descend(top, *top.pending.pop())
        finally:
            if self.readahead is not None:
                self.readahead.close()
            for frame in stack:
                if frame.fd >= 0:
                    os.close(frame.fd)
            stack.clear()

    def _start_readahead(self) -> None:
        """Warm, from other threads, every dir the walk has yet to visit, the next first."""
        stack = self.stack
        self.readahead = ReadAhead(stack[0].fd)
        todo: list[bytes] = []
        for frame in stack:  # the top frame's last pending dir is the walk's next
            prefix = frame.path[1:] + "/" if frame.path != "/" else ""
            todo += [os.fsencode(prefix + name) for name, _, _ in frame.pending]
        self.readahead.push(todo)

    def _root_frame(self, fd: int) -> _Frame:
        st = os.fstat(fd)
        xattrs = (
            read_overlay_xattrs(overlay_names(fd, self.prefixes), fd) if self.read_xattrs else None
        )
        self.sink.root(
            (
                "/",
                classify(st.st_mode, st.st_rdev, st.st_size, xattrs),
                st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_blocks,
                st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink, st.st_rdev,
                None, xattrs,
            )
        )  # fmt: skip
        self.count = 1
        return _Frame("/", "", fd, st.st_dev, st.st_ino)

    def _descend(self, top: _Frame, name: str, dev: int, ino: int) -> None:
        """Open subdir `name` of `top`, push it, and list it."""
        path = join(top.path, name)
        if top.fd < 0 and not self._reopen():
            return
        try:
            fd = open_dir(name, top.fd)
        except OSError as exc:
            self.sink.problem(problem_for(path, exc))
            return
        frame = _Frame(path, name, fd, dev, ino)
        self.stack.append(frame)
        if not self._same(fd, frame):
            return  # popped (and closed) by the main loop: nothing pending
        self._keep_fd_window()
        frame.pending = self._list(frame)

    def _keep_fd_window(self) -> None:
        """Close the fd that just left the window: the root's and the last FD_WINDOW stay."""
        depth = len(self.stack)
        if depth > FD_WINDOW + 1:
            old = self.stack[depth - FD_WINDOW - 1]
            if old.fd >= 0:
                os.close(old.fd)
                old.fd = -1

    def _same(self, fd: int, frame: _Frame) -> bool:
        """Is the dir we opened the one we listed? A swap means the old one vanished."""
        try:
            st = os.fstat(fd)
        except OSError as exc:
            self.sink.problem(problem_for(frame.path, exc))
            return False
        if (st.st_dev, st.st_ino) != (frame.dev, frame.ino):
            self.sink.problem(replaced(frame.path))
            return False
        return True

    def _reopen(self) -> bool:
        """Reopen the fds of the top frame and of the ancestors closed to save fds."""
        stack = self.stack
        top = len(stack) - 1
        j = top
        while stack[j].fd < 0:
            j -= 1  # stack[0], the root, is never closed
        for k in range(j + 1, top + 1):
            frame = stack[k]
            try:
                frame.fd = open_dir(frame.name, stack[k - 1].fd)
            except OSError as exc:
                self.sink.problem(problem_for(frame.path, exc))
                ok = False
            else:
                ok = self._same(frame.fd, frame)
            if not ok:  # what lies below it cannot be reached
                for below in stack[k:]:
                    below.pending.clear()
                break
        # close again what lies below the window; the main loop closes the rest
        for k in range(j + 1, max(j + 1, top + 1 - FD_WINDOW)):
            if stack[k].fd >= 0:
                os.close(stack[k].fd)
                stack[k].fd = -1
        return stack[top].fd >= 0

    def _list(self, frame: _Frame) -> list[tuple[str, int, int]]:
        """Emit the entries of one open directory; return its subdirs, reversed."""
        sink = self.sink
        fd = frame.fd
        dir_path = frame.path
        xprefix = path_prefix(
            fd, self.content_dir if dir_path == "/" else self.content_dir + dir_path
        )
        prefix = "/" if dir_path == "/" else dir_path + "/"
        subdirs: list[tuple[str, int, int]] = []
        batch: list[Record] = []
        sink.tick(self.count, dir_path)
        try:
            it = os.scandir(fd)
        except OSError as exc:
            sink.problem(problem_for(dir_path, exc))
            return subdirs
        # The per-entry loop is the scanner's hot path: classify() and
        # overlay_names() are inlined and globals bound to locals (measured ~15%).
        listxattr = os.listxattr
        read_xattrs = self.read_xattrs
        prefixes = self.prefixes
        readlink = os.readlink
        append = batch.append
        with it:
            try:
                for de in it:
                    name = de.name
                    try:
                        st = de.stat(follow_symlinks=False)
                        mode = st.st_mode
                        xattrs = xnames = None
                        # without xattrs, still those of empty files: a whiteout or not
                        if read_xattrs or (not st.st_size and mode & _S_IFMT == _S_IFREG):
                            xpath = xprefix + name
                            try:
                                xnames = listxattr(xpath, follow_symlinks=False)
                            except OSError as exc:
                                if exc.errno not in QUIET_ERRNOS:
                                    raise
                        if xnames:
                            xnames = [n for n in xnames if n.startswith(prefixes)]
                            if xnames:
                                xattrs = read_overlay_xattrs(xnames, xpath)
                        fmt = mode & _S_IFMT
                        target = readlink(name, dir_fd=fd) if fmt == _S_IFLNK else None
                    except OSError as exc:
                        sink.problem(problem_for(prefix + name, exc))
                        continue
                    if fmt == _S_IFREG and (xattrs is None or not xattrs.whiteout):
                        kind = _FILE
                    elif fmt == _S_IFDIR:
                        kind = _OPAQUE_DIR if xattrs is not None and xattrs.opaque else _DIR
                        subdirs.append((name, st.st_dev, st.st_ino))
                    else:
                        kind = classify(mode, st.st_rdev, st.st_size, xattrs)
                    append(
                        (
                            name, kind, mode, st.st_uid, st.st_gid, st.st_size, st.st_blocks,
                            st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink, st.st_rdev,
                            target, xattrs,
                        )
                    )  # fmt: skip
                    if len(batch) >= BATCH:
                        self.count += len(batch)
                        sink.entries(dir_path, batch)
                        batch = []
                        append = batch.append
                        sink.tick(self.count, dir_path)
            except OSError as exc:  # reading the listing itself failed part way
                sink.problem(problem_for(dir_path, exc))
        self.count += len(batch)
        sink.entries(dir_path, batch)
        subdirs.reverse()
        return subdirs
