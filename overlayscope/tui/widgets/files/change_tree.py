"""`docker diff` as a tree: A/C/D coloured, sizes, copy-ups, opaque dirs, metadata changes."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from overlayscope.tui.change_index import ChangeIndex, Order
from overlayscope.tui.text import KIND_STYLE, kind_letter, safe, size
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.union import Change, ChangeKind

DIR_KINDS = ("dir", "opaque-dir")


def change_label(name: str, change: Change | None, subtree_bytes: int) -> Text:
    """One line: kind letter, escaped name, size, and what overlayscope knows beyond docker diff."""
    text = Text(no_wrap=True)
    if change is None:
        text.append("· ", style="dim")
        text.append(safe(name + "/"))
        return text
    text.append(kind_letter(change.kind))
    text.append(" ")
    is_dir = change.entry in DIR_KINDS
    style = KIND_STYLE[change.kind] if change.kind is not ChangeKind.CHANGED or not is_dir else ""
    if change.kind is ChangeKind.DELETED:
        style += " strike"
    text.append(safe(name + ("/" if is_dir else ""), style=style))
    if is_dir:
        if subtree_bytes:
            text.append(f"  {size(subtree_bytes)}", style="dim")
    elif change.entry != "whiteout":
        text.append(f"  {size(change.size)}", style="dim")
    if change.entry not in ("file", "dir", "opaque-dir"):
        text.append(f"  {change.entry}", style="cyan")
    if change.entry == "opaque-dir" and change.kind is not ChangeKind.DELETED:
        text.append("  opaque", style="bold magenta")
    if change.copy_up and not is_dir:
        text.append("  copy-up", style="bold yellow")
        if change.content == "same":
            text.append(" (same bytes)", style="yellow")
    if change.kind is ChangeKind.CHANGED and not is_dir and change.meta:
        text.append(f"  {','.join(change.meta)}", style="dim italic")
    return text


class ChangeTree(PagedTree):
    """The changes of a container (or of one image layer), opened one directory at a time."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = ChangeIndex(())
        self.keep: set[str] | None = None
        self.order = Order.NAME

    def load(
        self, index: ChangeIndex, *, keep: set[str] | None = None, order: Order = Order.NAME
    ) -> None:
        self.index = index
        self.keep = keep
        self.order = order
        self.rebuild()

    def change_at(self, path: str) -> Change | None:
        return self.index.get(path)

    def child_paths(self, path: str) -> Sequence[str]:
        return self.index.children(path, order=self.order, keep=self.keep)

    def expandable(self, path: str) -> bool:
        if self.keep is None:
            return self.index.has_children(path)
        return bool(self.index.children(path, keep=self.keep))

    def label_for(self, path: str) -> Text:
        name = path.rsplit("/", 1)[-1]
        return change_label(name, self.index.get(path), self.index.subtree_bytes[path])
