"""A tree of paths built as it is opened: a directory's children are added on expand, a page
at a time, so a container with 200k changed files never holds more than what was opened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode


@dataclass(frozen=True, slots=True)
class More:
    """The "… N more" leaf at the end of a partial page; selecting it adds the next page."""

    parent: str
    offset: int


NodeData = str | More


class PagedTree(Tree[NodeData]):
    """Subclasses say which children a path has and how each is labelled."""

    DEFAULT_CSS = """
    PagedTree { width: 1fr; height: 1fr; border: round $surface-lighten-2; }
    PagedTree:focus { border: round $accent; }
    """
    PAGE = 500

    class PathHighlighted(Message):
        """The cursor is on `path` (None: on a "more" leaf or nothing)."""

        def __init__(self, tree: PagedTree, path: str | None) -> None:
            super().__init__()
            self.tree = tree
            self.path = path

        @property
        def control(self) -> PagedTree:
            return self.tree

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("/", data="/", id=id)
        self.show_root = False
        self.guide_depth = 3
        self._loaded: set[int] = set()

    # -- for subclasses -----------------------------------------------------------

    def child_paths(self, path: str) -> Sequence[str]:
        raise NotImplementedError

    def expandable(self, path: str) -> bool:
        raise NotImplementedError

    def label_for(self, path: str) -> Text:
        raise NotImplementedError

    # -- building ---------------------------------------------------------------

    def rebuild(self) -> None:
        """Drop every node and open the root again (after new data, a filter or a sort)."""
        self.clear()
        # Tree.clear() keeps every old node in its id map (ids restart at 0): drop them.
        self._tree_nodes.clear()
        self._tree_nodes[self.root.id] = self.root
        self._loaded = set()
        self._fill(self.root, 0)
        self.root.expand()
        self.cursor_line = 0
        # Announce the first line even when the cursor was already on line 0 (no event then).
        node = self.cursor_node
        path = node.data if node is not None and isinstance(node.data, str) else None
        self.post_message(self.PathHighlighted(self, path))

    @property
    def node_count(self) -> int:
        """Nodes built so far (never the whole tree unless it was all opened)."""
        return len(self._tree_nodes)

    def _fill(self, node: TreeNode[NodeData], offset: int) -> None:
        path = node.data if isinstance(node.data, str) else "/"
        self._loaded.add(node.id)
        children = self.child_paths(path)
        for child in children[offset : offset + self.PAGE]:
            if self.expandable(child):
                node.add(self.label_for(child), data=child)
            else:
                node.add_leaf(self.label_for(child), data=child)
        rest = len(children) - offset - self.PAGE
        if rest > 0:
            more = Text(f"… {rest:,} more (enter shows {min(rest, self.PAGE):,} more)")
            more.stylize("dim italic")
            node.add_leaf(more, data=More(path, offset + self.PAGE))

    def ensure_loaded(self, node: TreeNode[NodeData]) -> None:
        """Build the first page of `node`'s children if it has not been opened yet."""
        if node.id not in self._loaded and isinstance(node.data, str):
            self._fill(node, 0)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        self.ensure_loaded(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        node = event.node
        if isinstance(node.data, More) and node.parent is not None:
            event.stop()
            parent, offset = node.parent, node.data.offset
            line = node.line
            node.remove()
            self._fill(parent, offset)
            self.cursor_line = line

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        event.stop()
        data = event.node.data
        self.post_message(self.PathHighlighted(self, data if isinstance(data, str) else None))

    def find(self, path: str) -> TreeNode[NodeData] | None:
        """The node of `path`, opening its ancestors (and pages) as needed; None if not shown."""
        node = self.root
        parts = [p for p in path.split("/") if p]
        here = ""
        for part in parts:
            here = f"{here}/{part}"
            self.ensure_loaded(node)
            node.expand()
            found = None
            while found is None:
                found = next((c for c in node.children if c.data == here), None)
                more = next((c for c in node.children if isinstance(c.data, More)), None)
                if found is None and more is not None and isinstance(more.data, More):
                    offset = more.data.offset
                    more.remove()
                    self._fill(node, offset)
                    continue
                break
            if found is None:
                return None
            node = found
        return node

    def show_path(self, path: str) -> bool:
        """Move the cursor to `path`; False when the tree does not show it."""
        node = self.find(path)
        if node is None:
            return False
        _ = self.last_line  # lays the lines out again: nodes just added have no line yet
        self.move_cursor(node)
        return True
