"""What the container and image screens share: a scanned stack, its two trees (the changes,
and the merged view as dive's "aggregated" mode), a file panel, and the keys that filter,
sort, jump and toggle the diff."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher
from textual.worker import Worker, WorkerState

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.merged_view import merged_figures, merged_filter
from overlayscope.tui.screens.panes import PaneScreen
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.text import safe
from overlayscope.tui.tree_model import (
    ALL_SHOWN,
    Kept,
    NodeStats,
    Show,
    Sort,
    SortKey,
    change_kinds,
    describe_shown,
)
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.jump_bar import JumpBar, typed_path
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.common.unread_banner import UnreadBanner
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel, ProvenanceTable
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.union import Change, LayerStack
from overlayscope.union.stack import normalize

CHANGES, MERGED = "changes", "merged"


def mtime_in(stack: LayerStack) -> Callable[[Change], int | None]:
    """`Change` → the mtime of its entry in `stack` (the new one, or the deleted one)."""

    def mtime(change: Change) -> int | None:
        if change.layer_id is None:
            return None
        try:
            entry = stack.layer(change.layer_id).index.entries.get(change.path)
        except (KeyError, OverlayscopeError):
            return None
        return None if entry is None else entry.mtime_ns

    return mtime


class StackScreen(PaneScreen):
    """Base of the screens that browse a `LayerStack`; subclasses compose and scan.

    A subclass composes a `ContentSwitcher(id="trees")` holding a `ChangeTree(id=CHANGES)`
    and a `MergedTree(id=MERGED)`, a `FilePanel`, a `ScanStatus`, a `FilterBar` and a
    `JumpBar`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / cancel"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("colon", "jump", "Jump to path", key_display=":"),
        Binding("m", "mode", "Changes/merged"),
        Binding("d", "diff", "Content/diff"),
        # dive's change filters, each on its own (dive's ctrl keys too, but ctrl+m is enter).
        Binding("A,ctrl+a", "toggle_shown('A')", "Show added", show=False),
        Binding("R,ctrl+r", "toggle_shown('D')", "Show removed", show=False),
        Binding("M", "toggle_shown('C')", "Show modified", show=False),
        Binding("U,ctrl+u", "toggle_shown('U')", "Show unmodified (merged view)", show=False),
        # ncdu's sorts; the same key again turns the order round.
        Binding("s", "sort('size')", "Sort by size", show=False),
        Binding("n", "sort('name')", "Sort by name", show=False),
        Binding("c", "sort('count')", "Sort by entries beneath", show=False),
        Binding("t", "sort('mtime')", "Sort by mtime", show=False),
        Binding("r", "rescan", "Scan again", show=False),
    ]

    subject_name = "stack"  # "container", "image": in the file panel when a scan failed

    class Filtered(Message):
        def __init__(self, token: int, kept: Kept | None) -> None:
            super().__init__()
            self.token = token
            self.kept = kept

    class FiguresReady(Message):
        def __init__(self, stack: LayerStack, figures: dict[str, NodeStats]) -> None:
            super().__init__()
            self.stack = stack
            self.figures = figures

    class ScanStopped(Message):
        def __init__(self, error: OverlayscopeError | None) -> None:
            super().__init__()
            self.error = error  # None when cancelled

    def __init__(self, host: Host, services: Services) -> None:
        super().__init__()
        self.host = host
        self.services = services
        self.mode = CHANGES
        self.shown = ALL_SHOWN
        self.sort = Sort()
        self.needle = ""
        self.stack: LayerStack | None = None
        self.kept: Kept | None = None
        self._filter_token = 0
        self._figures: dict[int, dict[str, NodeStats]] = {}  # id(stack) → its dirs' figures
        self._pending_jump: str | None = None

    # -- for subclasses ---------------------------------------------------------

    @property
    def tree_stack(self) -> LayerStack | None:
        """The stack the tree's paths are looked up in (an image's is cut at the chosen layer)."""
        return self.stack

    @property
    def tree_index(self) -> ChangeIndex | None:
        raise NotImplementedError

    def rescan(self) -> None:
        raise NotImplementedError

    def scanned(self, stack: LayerStack, cancel: threading.Event) -> Message:
        """The message that delivers a scanned stack (runs in the scan worker; may
        raise Cancelled once `cancel` is set)."""
        raise NotImplementedError

    def tree_title(self, mode: str) -> str:
        return "changes" if mode == CHANGES else "merged view"

    def panes(self) -> list[Widget]:
        return [self.file_tree, self.query_one(ProvenanceTable), self.file_panel.view_scroll]

    # -- the trees ------------------------------------------------------------------

    @property
    def file_tree(self) -> PagedTree:
        return self.query_one(f"#{self.mode}", PagedTree)

    def show_tree(self, keep: set[str] | None) -> None:
        index, stack = self.tree_index, self.tree_stack
        if index is None or stack is None:
            return
        if self.mode == CHANGES:
            self.query_one(ChangeTree).load(index, keep=keep, sort=self.sort)
        else:
            figures = self._figures.get(id(stack))
            self.query_one(MergedTree).load(
                stack, index, keep=keep, sort=self.sort, figures=figures
            )
            if figures is None:
                self._measure_merged(stack)

    def set_titles(self) -> None:
        for mode in (CHANGES, MERGED):
            tree = self.query_one(f"#{mode}", PagedTree)
            tree.border_title = self.tree_title(mode)
            tree.border_subtitle = self.describe_view()

    # -- shared behaviour -------------------------------------------------------

    def scan(self, subject: Container | Image, what: str) -> None:
        """Scan the stack of `subject` (its layers called `what` in the status line)."""
        cancel = self.status.begin(what)
        self._scan(subject, cancel, self.status.report)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="stack",
        description="scan the layers",
    )
    def _scan(
        self, subject: Container | Image, cancel: threading.Event, report: ProgressCallback
    ) -> None:
        try:
            stack = self.services.build_stack(self.host, subject, cancel, report)
            message = self.scanned(stack, cancel)
        except Cancelled:
            self.post_message(self.ScanStopped(None))
            return
        except OverlayscopeError as exc:
            self.post_message(self.ScanStopped(exc))
            return
        self.post_message(message)

    def on_stack_screen_scan_stopped(self, message: StackScreen.ScanStopped) -> None:
        if message.error is None:
            self.status.cancelled()
            self.file_panel.clear("scan cancelled: press r to scan again")
        else:
            self.status.failed(message.error)
            self.file_panel.clear(f"the {self.subject_name}'s layers could not be read")

    def show_unread(self, stack: LayerStack) -> None:
        """Name, in the warning banner, the parts of `stack`'s layers the scan could not read."""
        self.query_one(UnreadBanner).show_parts(stack.unread())

    @property
    def status(self) -> ScanStatus:
        return self.query_one(ScanStatus)

    @property
    def file_panel(self) -> FilePanel:
        panel = self.query_one(FilePanel)
        panel.id_maps = (self.host.uid_map, self.host.gid_map)  # rootless: container's ids
        return panel

    def action_back(self) -> None:
        if self.status.cancel():
            return
        if self.needle or self.shown != ALL_SHOWN:
            self.needle = ""
            self.shown = ALL_SHOWN
            self.query_one(FilterBar).clear_quietly()
            self.refilter()
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(return_to=self.file_tree)

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self.needle = event.text
        self.refilter()

    def action_toggle_shown(self, value: str) -> None:
        show = Show(value)
        self.shown = self.shown - {show} if show in self.shown else self.shown | {show}
        self.refilter()

    def action_sort(self, key: str) -> None:
        self.sort = self.sort.pressed(SortKey(key))
        self.refilter()

    def action_mode(self) -> None:
        self.set_mode(MERGED if self.mode == CHANGES else CHANGES)

    def set_mode(self, mode: str) -> None:
        focused = self.focused is self.file_tree
        self.mode = mode
        self.query_one("#trees", ContentSwitcher).current = mode
        if focused:
            self.file_tree.focus()
        self.refilter()

    def action_diff(self) -> None:
        self.file_panel.toggle_mode()

    def action_rescan(self) -> None:
        if not self.status.running:
            self.rescan()

    def describe_view(self) -> Text:
        """The tree's border subtitle: the kinds shown, the sort, the filter and its matches."""
        text = Text(describe_shown(self.shown) + " · " + self.sort.describe())
        if self.needle:
            text.append(" · ")
            text.append_text(safe(repr(self.needle)))
        if self.kept is not None:
            n = len(self.kept)
            text.append(f" · {n:,} match{'' if n == 1 else 'es'}", style="bold")
        return text

    def refilter(self) -> None:
        """Recompute what the tree shows (a worker: 200k paths take a moment)."""
        self._filter_token += 1
        self.set_titles()
        index, stack = self.tree_index, self.tree_stack
        if index is None or stack is None:
            return
        self._filter(
            self._filter_token, self.mode, stack, index, self.shown, self.needle, self.sort
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="filter",
        description="filter the tree",
    )
    def _filter(
        self,
        token: int,
        mode: str,
        stack: LayerStack,
        index: ChangeIndex,
        shown: frozenset[Show],
        needle: str,
        sort: Sort,
    ) -> None:
        if sort.key is SortKey.MTIME:
            index.load_mtimes(mtime_in(stack))
        if mode == CHANGES:
            kept = index.filtered(change_kinds(shown), needle)  # U: no change tree entry
        else:
            kept = merged_filter(stack, index, shown, needle)
        self.post_message(self.Filtered(token, kept))

    def on_stack_screen_filtered(self, message: StackScreen.Filtered) -> None:
        if message.token != self._filter_token:
            return
        self.kept = message.kept
        tree = self.file_tree
        path = tree.cursor_node.data if tree.cursor_node is not None else None
        self.show_tree(None if message.kept is None else set(message.kept.keep))
        self.set_titles()
        jump, self._pending_jump = self._pending_jump, None
        if jump is not None:
            if not tree.show_path(jump):
                self.notify("the filter hides it (esc clears the filter)", title=jump, markup=False)
            return
        if message.kept is not None and message.kept.matched:
            # Reveal the matches: open the dirs that hold them, cursor on the first.
            tree.reveal(message.kept.matched)
            tree.show_path(message.kept.matched[0])
        elif isinstance(path, str):
            tree.show_path(path)

    # -- the merged view's figures ------------------------------------------------------

    def _measure_merged(self, stack: LayerStack) -> None:
        self._figures[id(stack)] = {}  # asked once per stack
        self._merged_figures(stack, self.status.cancel_event)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="figures",
        description="size the merged view",
    )
    def _merged_figures(self, stack: LayerStack, cancel: threading.Event) -> None:
        try:
            figures = merged_figures(stack, cancel)
        except (Cancelled, OverlayscopeError):
            return
        self.post_message(self.FiguresReady(stack, figures))

    def on_stack_screen_figures_ready(self, message: StackScreen.FiguresReady) -> None:
        self._figures[id(message.stack)] = message.figures
        if self.tree_stack is message.stack:
            tree = self.query_one(MergedTree)
            tree.set_figures(message.figures)
            if self.sort.key is not SortKey.NAME and self.mode == MERGED:
                self.refilter()  # the order needs the figures

    # -- jump --------------------------------------------------------------------------

    def action_jump(self) -> None:
        if self.tree_stack is None:
            self.notify("the layers are not scanned yet", markup=False)
            return
        bar = self.query_one(JumpBar)
        bar.stack = self.tree_stack
        bar.open(return_to=self.file_tree)

    @on(JumpBar.Jump)
    def _jumped(self, event: JumpBar.Jump) -> None:
        stack, index = self.tree_stack, self.tree_index
        if stack is None or index is None:
            return
        path = normalize(typed_path(event.text, stack))
        change = index.get(path)
        # The `where` answer at once: every layer that holds the path, and what wins.
        self.file_panel.show(stack, path, change)
        visible = stack.winner(path) is not None
        if self.mode == CHANGES and change is None:
            if not visible:
                self.notify("in no layer of this stack", title=path, markup=False)
                return
            self._pending_jump = path
            self.set_mode(MERGED)  # unchanged: the merged view shows it
        elif not self.file_tree.show_path(path):
            self.notify("the filter hides it (esc clears the filter)", title=path, markup=False)
        self.file_tree.focus()

    # -- the file panel follows the cursor ------------------------------------------------

    @on(PagedTree.PathHighlighted)
    def _path_highlighted(self, event: PagedTree.PathHighlighted) -> None:
        stack = self.tree_stack
        if stack is None or event.tree is not self.file_tree:
            return
        if event.path is None:
            shown = bool(self.file_tree.root.children)
            self.file_panel.clear("nothing selected" if shown else "nothing matches")
            return
        self.file_panel.show(stack, event.path, self.change_at(event.path))

    @on(PagedTree.BudgetReached)
    def _budget(self, event: PagedTree.BudgetReached) -> None:
        self.notify(
            f"opened as far as {event.built:,} entries; open the rest dir by dir", markup=False
        )

    def change_at(self, path: str) -> Change | None:
        index = self.tree_index
        return None if index is None else index.get(path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers catch the errors they expect; anything else is a bug: say so, do not die.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.status.failed(event.worker.error)
