"""The merged view of a stack (dive's "aggregated" mode), one directory at a time.

Every visible entry is listed with the layer it comes from; what the top layer itself
adds or changes is coloured as in the change tree, and what it deletes is shown struck
through where it used to be. Directories carry ncdu's figures once `merged_figures` has
walked the view (a worker; until then only files have a size).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from overlayscope.errors import OverlayscopeError
from overlayscope.scan import parent_of
from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.text import KIND_STYLE, kind_letter, safe, size
from overlayscope.tui.tree_model import BY_NAME, NodeStats, Sort, sort_paths
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.tui.widgets.files.tree_label import LabelParts
from overlayscope.union import ChangeKind, LayerStack, MergedEntry


class MergedTree(PagedTree):
    """`stack.listdir` on expand, plus the top layer's deletions from its `ChangeIndex`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stack = LayerStack(())
        self.index = ChangeIndex(())
        self.keep: set[str] | None = None
        self._keep_dirs: set[str] = set()
        self._entries: dict[str, MergedEntry] = {}
        self.figures: dict[str, NodeStats] = {}

    def load(
        self,
        stack: LayerStack,
        index: ChangeIndex,
        *,
        keep: set[str] | None = None,
        sort: Sort = BY_NAME,
        figures: dict[str, NodeStats] | None = None,
    ) -> None:
        """Show `stack` (`layers[0]` is the chosen layer, or the container's) and its changes."""
        self.stack = stack
        self.index = index
        self.keep = keep
        self._keep_dirs = {parent_of(p) for p in keep} if keep is not None else set()
        self.sort = sort
        self.figures = figures or {}
        self._entries = {}
        self.rebuild()

    def set_figures(self, figures: dict[str, NodeStats]) -> None:
        """The directories' figures, once walked: the lines say them from now on."""
        self.figures = figures
        self._invalidate()

    def layer_number(self, position: int) -> int:
        """The layer's number counted from the stack's base (0), as the layer table shows it."""
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
        return sort_paths(paths, self.sort, self.stats)

    def stats(self, path: str) -> NodeStats | None:
        entry = self._entries.get(path)
        if entry is None:
            return self.figures.get(path) if path == "/" else None  # "/" or a deletion
        if entry.entry.kind.is_dir:
            return self.figures.get(path)
        return NodeStats(entry.entry.size, 0, entry.entry.mtime_ns)

    def expandable(self, path: str) -> bool:
        entry = self._entries.get(path)
        if entry is None or not entry.entry.kind.is_dir:
            return False
        return self.keep is None or path in self._keep_dirs

    def label_parts(self, path: str) -> LabelParts:
        name = path.rsplit("/", 1)[-1]
        entry = self._entries.get(path)
        change = self.index.get(path)
        head = Text(no_wrap=True)
        head.append(kind_letter(change.kind) if change is not None else Text(" "))
        head.append(" ")
        if entry is None:  # deleted by the top layer
            head.append(safe(name, style=f"{KIND_STYLE[ChangeKind.DELETED]} strike"))
            was = () if change is None else (Text(f"was {size(change.size)}", style="dim"),)
            return LabelParts(head, was)
        kind = entry.entry.kind
        is_dir = kind.is_dir
        style = "bold" if entry.position == 0 else ""
        if change is not None and not (is_dir and change.kind is ChangeKind.CHANGED):
            style += f" {KIND_STYLE[change.kind]}"
        head.append(safe(name + ("/" if is_dir else ""), style=style))
        marks: list[Text] = []
        if kind.value == "symlink":
            marks.append(
                Text("→ ", style="dim").append_text(safe(entry.entry.target or "", style="cyan"))
            )
        if kind.value == "opaque-dir":
            marks.append(Text("opaque", style="magenta"))
        if not entry.known:  # a layer above could not be read here: it may hide or replace it
            marks.append(Text("unknown", style="bold yellow"))
        marks.append(Text(f"L{self.layer_number(entry.position)}", style="dim"))
        return LabelParts(head, tuple(marks), self.stats(path), show_items=is_dir)
