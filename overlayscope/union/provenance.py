"""Where a path of the merged view comes from: the answer types.

For one path, every layer of a `LayerStack` that holds an entry there gets a
`StackHit` with a `HitState` saying what the kernel's overlayfs does with it,
and, when it is hidden, the `Blocker` (whiteout, opaque dir, non-dir, or a
higher directory) that hides it.
"""

from __future__ import annotations

from enum import StrEnum

from overlayscope.record import record
from overlayscope.scan.entry import Entry
from overlayscope.union.unread import UnreadPart


class HitState(StrEnum):
    """What overlayfs does with one layer's entry at a path."""

    WINS = "wins"  # the visible entry: its metadata (and, for a file, its data) is what you see
    MERGED = "merged"  # a dir beneath the winning dir; its children merge into the view
    WHITEOUT = "whiteout"  # a whiteout the lookup reached: it ends the lookup there
    HIDDEN_BY_WHITEOUT = "hidden-by-whiteout"
    HIDDEN_BY_OPAQUE = "hidden-by-opaque"  # an opaque dir above stops the merge
    HIDDEN_BY_FILE = "hidden-by-file"  # a non-dir above hides everything beneath it
    HIDDEN_BY_DIR = "hidden-by-dir"  # a non-dir beneath a dir: overlayfs ignores it and stops
    HIDDEN_BY_PARENT = "hidden-by-parent"  # an ancestor is hidden, or not a dir, at a higher layer
    # beneath a layer whose content here could not be read: shown or hidden, nobody can say
    # (`Provenance` only; lookups go on as if that layer held nothing)
    UNKNOWN = "unknown"

    @property
    def visible(self) -> bool:
        return self in (HitState.WINS, HitState.MERGED)


class BlockerKind(StrEnum):
    """The kind of entry that stops a lookup from reaching lower layers."""

    WHITEOUT = "whiteout"
    OPAQUE_DIR = "opaque-dir"
    FILE = "file"  # any non-directory: file, symlink, device, fifo, socket
    DIR = "dir"  # a directory above a non-directory of the same name


_HIDDEN_STATE = {
    BlockerKind.WHITEOUT: HitState.HIDDEN_BY_WHITEOUT,
    BlockerKind.OPAQUE_DIR: HitState.HIDDEN_BY_OPAQUE,
    BlockerKind.FILE: HitState.HIDDEN_BY_FILE,
    BlockerKind.DIR: HitState.HIDDEN_BY_DIR,
}


def hidden_state(kind: BlockerKind) -> HitState:
    """The state of an entry hidden, at the same path, by a blocker of this kind."""
    return _HIDDEN_STATE[kind]


@record
class Blocker:
    """The entry that hides lower layers: which layer, which path, what it is."""

    layer_id: str
    role: str
    path: str
    kind: BlockerKind


@record
class StackHit:
    """One layer's entry at a path, and what overlayfs does with it."""

    layer_id: str
    role: str
    position: int  # 0 is the top of the stack
    entry: Entry
    state: HitState
    hidden_by: Blocker | None = None  # set for every hidden-by-* state


@record
class Provenance:
    """Every layer holding `path`, top → bottom, which one wins and what hides the rest.

    `visible` is False when no entry shows at this path (a whiteout, or an
    ancestor that is hidden or not a directory). `hidden_by` is the blocker
    that ends the lookup at this path, or the ancestor blocker when the path
    is invisible because of a parent. `notes` lists overlay xattrs that
    overlayscope reports but never follows (redirect, metacopy).

    `unknown` lists the layers the lookup reached whose content at this path
    could not be read (`unread.py`), each with the part that could not be
    read. Every hit beneath the first of them is `HitState.UNKNOWN`; when that
    layer is above the winner, there is no `winner`, `visible` is False and
    `known` is False: whether anything shows cannot be told.
    """

    path: str
    visible: bool
    winner: StackHit | None
    stack: tuple[StackHit, ...]
    hidden: tuple[StackHit, ...]
    hidden_by: Blocker | None
    notes: tuple[str, ...] = ()
    unknown: tuple[UnreadPart, ...] = ()

    @property
    def known(self) -> bool:
        """Whether `visible` and `winner` are certain (the stack beneath a visible dir may
        still hold unknown hits: see `unknown`)."""
        if not self.unknown:
            return True
        return self.winner is not None and self.winner.position < self.unknown[0].position
