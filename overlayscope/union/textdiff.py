"""A changed file against the version beneath: a unified diff for text, sizes and digests always."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from overlayscope.errors import PathNotFound
from overlayscope.scan.entry import Kind, join, parent_of
from overlayscope.union.content import NotARegularFile, iter_chunks, open_in_layer
from overlayscope.union.provenance import StackHit
from overlayscope.union.resolve import resolve_merged
from overlayscope.union.stack import LayerStack, normalize

MAX_TEXT_BYTES = 4 << 20
_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One side of a diff: which layer provides it and what it holds."""

    layer_id: str
    role: str
    kind: str
    size: int
    sha256: str | None  # of the file data, or of the target for a symlink; None for other kinds
    target: str | None = None  # symlinks


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The merged `path` in the stack against the stack without its top layer.

    `old` is None for an added path, `new` for a deleted one. `text` is a
    unified diff when both sides are text (UTF-8, no NUL) and small enough;
    otherwise it is None and `note` says why, and the digests tell the rest.
    """

    path: str
    old: FileVersion | None
    new: FileVersion | None
    identical: bool
    binary: bool
    text: str | None
    note: str | None = None


def unified_diff(
    stack: LayerStack, path: str, *, context: int = 3, max_text_bytes: int = MAX_TEXT_BYTES
) -> FileDiff:
    """Diff the file at merged `path` against the version beneath the top layer.

    The last component of `path` is taken literally (as `docker diff` lists it): a
    symlink is compared by its target, never followed. Symlinks in its directories are
    resolved inside the container, as `cat` does (a loop raises `UnsafePath`), and both
    sides are read at the path they lead to. Directories and other non-files raise
    `NotARegularFile`; a path on neither side raises `PathNotFound`.
    """
    path = _resolve_dirs(stack, normalize(path))
    new_hit = stack.winner(path)
    old_hit = stack.below().winner(path)  # positions in `below` are one less than in `stack`
    if new_hit is None and old_hit is None:
        raise PathNotFound(f"{path}: neither in the container nor beneath it")
    if not any(_diffable(hit) for hit in (new_hit, old_hit)):
        raise NotARegularFile(f"{path}: not a regular file or symlink on either side")
    new = _Side(stack, new_hit, max_text_bytes)
    old = _Side(stack.below(), old_hit, max_text_bytes)
    identical = (
        old.version is not None
        and new.version is not None
        and old.version.kind == new.version.kind
        and old.version.sha256 == new.version.sha256
    )
    binary = old.binary or new.binary
    text: str | None = None
    note: str | None = None
    if binary:
        note = "binary data: compare the sizes and sha256 digests"
    elif old.raw is None or new.raw is None:
        note = f"larger than {max_text_bytes} bytes: compare the sizes and sha256 digests"
    else:
        lines = difflib.unified_diff(
            old.raw.decode().splitlines(keepends=True),
            new.raw.decode().splitlines(keepends=True),
            fromfile=f"{path}\t({old.label})",
            tofile=f"{path}\t({new.label})",
            n=context,
        )
        text = "".join(_terminated(lines))
    return FileDiff(path, old.version, new.version, identical, binary, text, note)


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


def _terminated(lines: Iterable[str]) -> Iterator[str]:
    # difflib leaves a last line without its newline; say so, as diff(1) does.
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


class _Side:
    """One side of the diff, read once through the layer it lives in.

    `raw` holds the data (a symlink's target) when it is at most
    `max_text_bytes`; larger files are only streamed into the digest.
    """

    def __init__(self, stack: LayerStack, hit: StackHit | None, max_text_bytes: int) -> None:
        # `stack` is the one `hit` was looked up in: its position indexes it.
        self.label = f"layer {hit.layer_id}" if hit else "absent"
        self.raw: bytes | None = b""
        self.binary = False
        self.version: FileVersion | None = None
        if hit is None:
            return
        entry = hit.entry
        sha256: str | None = None
        if entry.kind is Kind.SYMLINK:
            self.raw = (entry.target or "").encode("utf-8", "surrogateescape")
            sha256 = hashlib.sha256(self.raw).hexdigest()
        elif entry.kind is Kind.FILE:
            sha256 = self._read(stack.layers[hit.position].content_dir, entry.path, max_text_bytes)
        self.version = FileVersion(
            layer_id=hit.layer_id,
            role=hit.role,
            kind=str(entry.kind),
            size=entry.size,
            sha256=sha256,
            target=entry.target,
        )
        if self.raw is not None:
            try:
                self.raw.decode()
            except UnicodeDecodeError:
                self.binary = True

    def _read(self, content_dir: str, path: str, max_text_bytes: int) -> str:
        digest = hashlib.sha256()
        kept: list[bytes] = []
        size = 0
        with open_in_layer(content_dir, path) as f:
            for chunk in iter_chunks(f):
                if size == 0 and b"\0" in chunk[:_SNIFF]:
                    self.binary = True
                digest.update(chunk)
                size += len(chunk)
                if size <= max_text_bytes:
                    kept.append(chunk)
        self.raw = b"".join(kept) if size <= max_text_bytes else None
        return digest.hexdigest()
