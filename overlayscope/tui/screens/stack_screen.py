"""What the container and image screens share: a scanned stack, a file tree, a file panel,
and the keys that filter, sort and toggle the diff."""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.change_index import ALL_KINDS, ChangeIndex, Order
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.union import Change, ChangeKind, LayerStack

KIND_CYCLE: tuple[frozenset[ChangeKind], ...] = (
    ALL_KINDS,
    frozenset({ChangeKind.ADDED}),
    frozenset({ChangeKind.CHANGED}),
    frozenset({ChangeKind.DELETED}),
)


def kinds_label(kinds: frozenset[ChangeKind]) -> str:
    if kinds == ALL_KINDS:
        return "all"
    return "".join(k.value for k in ChangeKind if k in kinds)


class StackScreen(Screen[None]):
    """Base of the screens that browse a `LayerStack`; subclasses compose and scan."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / cancel"),
        Binding("slash", "filter", "Filter paths", key_display="/"),
        Binding("f", "kinds", "Kind A/C/D"),
        Binding("s", "sort", "Sort name/size"),
        Binding("d", "diff", "Preview/diff"),
        Binding("r", "rescan", "Rescan", show=False),
    ]

    subject_name = "stack"  # "container", "image": in the file panel when a scan failed

    class Filtered(Message):
        def __init__(self, token: int, keep: set[str] | None) -> None:
            super().__init__()
            self.token = token
            self.keep = keep

    class ScanStopped(Message):
        def __init__(self, error: OverlayscopeError | None) -> None:
            super().__init__()
            self.error = error  # None when cancelled

    def __init__(self, host: Host, services: Services) -> None:
        super().__init__()
        self.host = host
        self.services = services
        self.kinds = ALL_KINDS
        self.order = Order.NAME
        self.needle = ""
        self.stack: LayerStack | None = None
        self._filter_token = 0

    # -- for subclasses ---------------------------------------------------------

    @property
    def file_tree(self) -> PagedTree:
        raise NotImplementedError

    @property
    def tree_stack(self) -> LayerStack | None:
        """The stack the tree's paths are looked up in (an image's is cut at the chosen layer)."""
        return self.stack

    @property
    def tree_index(self) -> ChangeIndex | None:
        raise NotImplementedError

    def compute_keep(self) -> set[str] | None:
        """The paths the current filter keeps (runs in a worker)."""
        index = self.tree_index
        return None if index is None else index.matching(self.kinds, self.needle)

    def show_tree(self, keep: set[str] | None) -> None:
        raise NotImplementedError

    def rescan(self) -> None:
        raise NotImplementedError

    def scanned(self, stack: LayerStack, cancel: threading.Event) -> Message:
        """The message that delivers a scanned stack (runs in the scan worker; may
        raise Cancelled once `cancel` is set)."""
        raise NotImplementedError

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
        if self.needle:
            self.query_one(FilterBar).action_clear()
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self.needle = event.text
        self.refilter()

    def action_kinds(self) -> None:
        i = KIND_CYCLE.index(self.kinds) if self.kinds in KIND_CYCLE else 0
        self.kinds = KIND_CYCLE[(i + 1) % len(KIND_CYCLE)]
        self.refilter()

    def action_sort(self) -> None:
        self.order = Order.SIZE if self.order is Order.NAME else Order.NAME
        self.refilter()

    def action_diff(self) -> None:
        self.file_panel.toggle_mode()

    def action_rescan(self) -> None:
        if not self.status.running:
            self.rescan()

    def describe_view(self) -> Text:
        """The tree's border title: what is filtered and how it is sorted."""
        text = Text(f"kind {kinds_label(self.kinds)} · by {self.order.value}")
        if self.needle:
            text.append(" · filter ")
            text.append(Text(repr(self.needle)))
        return text

    def refilter(self) -> None:
        """Recompute what the tree shows (a worker: 200k paths take a moment)."""
        self._filter_token += 1
        self.file_tree.border_subtitle = self.describe_view()
        self._filter(self._filter_token)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="filter",
        description="filter the tree",
    )
    def _filter(self, token: int) -> None:
        self.post_message(self.Filtered(token, self.compute_keep()))

    def on_stack_screen_filtered(self, message: StackScreen.Filtered) -> None:
        if message.token != self._filter_token:
            return
        tree = self.file_tree
        path = tree.cursor_node.data if tree.cursor_node is not None else None
        self.show_tree(message.keep)
        if isinstance(path, str):
            tree.show_path(path)

    @on(PagedTree.PathHighlighted)
    def _path_highlighted(self, event: PagedTree.PathHighlighted) -> None:
        stack = self.tree_stack
        if stack is None:
            return
        if event.path is None:
            shown = bool(self.file_tree.root.children)
            self.file_panel.clear("nothing selected" if shown else "nothing matches")
            return
        self.file_panel.show(stack, event.path, self.change_at(event.path))

    def change_at(self, path: str) -> Change | None:
        index = self.tree_index
        return None if index is None else index.get(path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers catch the errors they expect; anything else is a bug: say so, do not die.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.status.failed(event.worker.error)
