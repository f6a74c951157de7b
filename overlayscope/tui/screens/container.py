"""One container: what it changed (`docker diff` and more), and where each file comes from."""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import ContentSwitcher, Header, Static

from overlayscope.errors import Cancelled
from overlayscope.names import plural, printable
from overlayscope.root.model import Container, Host
from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.screens.stack_screen import CHANGES, MERGED, StackScreen
from overlayscope.tui.services import Services
from overlayscope.tui.text import key_value, safe, short_id, size
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.jump_bar import JumpBar
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.common.unread_banner import UnreadBanner
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.overview.tables import image_label
from overlayscope.union import LayerStack, changes


def container_info(host: Host, container: Container) -> Text:
    image = host.image_of(container)
    image_text = safe(image_label(image)) if image else Text(short_id(container.image_id))
    name = safe(container.name, style="bold")
    name.append(safe(f"  {short_id(container.id)}  {container.state}", style="dim"))
    if container.namespace:
        name.append(safe(f"  namespace {container.namespace}", style="dim"))
    rows: list[tuple[str, Text | str]] = [("container", name), ("image", image_text)]
    k8s = container.kubernetes
    if k8s is not None:
        pod = safe(f"{k8s.pod_namespace}/{k8s.pod}")
        pod.append(" (sandbox)" if k8s.sandbox else safe(f", container {k8s.container}"))
        rows.append(("pod", pod))
    rows.append(("rw layer", safe(container.layer or "missing")))
    return key_value(rows)


def changes_summary(index: ChangeIndex) -> Text:
    s = index.summary()
    text = Text()
    text.append(f"{plural(s.total, 'change')}: ")
    text.append(f"{s.added:,} A", style="green")
    text.append(" · ")
    text.append(f"{s.changed:,} C", style="yellow")
    text.append(" · ")
    text.append(f"{s.deleted:,} D", style="red")
    text.append(f" · {size(s.bytes)} added or changed")
    text.append(f" · {s.copy_ups:,} copy-ups ({s.content_same:,} same bytes)", style="yellow")
    text.append(f" · {s.opaque_dirs:,} opaque dirs", style="magenta")
    return text


class ContainerScreen(StackScreen):
    """The change tree (or the merged view) on the left, the selected file's provenance and
    content on the right; `i` the container's config, `L` its logs."""

    DEFAULT_CSS = """
    ContainerScreen #info { height: auto; padding: 0 1; }
    ContainerScreen #main { height: 1fr; }
    ContainerScreen #trees { width: 45%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "details('config')", "Config"),
        Binding("L", "details('logs')", "Logs"),
    ]

    class Scanned(Message):
        def __init__(self, stack: LayerStack, index: ChangeIndex) -> None:
            super().__init__()
            self.stack = stack
            self.index = index

    def __init__(self, host: Host, container: Container, services: Services) -> None:
        super().__init__(host, services)
        self.container = container
        self.index: ChangeIndex | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(container_info(self.host, self.container), id="info")
        yield ScanStatus(id="status")
        yield UnreadBanner(id="unread")
        with Horizontal(id="main"):
            with ContentSwitcher(initial=CHANGES, id="trees"):
                yield ChangeTree(id=CHANGES)
                yield MergedTree(id=MERGED)
            yield FilePanel(id="file")
        yield FilterBar("filter paths", id="filter")
        yield JumpBar(id="jump")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(f"container {self.container.name}")
        self.set_titles()
        self.query_one(FilePanel).clear("scanning…")
        self.file_tree.focus()
        self.rescan()

    def tree_title(self, mode: str) -> str:
        return "changes" if mode == CHANGES else "merged view: what the container sees"

    @property
    def tree_index(self) -> ChangeIndex | None:
        return self.index

    subject_name = "container"

    def rescan(self) -> None:
        self.scan(
            self.container, f"the {plural(len(self.container.stack()), 'layer')} of the container"
        )

    def scanned(self, stack: LayerStack, cancel: threading.Event) -> Message:
        if cancel.is_set():
            raise Cancelled("scan cancelled")
        found = changes(
            stack, rule=self.host.change_rule, runtime_files=self.container.runtime_files
        )
        return self.Scanned(stack, ChangeIndex([c for c in found if not c.runtime]))

    def on_container_screen_scanned(self, message: ContainerScreen.Scanned) -> None:
        self.stack = message.stack
        self.index = message.index
        self.show_unread(message.stack)
        self.status.finish(changes_summary(message.index))
        if len(message.index) == 0:
            self.query_one(FilePanel).clear("no changes: the container's layer adds nothing")
        self.refilter()
        self.file_tree.focus()

    def action_details(self, tab: str) -> None:
        from overlayscope.tui.screens.container_details import ContainerDetailsScreen

        self.app.push_screen(ContainerDetailsScreen(self.host, self.container, tab))
