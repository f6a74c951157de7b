"""A stack of scanned layers and the merged view overlayfs would make of it."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence

from overlayscope.errors import PathNotFound, UnreadablePath
from overlayscope.record import field, record, replace
from overlayscope.scan.entry import Entry, LayerIndex, parent_of
from overlayscope.union.lookup import Resolution, StackLayer, resolve_child, resolve_root
from overlayscope.union.provenance import (
    Blocker,
    BlockerKind,
    HitState,
    Provenance,
    StackHit,
)
from overlayscope.union.unread import UnreadPart, part_of, stack_unread, unread_cause


class NotADirectory(PathNotFound):
    """A path that exists in the merged view but is not a directory."""

    title = "not a directory"


@record
class MergedEntry:
    """One entry of the merged view, tagged with the layer it comes from."""

    name: str
    path: str
    entry: Entry
    layer_id: str
    role: str
    position: int  # the layer's place in the stack, 0 is the top
    # False when a layer above `layer_id` could not be read at this path: it may hide or
    # replace this entry (`Resolution.known`)
    known: bool = True


def normalize(path: str) -> str:
    """An absolute, clean merged-view path; `..` never climbs above the root."""
    # normpath keeps a leading "//" (POSIX allows it a meaning); a merged path never has one.
    return posixpath.normpath("/" + path.lstrip("/"))


@record(slots=False, eq=False)
class LayerStack:
    """Layers top → bottom, as overlayfs stacks them: `layers[0]` is the upper (or top lower).

    Answers lookups exactly as the kernel would for a mount of these layers
    with redirect_dir and metacopy off (how Docker mounts overlay2); overlay
    xattrs that would point elsewhere are reported, never followed.
    """

    layers: tuple[StackLayer, ...]
    _dirs: dict[str, Resolution] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, layers: Iterable[StackLayer | tuple[str, str, LayerIndex]]) -> LayerStack:
        """Build a stack from `StackLayer`s or `(id, role, index)` tuples, top first."""
        built = tuple(
            layer if isinstance(layer, StackLayer) else StackLayer(*layer) for layer in layers
        )
        return cls(built)

    @property
    def top(self) -> StackLayer:
        """The upper layer (a container's rw layer)."""
        return self.layers[0]

    def below(self) -> LayerStack:
        """The stack without its top layer: "the version beneath" for changes."""
        return LayerStack(self.layers[1:])

    def layer(self, layer_id: str) -> StackLayer:
        """The layer with this id (KeyError if none)."""
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise KeyError(layer_id)

    # -- lookups ---------------------------------------------------------------

    def resolve(self, path: str) -> Resolution:
        """The full lookup outcome at `path` (every layer's hit and the merge)."""
        path = normalize(path)
        if path == "/":
            return self._resolve_dir("/")
        return resolve_child(self.layers, self._resolve_dir(parent_of(path)), path)

    def _resolve_dir(self, path: str) -> Resolution:
        # Parents are resolved once and kept: every child lookup starts from them.
        # Walk up to the nearest cached ancestor, then down: no recursion, any depth.
        missing: list[str] = []
        while path not in self._dirs:
            missing.append(path)
            if path == "/":
                break
            path = parent_of(path)
        for todo in reversed(missing):
            if todo == "/":
                self._dirs[todo] = resolve_root(self.layers)
            else:
                self._dirs[todo] = resolve_child(self.layers, self._dirs[parent_of(todo)], todo)
        return self._dirs[missing[0] if missing else path]

    def provenance(self, path: str) -> Provenance:
        """Every layer holding `path`, top → bottom, the winner, and what hides the rest;
        beneath a layer that could not be read there, `HitState.UNKNOWN` (`Provenance`)."""
        res = self.resolve(path)
        hits, winner = res.hits, res.winner
        if res.unknown:
            first = res.unknown[0]
            hits = tuple(
                replace(h, state=HitState.UNKNOWN, hidden_by=None) if h.position > first else h
                for h in hits
            )
            if winner is not None and winner.position > first:
                winner = None
        hidden = tuple(h for h in hits if not h.state.visible)
        return Provenance(
            path=res.path,
            visible=winner is not None,
            winner=winner,
            stack=hits,
            hidden=hidden,
            hidden_by=_first_blocker(hits),
            notes=tuple(note for hit in hits for note in overlay_notes(hit)),
            unknown=self._unread_parts(res),
        )

    def unread_at(self, path: str, *, above_winner: bool = False) -> tuple[UnreadPart, ...]:
        """The parts of layers the lookup of `path` reaches that could not be read (each
        the nearest one at or above `path` in its layer), top layer first: () when every
        layer that decides what `path` is was read. With `above_winner`, only those that
        make the winner (or that nothing shows) uncertain: the layers above it."""
        return self._unread_parts(self.resolve(path), above_winner=above_winner)

    def _unread_parts(
        self, res: Resolution, *, above_winner: bool = False
    ) -> tuple[UnreadPart, ...]:
        out = []
        for pos in res.unknown:
            if above_winner and res.winner is not None and pos > res.winner.position:
                break
            layer = self.layers[pos]
            cause = unread_cause(layer, res.path)
            if cause is not None:
                out.append(part_of(layer, pos, cause))
        return tuple(out)

    def unread(self) -> list[UnreadPart]:
        """Every part of every layer that could not be read, top layer first."""
        return stack_unread(self.layers)

    def unread_in_listing(self, path: str) -> tuple[UnreadPart, ...]:
        """What leaves `listdir(path)` unsure: the parts that make the dir itself unknown
        in some layer the lookup reaches, and, in the layers merged there, its listing or
        an entry of it that could not be read (then names may be missing)."""
        res = self.resolve(path)
        out = list(self._unread_parts(res))
        for pos in res.merge:
            layer = self.layers[pos]
            for where, problem in layer.unread.items():
                # its listing, or an entry of it that is not in the index (a dir of it that
                # could not be listed is a known entry: `listdir` of that dir says so)
                if where == res.path or (
                    where != "/" and parent_of(where) == res.path and layer.index.get(where) is None
                ):
                    out.append(part_of(layer, pos, problem))
        return tuple(out)

    def lookup(self, path: str) -> tuple[Entry, str] | None:
        """The visible entry at `path` and the id of the layer it comes from, or None."""
        winner = self.resolve(path).winner
        return None if winner is None else (winner.entry, winner.layer_id)

    def winner(self, path: str) -> StackHit | None:
        """The visible hit at `path`, with its layer's role and position."""
        return self.resolve(path).winner

    def listdir(self, path: str) -> list[MergedEntry]:
        """The merged listing of a directory; whiteouts and hidden names never appear."""
        res = self.resolve(path)
        if res.winner is None:
            if res.unknown:
                raise cannot_tell(res.path, self._unread_parts(res))
            raise PathNotFound(f"{res.path}: no such directory in the merged view")
        if not res.is_dir:
            raise NotADirectory(f"{res.path}: not a directory in the merged view")
        return [child for child, _ in self._children(res)]

    def walk(self) -> Iterator[MergedEntry]:
        """Every visible entry of the merged view in pre-order (parents first), "/" first."""
        root = self._resolve_dir("/")
        if root.winner is None:
            return
        yield _merged(root.winner, "/", root.known)
        # One lazy listing per open dir along the current path: memory stays O(depth).
        pending = [self._children(root)]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                pending.pop()
                continue
            child, child_res = step
            yield child
            if child_res.is_dir:
                pending.append(self._children(child_res))

    def resolutions(self) -> Iterator[Resolution]:
        """Every path any layer holds, visible or not, with every layer's hit, pre-order.

        For questions about what is hidden: bytes shadowed by later layers,
        whiteouts that hide nothing, copy-ups of files that were later deleted.
        """
        root = self._resolve_dir("/")
        yield root
        pending = [self._all_children(root)]
        while pending:
            res = next(pending[-1], None)
            if res is None:
                pending.pop()
                continue
            yield res
            if any(hit.entry.kind.is_dir for hit in res.hits):
                pending.append(self._all_children(res))

    def _all_children(self, res: Resolution) -> Iterator[Resolution]:
        names: dict[str, None] = {}
        for layer in self.layers:
            for child in layer.index.children.get(res.path, ()):
                names[child] = None
        for path in sorted(names, key=os.fsencode):
            yield resolve_child(self.layers, res, path)

    def _children(self, res: Resolution) -> Iterator[tuple[MergedEntry, Resolution]]:
        names: dict[str, None] = {}
        for pos in res.merge:
            for child in self.layers[pos].index.children.get(res.path, ()):
                names[child] = None
        for path in sorted(names, key=os.fsencode):
            child_res = resolve_child(self.layers, res, path)
            if child_res.winner is not None:
                yield _merged(child_res.winner, path, child_res.known), child_res


def _merged(hit: StackHit, path: str, known: bool = True) -> MergedEntry:
    name = "/" if path == "/" else path.rsplit("/", 1)[-1]
    return MergedEntry(name, path, hit.entry, hit.layer_id, hit.role, hit.position, known)


def cannot_tell(path: str, parts: Sequence[UnreadPart]) -> UnreadablePath:
    """The error for a path the readable layers do not show, where an unread one might."""
    first = parts[0] if parts else None
    where = f": {first.host_path} could not be read ({first.detail})" if first else ""
    return UnreadablePath(
        f"{path}: cannot tell whether it exists{where}",
        hint="part of a layer could not be read; run as root, or check the disk",
    )


def _first_blocker(hits: Sequence[StackHit]) -> Blocker | None:
    for hit in hits:
        if hit.state is HitState.WHITEOUT:
            return Blocker(hit.layer_id, hit.role, hit.entry.path, BlockerKind.WHITEOUT)
        if hit.hidden_by is not None:
            return hit.hidden_by
    return None


def overlay_notes(hit: StackHit) -> list[str]:
    """Overlay xattrs on a hit that overlayscope reports but does not follow."""
    xattrs = hit.entry.xattrs
    if xattrs is None:
        return []
    notes: list[str] = []
    where = f"{hit.entry.path} in layer {hit.layer_id}"
    if xattrs.redirect is not None:
        notes.append(
            f"{where} has {xattrs.namespace}.overlay.redirect={xattrs.redirect!r}: "
            "not followed (Docker mounts overlay2 with redirect_dir off)"
        )
    if xattrs.metacopy:
        notes.append(
            f"{where} has {xattrs.namespace}.overlay.metacopy: metadata only, its data "
            "lives in a lower layer (Docker mounts overlay2 with metacopy off)"
        )
    return notes
