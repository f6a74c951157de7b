"""Parts of a layer the scan could not read, and which answers they leave unknown.

The scanner keeps going past a dir it may not list or an entry it may not lstat
(`ScanProblem` kinds `permission`, `error`): the rest of the layer is indexed, that part
is simply not there. A stack must not read that absence as "nothing here": beneath a dir
of the upper layer that could not be listed, a lower file may be deleted (a whiteout the
scan never saw) or replaced. So every part the scan could not read is an `UnreadPart`,
and the lookups (`lookup.py`) carry the layers whose content at a path is unknown.

`vanished` problems are not unread parts: the entry was deleted or replaced while the
scan looked (a live container); what the scan saw afterwards is the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from overlayscope.record import record
from overlayscope.scan.entry import Kind, LayerIndex, ScanProblem, parent_of

if TYPE_CHECKING:
    from overlayscope.union.lookup import StackLayer

UNREAD_KINDS = frozenset({"permission", "error"})


@record
class UnreadPart:
    """A part of one layer the scan could not read: what that layer holds at `path`, or
    beneath it (a dir whose listing failed), is unknown.

    `path` is inside the layer, as the merged view spells it ("/" for the whole layer);
    `host_path` is where it is on the host. `kind` is the scan's (`permission`, `error`),
    `detail` the system's words (strerror).
    """

    layer_id: str
    role: str
    position: int  # the layer's place in the stack the part was found through; 0 is the top
    path: str
    host_path: str
    kind: str
    detail: str


def unread_problems(index: LayerIndex) -> dict[str, ScanProblem]:
    """The problems of a scanned layer that leave part of it unread, by path."""
    return {p.path: p for p in index.problems if p.kind in UNREAD_KINDS}


def host_path(content_dir: str, path: str) -> str:
    return content_dir if path == "/" else content_dir.rstrip("/") + path


def part_of(layer: StackLayer, position: int, problem: ScanProblem) -> UnreadPart:
    return UnreadPart(
        layer.id,
        layer.role,
        position,
        problem.path,
        host_path(layer.content_dir, problem.path),
        problem.kind,
        problem.detail,
    )


def unread_cause(layer: StackLayer, path: str) -> ScanProblem | None:
    """The unread part of `layer` that leaves `path` unknown: the nearest one at `path` or
    above it."""
    unread = layer.unread
    if not unread:
        return None
    while True:
        found = unread.get(path)
        if found is not None or path == "/":
            return found
        path = parent_of(path)


def unread_at(layer: StackLayer, path: str) -> bool:
    """Whether the scan could not tell what `layer` holds at `path`, given that it holds
    `path`'s parent (or `path` is "/"): nothing there in the index, and the entry or its
    parent's listing is what could not be read."""
    unread = layer.unread
    return bool(unread) and (path in unread or (path != "/" and parent_of(path) in unread))


def stack_unread(layers: Sequence[StackLayer]) -> list[UnreadPart]:
    """Every unread part of every layer, top layer first, each layer's by path."""
    return [
        part_of(layer, pos, layer.unread[path])
        for pos, layer in enumerate(layers)
        for path in sorted(layer.unread, key=_path_key)
    ]


def layer_unread(layer_id: str, role: str, index: LayerIndex) -> list[UnreadPart]:
    """The unread parts of one scanned layer (in no stack: position 0), by path."""
    unread = unread_problems(index)
    return [
        UnreadPart(layer_id, role, 0, p.path, host_path(index.content_dir, p.path), p.kind,
                   p.detail)
        for p in (unread[path] for path in sorted(unread, key=_path_key))
    ]  # fmt: skip


def unread_in_changes(layers: Sequence[StackLayer]) -> list[UnreadPart]:
    """The unread parts that leave a container's change list (the top layer over the rest,
    `changes.py`) unknown at and beneath their path.

    Any part of the top layer. A part of a lower layer only where the diff looks: both
    merged views are the same wherever the top layer holds nothing, so a lower part counts
    when the top layer holds its path (what that path was beneath is unknown), or when the
    nearest of its ancestors that the top layer holds is a whiteout or an opaque dir (a
    deletion: what it hides was not all seen), or, for an entry that could not be read at
    all, its parent, a dir (the diff compares that dir's entries; a dir that was seen but
    not listed is the same entry on both sides there).
    """
    if not layers:
        return []
    top = layers[0].index
    out = []
    for part in stack_unread(layers):
        seen = layers[part.position].index.get(part.path) is not None
        if part.position == 0 or _diff_looks_at(top, part.path, seen):
            out.append(part)
    return out


def _diff_looks_at(top: LayerIndex, path: str, seen: bool) -> bool:
    at = path
    while True:
        entry = top.get(at)
        if entry is not None:
            if at == path or entry.kind in (Kind.WHITEOUT, Kind.OPAQUE_DIR):
                return True
            return not seen and entry.kind.is_dir and at == parent_of(path)
        if at == "/":
            return False
        at = parent_of(at)


def dedupe(parts: Iterable[UnreadPart]) -> list[UnreadPart]:
    """`parts` once each (by layer and path), in the order first seen."""
    seen: set[tuple[str, str]] = set()
    out = []
    for part in parts:
        key = (part.layer_id, part.path)
        if key not in seen:
            seen.add(key)
            out.append(part)
    return out


def _path_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")
