"""The walk of one `diff/` tree: directory fds, an explicit stack, lstat only.

The walker turns a tree into flat `Record` tuples, batched per directory, and
hands them to a `Sink`. Tuples rather than `Entry` objects because a worker
process ships them to the parent, and tuples pickle ~10x faster than
dataclasses; the parent (or `scan_tree`) builds the `Entry` objects.

Every directory is opened relative to its parent's fd, with O_NOFOLLOW, so no
path is ever resolved as one string (depth and PATH_MAX don't matter) and no
symlink is ever followed. Only the diff root itself is opened by its path.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any, Protocol, TypeAlias, runtime_checkable

from overlayscope.scan import native
from overlayscope.scan.entry import Kind, OverlayXattrs, ScanProblem, join
from overlayscope.scan.readahead import Detector, ReadAhead
from overlayscope.scan.stage import ColumnStage
from overlayscope.scan.xattrs import (
    HAVE_PROC_FD,
    OVERLAY_PREFIXES,
    QUIET_ERRNOS,
    overlay_names,
    path_prefix,
    read_overlay_xattrs,
)

# name, kind, mode, uid, gid, size, blocks, mtime_ns, ctime_ns, ino, nlink, rdev, target, xattrs
Record: TypeAlias = tuple[
    str, Kind,
    int, int, int, int, int, int, int, int, int, int,
    "str | None", "OverlayXattrs | None",
]  # fmt: skip

BATCH = 4096  # records per `Sink.entries` call: bounds memory for a huge directory
FD_WINDOW = 32  # directory fds held open along the current path (plus the root's)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
_VANISHED = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ESTALE})
_PERMISSION = frozenset({errno.EACCES, errno.EPERM})
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
        """Called per directory and per batch: report progress, honour cancel (may raise)."""


@runtime_checkable
class ColumnSink(Sink, Protocol):
    """A sink that takes the C helper's listings column by column (`IndexBuilder`):
    the walker then calls `listed` where it would call `entries`."""

    stage: ColumnStage

    def listed(
        self,
        dir_path: str,
        count: int,
        dirs: list[tuple[int, str, int, int]],
        rdevs: list[tuple[int, int]],
        targets: list[tuple[int, bytes]],
        xattrs: list[tuple[int, OverlayXattrs, Kind]],
        wide_times: list[tuple[int, int, int]],
    ) -> None:
        """`count` more children of `dir_path`, staged in `stage` (see builder.py)."""


def problem_for(path: str, exc: OSError) -> ScanProblem:
    """Classify an OSError met at `path` as vanished / permission / error."""
    if exc.errno in _VANISHED:
        kind = "vanished"
    elif exc.errno in _PERMISSION:
        kind = "permission"
    else:
        kind = "error"
    return ScanProblem(path, kind, exc.strerror or str(exc))


def _errno_problem(path: str, code: int) -> ScanProblem:
    """`problem_for` an errno the C helper returned."""
    return problem_for(path, OSError(code, os.strerror(code)))


def _replaced(path: str) -> ScanProblem:
    return ScanProblem(path, "vanished", "replaced while scanning")


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


def walk_tree(content_dir: str, sink: Sink, *, xattrs: bool = True) -> None:
    """Walk `content_dir` depth-first, parents before children, delivering to `sink`.

    With `xattrs=False`, extended attributes are read only where they change what a
    byte count sees, on zero-size regular files (which may be xattr whiteouts): one
    syscall an entry less, for callers that only count bytes. Opaque dirs are then
    plain `DIR`s, and no other entry carries `xattrs`.

    Filesystem errors become `ScanProblem`s, never exceptions; a root that
    cannot be opened gives one problem at "/" and nothing else. Exceptions
    raised by the sink (Cancelled) propagate, and every fd is closed.
    """
    _Walk(content_dir, sink, xattrs).run()


class _Walk:
    def __init__(self, content_dir: str, sink: Sink, read_xattrs: bool = True) -> None:
        self.content_dir = content_dir
        self.read_xattrs = read_xattrs
        self.sink = sink
        self.count = 0
        self.stack: list[_Frame] = []
        self.column_sink: ColumnSink | None = sink if isinstance(sink, ColumnSink) else None
        # open, check and list a subdir in one call: the helper names entries by /proc
        self.descend: Any = (
            native.listdir.descend
            if native.listdir is not None and self.column_sink is not None and HAVE_PROC_FD
            else None
        )
        self.detector = Detector()
        self.cold = Detector.forced()  # start a read-ahead at the next directory
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
        xattrs = read_overlay_xattrs(overlay_names(fd), fd) if self.read_xattrs else None
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
        if self.descend is not None:
            self._descend_native(top, path, name, dev, ino, self.descend)
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

    def _descend_native(
        self, top: _Frame, path: str, name: str, dev: int, ino: int, descend: Any
    ) -> None:
        """`_descend` in one call of the C helper: open, check, and the first listing."""
        assert self.column_sink is not None
        xmode = native.XATTRS_ALL if self.read_xattrs else native.XATTRS_EMPTY_FILES
        got = descend(top.fd, name, dev, ino, xmode, BATCH, self.column_sink.stage.buffers)
        if got is None:
            self.sink.problem(_replaced(path))
            return
        if type(got) is int:
            self.sink.problem(_errno_problem(path, -got))
            return
        fd, first = got
        frame = _Frame(path, name, fd, dev, ino)
        self.stack.append(frame)
        self._keep_fd_window()
        assert native.listdir is not None
        frame.pending = self._list_columns(
            frame, self.column_sink, native.listdir.list_dir_columns, first
        )

    def _same(self, fd: int, frame: _Frame) -> bool:
        """Is the dir we opened the one we listed? A swap means the old one vanished."""
        try:
            st = os.fstat(fd)
        except OSError as exc:
            self.sink.problem(problem_for(frame.path, exc))
            return False
        if (st.st_dev, st.st_ino) != (frame.dev, frame.ino):
            self.sink.problem(_replaced(frame.path))
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
            if not ok:
                stack[top].pending.clear()
                break
        # close again what lies below the window; the main loop closes the rest
        for k in range(j + 1, max(j + 1, top + 1 - FD_WINDOW)):
            if stack[k].fd >= 0:
                os.close(stack[k].fd)
                stack[k].fd = -1
        return stack[top].fd >= 0

    def _list(self, frame: _Frame) -> list[tuple[str, int, int]]:
        """Emit the entries of one open directory; return its subdirs, reversed."""
        if native.listdir is not None and self.column_sink is not None:
            return self._list_columns(frame, self.column_sink, native.listdir.list_dir_columns)
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
                            xnames = [n for n in xnames if n.startswith(OVERLAY_PREFIXES)]
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

    def _list_columns(
        self, frame: _Frame, sink: ColumnSink, list_dir_columns: Any, first: Any = None
    ) -> list[tuple[str, int, int]]:
        """`_list` with the C helper, for an index: it writes into the builder's stage.

        One difference, in a race only: an entry whose overlay xattrs cannot be read
        after they were listed (it vanished meanwhile) keeps its lstat facts here,
        without xattrs, beside the problem; the Python listing drops it."""
        fd = frame.fd
        dir_path = frame.path
        if HAVE_PROC_FD:  # the helper names entries by /proc/self/fd/N/: no path to build
            xprefix, bprefix = f"/proc/self/fd/{fd}/", b""
        else:
            xprefix = path_prefix(
                fd, self.content_dir + dir_path if dir_path != "/" else self.content_dir
            )
            bprefix = os.fsencode(xprefix)
        prefix = "/" if dir_path == "/" else dir_path + "/"
        xmode = native.XATTRS_ALL if self.read_xattrs else native.XATTRS_EMPTY_FILES
        subdirs: list[tuple[str, int, int]] = []
        sink.tick(self.count, dir_path)
        done = False
        detector = self.detector
        buffers = sink.stage.buffers
        while not done:
            if first is not None:  # read by `descend` with the open
                batch, first = first, None
            else:
                batch = list_dir_columns(fd, bprefix, xmode, BATCH, buffers)
            count, rdevs, targets, dirs, xattr_names, wide, errors, read_errno, done = batch
            if not detector.decided and detector.cold(count + len(errors)):
                self.cold = True
            for name, code in errors:
                sink.problem(_errno_problem(prefix + name, code))
            xattrs: list[tuple[int, OverlayXattrs, Kind]] = []
            for i, name, names, mode, size, rdev in xattr_names:
                try:
                    found = read_overlay_xattrs(names, xprefix + name)
                except OSError as exc:
                    sink.problem(problem_for(prefix + name, exc))
                    continue
                if found is not None:
                    xattrs.append((i, found, classify(mode, rdev, size, found)))
            subdirs += [(name, dev, ino) for _, name, dev, ino in dirs]
            if read_errno:
                sink.problem(_errno_problem(dir_path, read_errno))
            self.count += count
            sink.listed(dir_path, count, dirs, rdevs, targets, xattrs, wide)
            if not done:
                sink.tick(self.count, dir_path)
        subdirs.reverse()
        return subdirs
