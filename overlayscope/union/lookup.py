"""The kernel's overlayfs lookup, replayed over scanned layers.

This mirrors `ovl_lookup()` with redirect_dir and metacopy off, as Docker
mounts overlay2: a child name is looked up only in the layers whose directory
at the parent path is part of the parent's merge, top → bottom, and

- a whiteout ends the lookup (the name is gone from there down);
- a non-directory found first wins and ends the lookup;
- a directory found first wins; directories further down merge into it until
  an opaque directory (which still merges its own contents) ends the merge;
- a non-directory found beneath a directory is ignored and ends the merge;
- the `overlay.opaque` xattr on a layer's root is ignored (the root always
  merges every layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from overlayscope.record import field, record
from overlayscope.scan.entry import Entry, Kind, LayerIndex, ScanProblem
from overlayscope.union.provenance import (
    Blocker,
    BlockerKind,
    HitState,
    StackHit,
    hidden_state,
)
from overlayscope.union.unread import unread_at, unread_problems


@record(eq=False)
class StackLayer:
    """One layer of a stack: its id, the role the caller gives it, its scanned diff tree."""

    id: str
    role: str
    index: LayerIndex
    # The parts of the layer its scan could not read, by path (`unread.py`).
    unread: Mapping[str, ScanProblem] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unread", unread_problems(self.index))

    @property
    def content_dir(self) -> str:
        return self.index.content_dir


@record
class Resolution:
    """The outcome of one lookup: the hits at a path and the dirs merged there."""

    path: str
    hits: tuple[StackHit, ...]  # top → bottom, only the layers that hold the path
    winner: StackHit | None
    merge: tuple[int, ...]  # positions of the dirs merged here, winner first; () for non-dirs
    # Positions of the layers the lookup reached whose content here could not be read
    # (`unread.py`), top first: the hits beneath the first of them are as if it held nothing.
    unknown: tuple[int, ...] = ()

    @property
    def visible(self) -> bool:
        return self.winner is not None

    @property
    def known(self) -> bool:
        """Whether the winner (or that nothing shows) is certain: no layer above it could
        not be read here. The merge beneath a known dir may still be partly unknown."""
        if not self.unknown:
            return True
        return self.winner is not None and self.winner.position < self.unknown[0]

    @property
    def is_dir(self) -> bool:
        return self.winner is not None and self.winner.entry.kind.is_dir

    def blocker_at(self, position: int) -> Blocker | None:
        """What hides this path in the layer at `position` (children inherit it)."""
        for hit in self.hits:
            if hit.position == position:
                if hit.state is HitState.WHITEOUT:
                    return _blocker(hit, BlockerKind.WHITEOUT)
                return hit.hidden_by
        return None


def _blocker(hit: StackHit, kind: BlockerKind) -> Blocker:
    return Blocker(layer_id=hit.layer_id, role=hit.role, path=hit.entry.path, kind=kind)


def resolve_root(layers: Sequence[StackLayer]) -> Resolution:
    """The merged root: every layer's diff root merges, whatever xattrs it carries."""
    hits: list[StackHit] = []
    unknown: list[int] = []
    for pos, layer in enumerate(layers):
        entry = layer.index.get("/")
        if entry is None:
            if unread_at(layer, "/"):
                unknown.append(pos)  # the layer's root could not be opened
            continue
        state = HitState.WINS if not hits else HitState.MERGED
        hits.append(StackHit(layer.id, layer.role, pos, entry, state))
    winner = hits[0] if hits else None
    return Resolution("/", tuple(hits), winner, tuple(h.position for h in hits), tuple(unknown))


def resolve_child(layers: Sequence[StackLayer], parent: Resolution, path: str) -> Resolution:
    """Look `path` up in the layers merged at its parent, as overlayfs does."""
    found: dict[int, StackHit] = {}
    winner: StackHit | None = None
    merge: list[int] = []
    unknown: list[int] = []
    stop: Blocker | None = None

    # A layer whose content at the parent is unknown is unknown here too (it holds nothing
    # the scan saw there): it takes its place among the merged ones, top → bottom.
    order = parent.merge if not parent.unknown else sorted({*parent.merge, *parent.unknown})
    for pos in order:
        layer = layers[pos]
        entry = layer.index.get(path)
        if entry is None:
            # Unread: what it holds here might hide, or be, what the layers beneath show.
            if stop is None and (pos in parent.unknown or unread_at(layer, path)):
                unknown.append(pos)
            continue
        if stop is not None:
            found[pos] = _hit(layer, pos, entry, hidden_state(stop.kind), stop)
            continue
        if entry.kind is Kind.WHITEOUT:
            hit = _hit(layer, pos, entry, HitState.WHITEOUT)
            stop = _blocker(hit, BlockerKind.WHITEOUT)
        elif entry.kind.is_dir:
            if winner is None:
                hit = winner = _hit(layer, pos, entry, HitState.WINS)
            else:
                hit = _hit(layer, pos, entry, HitState.MERGED)
            merge.append(pos)
            if entry.kind is Kind.OPAQUE_DIR:
                stop = _blocker(hit, BlockerKind.OPAQUE_DIR)
        elif winner is None:
            hit = winner = _hit(layer, pos, entry, HitState.WINS)
            stop = _blocker(hit, BlockerKind.FILE)
        else:
            # A non-dir beneath a dir: overlayfs ignores it and looks no further.
            hit = _hit(layer, pos, entry, HitState.HIDDEN_BY_DIR, _blocker(winner, BlockerKind.DIR))
            stop = _blocker(hit, BlockerKind.FILE)
        found[pos] = hit

    # Layers outside the parent's merge can still hold the path; they are hidden
    # by whatever hides the parent in that layer. Only a layer holding the parent as a
    # dir can (`parent.hits` lists every layer holding it): a wide dir costs one lookup
    # per layer that has it, not one per layer of the stack.
    merged_at_parent = set(parent.merge)
    for hit_at_parent in parent.hits:
        pos = hit_at_parent.position
        if pos in merged_at_parent or not hit_at_parent.entry.kind.is_dir:
            continue
        layer = layers[pos]
        entry = layer.index.get(path)
        if entry is None:
            continue
        found[pos] = _hit(layer, pos, entry, HitState.HIDDEN_BY_PARENT, parent.blocker_at(pos))

    hits = tuple(found[pos] for pos in sorted(found))
    return Resolution(path, hits, winner, tuple(merge), tuple(unknown))


def _hit(
    layer: StackLayer,
    pos: int,
    entry: Entry,
    state: HitState,
    hidden_by: Blocker | None = None,
) -> StackHit:
    return StackHit(layer.id, layer.role, pos, entry, state, hidden_by)
