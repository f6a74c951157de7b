"""A walk's sink that makes one `split.Piece`: a whole layer, or a subtree of it.

Shared by this process's walks (parallel.py) and the workers' (worker.py): it builds
the columns (`IndexBuilder`), keeps the walk in progress so that subtrees can be handed
to other walks (`delegate`), and what the walk says about those (`spliced`).
"""

from __future__ import annotations

from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.columns import Columns
from overlayscope.scan.native_walk import Delegator
from overlayscope.scan.sizes import layer_sums
from overlayscope.scan.split import Part, Piece, Splice
from overlayscope.scan.walker import walk_part, walk_tree


class PieceSink(IndexBuilder):
    """Collects one walk of `content_dir` (`part` None) or of one subtree of it."""

    def __init__(self, content_dir: str, part: Part | None = None, cold: bool = False) -> None:
        super().__init__(content_dir)
        self.part = part
        self.cold = cold  # the page cache is cold: known before (a part), or found by the walk
        self.walk: Delegator | None = None  # while a C walk is under way
        self.splices: list[Splice] = []
        self._got_columns = False

    def adopt(self, columns: Columns) -> None:
        super().adopt(columns)
        self._got_columns = True

    def walking(self, walk: Delegator | None) -> None:
        self.walk = walk

    def spliced(self, splices: list[Splice]) -> None:
        self.splices = splices

    def cache_cold(self) -> None:
        self.cold = True

    def tick(self, entries: int, current: str) -> None:
        """Between steps (or dirs) of the walk: nothing here; subclasses serve."""

    def delegate(self) -> list[Part]:
        """Subtrees of the walk under way for other walks to read (none between walks),
        by their paths in the layer."""
        if self.walk is None:
            return []
        parts = self.walk.delegate()
        if self.part is None:
            return parts
        prefix = self.part[0] + b"/"  # the walk's paths start at the part's dir
        return [(prefix + rel, dev, ino) for rel, dev, ino in parts]

    def run(self, *, xattrs: bool, overlay_xattrs: str | None) -> None:
        """Walk the layer or the part into this sink."""
        if self.part is None:
            walk_tree(self.content_dir, self, xattrs=xattrs, overlay_xattrs=overlay_xattrs,
                      cold=self.cold)  # fmt: skip
        else:
            walk_part(self.content_dir, self.part, self, xattrs=xattrs,
                      overlay_xattrs=overlay_xattrs, cold=self.cold)  # fmt: skip

    def piece(self, *, sums: bool) -> Piece:
        """What the walk made; the columns' `LayerSums` made first with `sums`."""
        if self.part is None:
            columns: Columns | None = self.index.columns  # the pure-Python walk's too
        else:
            columns = self.columns if self._got_columns else None
        if sums and columns is not None:
            layer_sums(columns)
        return Piece(self.part[0] if self.part else b"", columns, self.problems, self.splices)
