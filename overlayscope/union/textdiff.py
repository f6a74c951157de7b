"""A changed file against the version beneath: a unified diff for text, sizes and digests always."""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator

from overlayscope.errors import PathNotFound
from overlayscope.names import printable
from overlayscope.record import record
from overlayscope.scan.entry import Kind, join, parent_of
from overlayscope.union.content import NotARegularFile, open_layer_fd, same_content
from overlayscope.union.extents import DEFAULT_MAX_HOLE_BYTES, TooSparse, hash_fd
from overlayscope.union.provenance import StackHit
from overlayscope.union.resolve import resolve_merged
from overlayscope.union.stack import LayerStack, cannot_tell, normalize

MAX_TEXT_BYTES = 4 << 20
_SNIFF = 8192


@record
class FileVersion:
    """One side of a diff: which layer provides it and what it holds."""

    layer_id: str
    role: str
    kind: str
    size: int
    sha256: str | None  # of the file data, or of the target for a symlink; None for other kinds
    target: str | None = None  # symlinks
    type: str = "file"  # what lstat says: file, dir, symlink, fifo, socket, char-device...


@record
class FileDiff:
    """The merged `path` in the stack against the stack without its top layer.

    `old` is None for an added path, `new` for a deleted one. `text` is a
    unified diff when both sides are text (UTF-8, no NUL) and small enough;
    otherwise it is None and `note` says why, and the digests tell the rest
    (or, for a fifo, socket, device or dir on one side, that it has no content).
    """

    path: str
    old: FileVersion | None
    new: FileVersion | None
    identical: bool
    binary: bool
    text: str | None
    note: str | None = None


def unified_diff(
    stack: LayerStack,
    path: str,
    *,
    context: int = 3,
    max_text_bytes: int = MAX_TEXT_BYTES,
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES,
) -> FileDiff:
    """Diff the file at merged `path` against the version beneath the top layer.

    The last component of `path` is taken literally (as `docker diff` lists it): a
    symlink is compared by its target, never followed. Symlinks in its directories are
    resolved inside the container, as `cat` does (a loop raises `UnsafePath`), and both
    sides are read at the path they lead to. Directories and other non-files raise
    `NotARegularFile` when neither side is a file or symlink; a file replaced by one (or
    one replaced by a file) is a diff whose `note` says what each side is. A path on
    neither side raises `PathNotFound`. A sparse file's holes are never read (its digest
    feeds them as zeros; past `max_hole_bytes` of holes it is not hashed, and the note says
    so), and two files of one size are compared by extents when a digest is missing.
    """
    path = _resolve_dirs(stack, normalize(path))
    new_hit = stack.winner(path)
    old_hit = stack.below().winner(path)  # positions in `below` are one less than in `stack`
    if new_hit is None and old_hit is None:
        if unread := stack.unread_at(path, above_winner=True):  # a layer that was not read
            raise cannot_tell(path, unread)
        raise PathNotFound(f"{path}: neither in the container nor beneath it")
    if not any(_diffable(hit) for hit in (new_hit, old_hit)):
        now, beneath = (_what(_type(h.entry.mode)) if h else "absent" for h in (new_hit, old_hit))
        raise NotARegularFile(
            f"{path} is {now} now, {beneath} beneath: not a regular file or symlink on "
            "either side (nothing with content to compare)"
        )
    new = _Side(stack, new_hit, max_text_bytes, max_hole_bytes)
    old = _Side(stack.below(), old_hit, max_text_bytes, max_hole_bytes)
    identical = _identical(old, new)
    binary = old.binary or new.binary
    text: str | None = None
    notes: list[str] = []
    if old.special or new.special:
        notes.append(
            f"special file: {path} is {new.what} now, {old.what} beneath; only regular "
            "files and symlinks have content to compare"
        )
    elif binary:
        digests = " and sha256 digests" * (old.note is None and new.note is None)
        notes.append(f"binary data: compare the sizes{digests}")
    elif old.raw is None or new.raw is None:
        notes.append(f"larger than {max_text_bytes} bytes: compare the sizes and sha256 digests")
    else:
        lines = difflib.unified_diff(
            old.raw.decode().splitlines(keepends=True),
            new.raw.decode().splitlines(keepends=True),
            fromfile=f"{path}\t({old.label})",
            tofile=f"{path}\t({new.label})",
            n=context,
        )
        text = "".join(_terminated(lines))
    if old.note and old.note == new.note:
        notes.append(f"beneath and now: {old.note}")
    else:
        notes += [f"{label}: {n}" for label, n in (("beneath", old.note), ("now", new.note)) if n]
    note = "; ".join(notes) or None
    return FileDiff(path, old.version, new.version, identical, binary, text, note)


def _identical(old: _Side, new: _Side) -> bool:
    a, b = old.version, new.version
    if a is None or b is None or a.kind != b.kind or old.special or new.special:
        return False
    if a.sha256 is not None and b.sha256 is not None:
        return a.sha256 == b.sha256
    if a.kind != Kind.FILE or a.size != b.size or old.where is None or new.where is None:
        return False
    # a digest left out (too many holes): the files themselves, by extents
    return same_content(*old.where, *new.where)


def _resolve_dirs(stack: LayerStack, path: str) -> str:
    """`path` with the symlinks of its parent dirs resolved in the merged view."""
    parent = parent_of(path)
    if parent == "/":
        return path
    try:
        where = resolve_merged(stack, parent)
    except PathNotFound:
        return path  # a dir the container deleted: the version beneath is at the literal path
    return join(where.path, path.rsplit("/", 1)[-1])


def _diffable(hit: StackHit | None) -> bool:
    return hit is not None and hit.entry.kind in (Kind.FILE, Kind.SYMLINK)


NO_NEWLINE = "\\ No newline at end of file"  # diff(1)'s words, one backslash


def _terminated(lines: Iterable[str]) -> Iterator[str]:
    # difflib leaves a last line without its newline; say so, as diff(1) does.
    for line in lines:
        yield line if line.endswith("\n") else line + "\n" + NO_NEWLINE + "\n"


def shown_lines(text: str) -> Iterator[str]:
    """The lines of `FileDiff.text` for human output. The evidence's control characters
    are escaped; what the diff itself writes is kept, so `patch` applies it: the tab
    between a header's path and its label, the no-newline marker, single backslashes."""
    for i, line in enumerate(text.splitlines()):
        if line == NO_NEWLINE:
            yield line
        elif i < 2 and line.startswith(("--- ", "+++ ")) and "\t" in line:
            path, _, label = line.rpartition("\t")
            yield printable(path, backslash=False) + "\t" + printable(label, backslash=False)
        else:
            yield printable(line, backslash=False)


_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "char-device"),
    (stat.S_ISBLK, "block-device"),
)


_A = {
    "file": "a regular file",
    "dir": "a directory",
    "char-device": "a character device",
    "unknown": "an entry of unknown type",
}


def _type(mode: int) -> str:
    return next((name for test, name in _TYPES if test(mode)), "unknown")


def _what(kind: str) -> str:
    return _A.get(kind) or ("a " + kind.replace("-", " "))


class _Side:
    """One side of the diff, read once through the layer it lives in.

    `raw` holds the data (a symlink's target) when it is at most
    `max_text_bytes`; larger files are only streamed into the digest.
    `special`: a fifo, socket, device or dir, which has no content to compare.
    """

    def __init__(
        self,
        stack: LayerStack,
        hit: StackHit | None,
        max_text_bytes: int,
        max_hole_bytes: int | None,
    ) -> None:
        # `stack` is the one `hit` was looked up in: its position indexes it.
        self.label = f"layer {hit.layer_id}" if hit else "absent"
        self.raw: bytes | None = b""
        self.binary = False
        self.special = False
        self.what = "absent"
        self.note: str | None = None
        self.where: tuple[str, str] | None = None  # (content dir, path) of a regular file
        self.version: FileVersion | None = None
        if hit is None:
            return
        entry = hit.entry
        self.what = _what(_type(entry.mode))
        sha256: str | None = None
        if entry.kind is Kind.SYMLINK:
            self.raw = (entry.target or "").encode("utf-8", "surrogateescape")
            sha256 = hashlib.sha256(self.raw).hexdigest()
        elif entry.kind is Kind.FILE:
            self.where = (stack.layers[hit.position].content_dir, entry.path)
            sha256 = self._read(*self.where, max_text_bytes, max_hole_bytes)
        else:  # never opened: a fifo would block, a device would talk to the host
            self.special = True
            self.raw = None
        self.version = FileVersion(
            layer_id=hit.layer_id,
            role=hit.role,
            kind=str(entry.kind),
            size=entry.size,
            sha256=sha256,
            target=entry.target,
            type=_type(entry.mode),
        )
        if self.raw is not None:
            try:
                self.raw.decode()
            except UnicodeDecodeError:
                self.binary = True

    def _read(
        self, content_dir: str, path: str, max_text_bytes: int, max_hole_bytes: int | None
    ) -> str | None:
        """The digest of the file's logical content (holes unread), keeping it in `raw` when
        small; None, with a note, for a file with more holes than `max_hole_bytes`."""
        digest = hashlib.sha256()
        keep = _Keep(max_text_bytes)
        fd = open_layer_fd(content_dir, path)
        try:
            hash_fd(fd, [digest, keep], path=path, max_hole_bytes=max_hole_bytes)
        except TooSparse as exc:
            self.note = (
                f"not hashed: a sparse file with more than {exc.limit} bytes of holes "
                "(a digest must process every zero)"
            )
            self.binary = True  # its holes are NULs
            self.raw = None
            return None
        finally:
            os.close(fd)
        self.binary = keep.binary
        self.raw = keep.data()
        return digest.hexdigest()


class _Keep:
    """Fed like a digest: sniffs the first piece for NUL, keeps up to `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.binary = False
        self.kept: list[bytes] = []

    def update(self, piece: bytes | memoryview, /) -> None:
        if self.size == 0 and b"\0" in bytes(piece[:_SNIFF]):
            self.binary = True
        self.size += len(piece)
        if self.size <= self.limit:
            self.kept.append(bytes(piece))
        else:
            self.kept = []

    def data(self) -> bytes | None:
        return b"".join(self.kept) if self.size <= self.limit else None
