"""`docker diff` as a tree: A/C/D coloured, ncdu's figures, copy-ups, opaque dirs, metadata."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.text import KIND_STYLE, kind_letter, safe, size
from overlayscope.tui.tree_model import BY_NAME, NodeStats, Sort
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.tui.widgets.files.tree_label import LabelParts
from overlayscope.union import Change, ChangeKind

DIR_KINDS = ("dir", "opaque-dir")


def change_head(name: str, change: Change | None) -> Text:
    """Kind letter and escaped name (a dir's with a slash), coloured by kind."""
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
    return text


def change_marks(change: Change | None) -> tuple[Text, ...]:
    """What overlayscope knows beyond docker diff, most telling first."""
    if change is None:
        return ()
    is_dir = change.entry in DIR_KINDS
    marks: list[Text] = []
    if change.copy_up and not is_dir:
        marks.append(Text("copy-up", style="bold yellow"))
        if change.content == "same":
            marks.append(Text("(same bytes)", style="yellow"))
    if change.entry == "opaque-dir" and change.kind is not ChangeKind.DELETED:
        marks.append(Text("opaque", style="bold magenta"))
    if change.entry not in ("file", "dir", "opaque-dir"):
        marks.append(Text(change.entry, style="cyan"))
    if change.kind is ChangeKind.DELETED and not is_dir and change.entry != "whiteout":
        marks.append(Text(f"was {size(change.size)}", style="dim"))
    if change.kind is ChangeKind.CHANGED and not is_dir and change.meta:
        marks.append(Text(",".join(change.meta), style="dim italic"))
    if change.kind is not ChangeKind.DELETED and change.hard_link:  # as the CLI says it
        marks.append(Text(f"[hard link: {change.nlink} names]", style="dim"))
    return tuple(marks)


def change_label(name: str, change: Change | None, subtree_bytes: int) -> Text:
    """The whole line unfitted (head, marks and size), for tests and plain listings."""
    text = change_head(name, change)
    is_dir = change is None or change.entry in DIR_KINDS
    if (change is None or change.kind is not ChangeKind.DELETED) and (subtree_bytes or not is_dir):
        text.append(f"  {size(subtree_bytes)}", style="dim")
    for mark in change_marks(change):
        text.append(" " if mark.plain.startswith("(") else "  ")
        text.append_text(mark)
    return text


class ChangeTree(PagedTree):
    """The changes of a container (or of one image layer), opened one directory at a time."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = ChangeIndex(())
        self.keep: set[str] | None = None

    def load(
        self, index: ChangeIndex, *, keep: set[str] | None = None, sort: Sort = BY_NAME
    ) -> None:
        self.index = index
        self.keep = keep
        self.sort = sort
        self.rebuild()

    def change_at(self, path: str) -> Change | None:
        return self.index.get(path)

    def child_paths(self, path: str) -> Sequence[str]:
        return self.index.children(path, sort=self.sort, keep=self.keep)

    def expandable(self, path: str) -> bool:
        if self.keep is None:
            return self.index.has_children(path)
        return bool(self.index.children(path, keep=self.keep))

    def stats(self, path: str) -> NodeStats | None:
        change = self.index.get(path)
        if change is not None and change.kind is ChangeKind.DELETED:
            return None  # a deletion adds no bytes: its old size is a mark
        return self.index.stats(path)

    def label_parts(self, path: str) -> LabelParts:
        name = path.rsplit("/", 1)[-1]
        change = self.index.get(path)
        is_dir = change is None or change.entry in DIR_KINDS
        return LabelParts(
            change_head(name, change),
            change_marks(change),
            self.stats(path),
            show_items=is_dir,
        )
