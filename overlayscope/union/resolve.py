"""Following symlinks inside the merged view, as if chrooted into the container.

An absolute target, or `..` past the top, lands on the container's root, never
the host's. More than 40 symlinks in one resolution (the kernel's MAXSYMLINKS)
is a loop or an over-long chain: `UnsafePath`. The data is then read from the
winning layer through `open_in_layer`, so no symlink in the evidence is ever
followed by the operating system.
"""

from __future__ import annotations

from typing import BinaryIO

from overlayscope.errors import PathNotFound, UnsafePath
from overlayscope.record import record
from overlayscope.scan.entry import Entry, Kind
from overlayscope.union.content import NotARegularFile, open_in_layer, type_name
from overlayscope.union.stack import LayerStack, cannot_tell, overlay_notes
from overlayscope.union.unread import UnreadPart, dedupe

MAX_SYMLINKS = 40


@record
class ResolvedPath:
    """Where a merged-view path leads once its symlinks are resolved inside the container."""

    requested: str
    path: str  # the merged path with no symlink left in it
    entry: Entry
    layer_id: str
    role: str
    content_dir: str
    symlinks: tuple[str, ...]  # the merged paths of the symlinks followed, in order
    notes: tuple[str, ...]  # overlay xattrs reported, never followed
    # Parts of layers that could not be read and that decide a step of the resolution
    # (a layer above a winner): the answer may be another file, or none (`unread.py`).
    unknown: tuple[UnreadPart, ...] = ()


def resolve_merged(stack: LayerStack, path: str, *, follow_final: bool = True) -> ResolvedPath:
    """Resolve `path` in the merged view, following symlinks only inside the stack."""
    todo = _names(path)
    todo.reverse()  # a stack of names still to walk, next one last
    done: list[str] = []
    followed: list[str] = []
    unknown: list[UnreadPart] = []
    if not todo:
        return _resolved(stack, path, "/", followed, unknown)
    while todo:
        name = todo.pop()
        if name == ".":
            continue
        if name == "..":
            # Re-rooted: `..` at the container root stays at the root.
            if done:
                done.pop()
            continue
        here = "/" + "/".join([*done, name])
        res = stack.resolve(here)
        unknown.extend(stack.unread_at(here, above_winner=True))
        if res.winner is None:
            if unknown:
                raise cannot_tell(f"{path}: {here}", unknown)
            raise PathNotFound(f"{path}: {here} does not exist in the merged view")
        entry = res.winner.entry
        if entry.kind is Kind.SYMLINK and (todo or follow_final):
            followed.append(here)
            if len(followed) > MAX_SYMLINKS:
                raise UnsafePath(
                    f"{path}: more than {MAX_SYMLINKS} symlinks (a loop or an over-long chain)",
                    hint="look at the chain with `provenance` on each link",
                )
            target = entry.target or ""
            if not target:
                raise PathNotFound(f"{path}: {here} is a symlink with an empty target")
            if target.startswith("/"):
                done = []
            todo.extend(reversed(_names(target)))
            continue
        if todo and not entry.kind.is_dir:
            raise PathNotFound(f"{path}: {here} is not a directory")
        done.append(name)
    return _resolved(stack, path, "/" + "/".join(done), followed, unknown)


def _names(path: str) -> list[str]:
    return [name for name in path.split("/") if name]


def _resolved(
    stack: LayerStack,
    requested: str,
    path: str,
    followed: list[str],
    unknown: list[UnreadPart],
) -> ResolvedPath:
    res = stack.resolve(path)
    unknown.extend(stack.unread_at(path, above_winner=True))
    winner = res.winner
    if winner is None:
        if unknown:
            raise cannot_tell(requested, unknown)
        raise PathNotFound(f"{requested}: no such path in the merged view")
    layer = stack.layers[winner.position]
    return ResolvedPath(
        requested=requested,
        path=path,
        entry=winner.entry,
        layer_id=layer.id,
        role=layer.role,
        content_dir=layer.content_dir,
        symlinks=tuple(followed),
        notes=tuple(overlay_notes(winner)),
        unknown=tuple(dedupe(unknown)),
    )


def open_merged(stack: LayerStack, path: str) -> tuple[BinaryIO, ResolvedPath]:
    """Open the regular file the merged `path` leads to, from the layer that provides it.

    A metacopy upper (never made by Docker) is read as it is in its own layer;
    its data is not fetched from below: the note in `ResolvedPath.notes` says so.
    """
    where = resolve_merged(stack, path)
    if where.entry.kind is not Kind.FILE:
        raise NotARegularFile(f"{path}: {where.path} is {type_name(where.entry.mode)}")
    return open_in_layer(where.content_dir, where.entry.path), where


def read_merged(stack: LayerStack, path: str, *, max_bytes: int | None = None) -> bytes:
    """The data of the file the merged `path` leads to, at most `max_bytes` of it."""
    f, _ = open_merged(stack, path)
    with f:
        return f.read() if max_bytes is None else f.read(max_bytes)
