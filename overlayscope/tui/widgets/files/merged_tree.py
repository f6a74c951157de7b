"""The merged view of an image up to one layer (dive's "aggregated" mode), one directory at a time.

Every visible entry is listed with the layer it comes from; what the chosen
layer itself adds or changes is coloured as in the change tree, and what it
deletes is shown struck through where it used to be.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.text import Text

from overlayscope.errors import OverlayscopeError
from overlayscope.scan import parent_of
from overlayscope.tui.change_index import ChangeIndex, Order
from overlayscope.tui.text import KIND_STYLE, kind_letter, safe, size
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.union import ChangeKind, LayerStack, MergedEntry


class MergedTree(PagedTree):
    """`stack.listdir` on expand, plus the chosen layer's deletions from its `ChangeIndex`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stack = LayerStack(())
        self.index = ChangeIndex(())
        self.keep: set[str] | None = None
        self._keep_dirs: set[str] = set()
        self.order = Order.NAME
        self._entries: dict[str, MergedEntry] = {}

    def load(
        self,
        stack: LayerStack,
        index: ChangeIndex,
        *,
        keep: set[str] | None = None,
        order: Order = Order.NAME,
    ) -> None:
        """Show `stack` (the layer on top, `layers[0]`, is the chosen one) and its changes."""
        self.stack = stack
        self.index = index
        self.keep = keep
        self._keep_dirs = {parent_of(p) for p in keep} if keep is not None else set()
        self.order = order
        self._entries = {}
        self.rebuild()

    def layer_number(self, position: int) -> int:
        """The layer's number counted from the image's base (0), as the layer table shows it."""
        return len(self.stack.layers) - 1 - position

    def child_paths(self, path: str) -> Sequence[str]:
        if not self.stack.layers:
            return []
        try:
            entries = self.stack.listdir(path)
        except OverlayscopeError:
            entries = []
        for entry in entries:
            self._entries[entry.path] = entry
        paths = [entry.path for entry in entries]
        listed = set(paths)
        for child in self.index.children(path):
            change = self.index.get(child)
            if change is not None and change.kind is ChangeKind.DELETED and child not in listed:
                paths.append(child)
        if self.keep is not None:
            paths = [p for p in paths if p in self.keep]
        if self.order is Order.SIZE:
            paths.sort(key=lambda p: (-self._entry_size(p), os.fsencode(p)))
        else:
            paths.sort(key=os.fsencode)
        return paths

    def _entry_size(self, path: str) -> int:
        entry = self._entries.get(path)
        if entry is not None:
            return 0 if entry.entry.kind.is_dir else entry.entry.size
        change = self.index.get(path)
        return change.size if change is not None else 0

    def expandable(self, path: str) -> bool:
        entry = self._entries.get(path)
        if entry is None or not entry.entry.kind.is_dir:
            return False
        return self.keep is None or path in self._keep_dirs

    def label_for(self, path: str) -> Text:
        name = path.rsplit("/", 1)[-1]
        entry = self._entries.get(path)
        change = self.index.get(path)
        text = Text(no_wrap=True)
        text.append(kind_letter(change.kind) if change is not None else Text(" "))
        text.append(" ")
        if entry is None:  # deleted by this layer
            text.append(safe(name, style=f"{KIND_STYLE[ChangeKind.DELETED]} strike"))
            return text
        kind = entry.entry.kind
        is_dir = kind.is_dir
        mine = entry.position == 0
        style = "bold" if mine else ""
        if change is not None and not (is_dir and change.kind is ChangeKind.CHANGED):
            style += f" {KIND_STYLE[change.kind]}"
        text.append(safe(name + ("/" if is_dir else ""), style=style))
        if kind.value == "symlink":
            text.append(" → ", style="dim")
            text.append(safe(entry.entry.target or "", style="cyan"))
        elif not is_dir:
            text.append(f"  {size(entry.entry.size)}", style="dim")
        if kind.value == "opaque-dir":
            text.append("  opaque", style="magenta")
        text.append(f"  L{self.layer_number(entry.position)}", style="dim")
        return text
