"""A tree of paths built as it is opened: a directory's children are added on expand, a page
at a time, so a container with 200k changed files never holds more than what was opened.

Keys as in vim, ncdu and dive: j/k move, l/→ opens a directory (or enters an open one),
h/← closes it (or goes to the parent), g/G the first and last line, ctrl+space closes
everything or opens everything (as far as `EXPAND_BUDGET` nodes). Each line is fitted to
the tree's width (`tree_label.fit`): nothing scrolls sideways, nothing is cut mid-word.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from overlayscope.record import record
from overlayscope.tui.tree_model import NodeStats, Sort
from overlayscope.tui.widgets.common.filter_bar import keys_for_the_bar
from overlayscope.tui.widgets.files.tree_label import LabelParts, fit


@record
class More:
    """The "… N more" leaf at the end of a partial page; selecting it adds the next page."""

    parent: str
    offset: int


NodeData = str | More


class PagedTree(Tree[NodeData]):
    """Subclasses say which children a path has and what each line says."""

    DEFAULT_CSS = """
    PagedTree { width: 1fr; height: 1fr; border: round $surface-lighten-2; }
    PagedTree:focus { border: round $accent; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("l,right", "open_or_enter", "Open dir / into it", show=False),
        Binding("h,left", "close_or_parent", "Close dir / to parent", show=False),
        Binding("g,home", "scroll_home", "First line", show=False),
        Binding("G,end", "scroll_end", "Last line", show=False),
        Binding(
            "ctrl+@,ctrl+space", "toggle_all", "Close all / open all", key_display="ctrl+space"
        ),
        Binding("space", "toggle_node", "Open / close dir", show=False),
    ]
    PAGE = 500
    EXPAND_BUDGET = 2000  # nodes open-all and a filter's reveal may build at most
    REVEAL_BUDGET = 600

    class PathHighlighted(Message):
        """The cursor is on `path` (None: on a "more" leaf or nothing)."""

        def __init__(self, tree: PagedTree, path: str | None) -> None:
            super().__init__()
            self.tree = tree
            self.path = path

        @property
        def control(self) -> PagedTree:
            return self.tree

    class BudgetReached(Message):
        """Opening everything stopped at `EXPAND_BUDGET` nodes."""

        def __init__(self, tree: PagedTree, built: int) -> None:
            super().__init__()
            self.tree = tree
            self.built = built

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("/", data="/", id=id)
        self.show_root = False
        self.guide_depth = 3
        self._loaded: set[int] = set()
        self.sort = Sort()

    # -- for subclasses -----------------------------------------------------------

    def child_paths(self, path: str) -> Sequence[str]:
        raise NotImplementedError

    def expandable(self, path: str) -> bool:
        raise NotImplementedError

    def label_parts(self, path: str) -> LabelParts:
        raise NotImplementedError

    def stats(self, path: str) -> NodeStats | None:
        """ncdu's figures of `path` (None: none known)."""
        return None

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
            head = self.label_parts(child).head
            if self.expandable(child):
                node.add(head, data=child)
            else:
                node.add_leaf(head, data=child)
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

    # -- lines fitted to the width ----------------------------------------------

    def render_label(self, node: TreeNode[NodeData], base_style: Style, style: Style) -> Text:
        data = node.data
        if not isinstance(data, str):
            return super().render_label(node, base_style, style)
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        prefix = Text(icon if node.allow_expand else "", style=base_style + Style(bold=True))
        width = self.scrollable_content_region.width - depth * self.guide_depth - prefix.cell_len
        parts = self.label_parts(data)
        stats = parts.stats
        if stats is not None and parts.share is None and node.parent is not None:
            above = self.stats(node.parent.data) if isinstance(node.parent.data, str) else None
            if above is not None and above.bytes:
                parts = LabelParts(
                    parts.head, parts.marks, stats, stats.bytes / above.bytes, parts.show_items
                )
        line = fit(parts, max(width, 1))
        line.stylize(style)
        return Text.assemble(prefix, line)

    def get_label_width(self, node: TreeNode[NodeData]) -> int:
        # Lines are fitted to the width: the tree never needs to scroll sideways (and
        # measuring every line of a large open tree would cost a label each).
        return 0

    def watch_show_vertical_scrollbar(self) -> None:
        # Lines are fitted to the width left of the scrollbar: fit them again.
        self._line_cache.clear()
        self.refresh()

    # -- keys -----------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        await keys_for_the_bar(self, event)

    def action_open_or_enter(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
            return
        self.ensure_loaded(node)
        if node.children:
            self.move_cursor(node.children[0], animate=False)

    def action_close_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent, animate=False)

    def action_toggle_all(self) -> None:
        """dive's ctrl+space: close every dir when any is open, else open them all."""
        if any(child.is_expanded for child in self.root.children):
            self.collapse_all()
        else:
            self.expand_all()

    def collapse_all(self) -> None:
        node = self.cursor_node
        top = node
        while top is not None and top.parent is not None and top.parent is not self.root:
            top = top.parent
        for child in self.root.children:
            child.collapse_all()
        if top is not None:
            self.move_cursor(top, animate=False)

    def expand_all(self) -> int:
        """Open directories breadth first until `EXPAND_BUDGET` nodes are built; returns
        how many were built, and says so (`BudgetReached`) when it had to stop."""
        queue: list[TreeNode[NodeData]] = list(self.root.children)
        while queue:
            node = queue.pop(0)
            if not node.allow_expand:
                continue
            if self.node_count >= self.EXPAND_BUDGET:
                self.post_message(self.BudgetReached(self, self.node_count))
                break
            self.ensure_loaded(node)
            node.expand()
            queue.extend(node.children)
        return self.node_count

    def reveal(self, paths: Iterable[str]) -> int:
        """Open the dirs that hold `paths` (a filter's matches), as many as
        `REVEAL_BUDGET` nodes allow; returns how many of them are shown."""
        shown = 0
        for path in paths:
            if self.node_count >= self.REVEAL_BUDGET:
                break
            if self.find(path) is not None:
                shown += 1
        return shown

    # -- finding ----------------------------------------------------------------------

    def path_steps(self, path: str) -> list[str]:
        """The nodes' paths from the top level down to `path`: `/a`, `/a/b`, `/a/b/c`."""
        steps, here = [], ""
        for part in (p for p in path.split("/") if p):
            here = f"{here}/{part}"
            steps.append(here)
        return steps

    def find(self, path: str) -> TreeNode[NodeData] | None:
        """The node of `path`, opening its ancestors (and pages) as needed; None if not shown."""
        node = self.root
        for here in self.path_steps(path):
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
        self.move_cursor(node, animate=False)
        return True
