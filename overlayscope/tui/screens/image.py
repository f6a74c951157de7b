"""One image: its layers with their build steps; per layer its own changes or the merged view
up to it (dive's two modes); and its wasted space."""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import (
    ContentSwitcher,
    DataTable,
    Header,
    Static,
    TabbedContent,
    TabPane,
)

from overlayscope.errors import OverlayscopeError
from overlayscope.names import plural, printable
from overlayscope.root.model import Host, Image
from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.screens.stack_screen import CHANGES, MERGED, StackScreen
from overlayscope.tui.services import Services
from overlayscope.tui.text import key_value, safe, short_id, size
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.jump_bar import JumpBar
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.common.keyed import KeyedScroll
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.common.unread_banner import UnreadBanner
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.image.layer_details import LayerDetails
from overlayscope.tui.widgets.image.layer_table import LayerTable
from overlayscope.tui.widgets.image.waste_table import LayerWaste, WastedPaths, WastePanel
from overlayscope.tui.widgets.overview.tables import image_label
from overlayscope.union import LayerStack, changes
from overlayscope.usage.images import image_sizes


def image_info(host: Host, image: Image) -> Text:
    sizes = image_sizes(host).get(image.key)
    label = safe(image_label(image), style="bold")
    label.append(f"  {short_id(image.id)}", style="dim")
    size_line = Text(f"{size(image.size)} in {plural(len(image.layers), 'layer')}")
    if sizes is not None:
        size_line.append(f", {size(sizes.shared)} shared, {size(sizes.unique)} unique", style="dim")
    users = [host.containers[c].name for c in image.containers if c in host.containers]
    return key_value(
        [
            ("image", label),
            ("size", size_line),
            ("containers", safe(", ".join(users) or "none")),
        ]
    )


class ImageScreen(StackScreen):
    """Layers and the chosen layer's details on top; its files and the selected file beneath."""

    DEFAULT_CSS = """
    ImageScreen #info { height: auto; padding: 0 1; }
    ImageScreen TabbedContent { height: 1fr; }
    ImageScreen #top { height: auto; max-height: 40%; }
    ImageScreen #layers { width: 3fr; }
    ImageScreen #details-scroll {
        width: 2fr; height: auto; max-height: 100%; border-left: vkey $surface-lighten-2;
    }
    ImageScreen #main { height: 1fr; }
    ImageScreen #trees { width: 45%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "waste", "Wasted space"),
    ]

    class Scanned(Message):
        def __init__(self, stack: LayerStack) -> None:
            super().__init__()
            self.stack = stack

    class LayerReady(Message):
        def __init__(self, number: int, stack: LayerStack, index: ChangeIndex) -> None:
            super().__init__()
            self.number = number
            self.stack = stack
            self.index = index

    def __init__(self, host: Host, image: Image, services: Services) -> None:
        super().__init__(host, services)
        self.image = image
        self.chosen_layer: int | None = None  # chosen layer's number from the base
        self.shown_layer: int | None = None  # the layer whose files the trees show
        self.layer_stack: LayerStack | None = None  # the stack cut at the shown layer
        self.layer_index: ChangeIndex | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(image_info(self.host, self.image), id="info")
        yield ScanStatus(id="status")
        yield UnreadBanner(id="unread")
        with TabbedContent(id="tabs"):
            with TabPane("Layers", id="layers-tab"), Vertical():
                with Horizontal(id="top"):
                    yield LayerTable(id="layers")
                    with KeyedScroll(id="details-scroll"):
                        yield LayerDetails(id="details")
                with Horizontal(id="main"):
                    with ContentSwitcher(initial=CHANGES, id="trees"):
                        yield ChangeTree(id=CHANGES)
                        yield MergedTree(id=MERGED)
                    yield FilePanel(id="file")
            with TabPane("Wasted space", id="waste-tab"):
                yield WastePanel(id="waste")
        yield FilterBar("filter paths", id="filter")
        yield JumpBar(id="jump")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(f"image {image_label(self.image)}")
        self.query_one(LayerTable).show(self.host, self.image)
        self.query_one("#details-scroll").border_title = "layer details"
        self.query_one(LayerDetails).show_layer(self.host, self.image, None)
        self.set_titles()
        self.query_one(FilePanel).clear("scanning…")
        self.rescan()

    # -- StackScreen ------------------------------------------------------------

    @property
    def tree_stack(self) -> LayerStack | None:
        return self.layer_stack

    @property
    def tree_index(self) -> ChangeIndex | None:
        return self.layer_index

    def tree_title(self, mode: str) -> str:
        # Says the layer whose files are shown, and which one is coming while it is read:
        # never one layer's number over another's files.
        shown, chosen = self.shown_layer, self.chosen_layer
        what = "own changes" if mode == CHANGES else "merged view up to it"
        if shown is None:
            return f"L{chosen} {what}: reading…" if chosen is not None else what
        title = f"L{shown} {what}"
        if chosen is not None and chosen != shown:
            title += f" (reading L{chosen}…)"
        return title

    def panes(self) -> list[Widget]:
        if self.query_one(TabbedContent).active == "waste-tab":
            return [self.query_one(WastedPaths), self.query_one(LayerWaste)]
        details = self.query_one("#details-scroll", KeyedScroll)
        return [self.query_one(LayerTable), details, *super().panes()]

    subject_name = "image"

    def rescan(self) -> None:
        self.scan(self.image, f"the {plural(len(self.image.layers), 'layer')} of the image")

    def scanned(self, stack: LayerStack, cancel: threading.Event) -> Message:
        return self.Scanned(stack)

    def on_image_screen_scanned(self, message: ImageScreen.Scanned) -> None:
        self.stack = message.stack
        self.show_unread(message.stack)
        self.status.finish(
            Text(
                f"{plural(len(self.image.layers), 'layer')} scanned "
                "(↑↓ choose a layer, m switches mode)"
            )
        )
        table = self.query_one(LayerTable)
        top = table.row_count - 1
        table.move_cursor(row=top)
        self.choose_layer(top)
        table.focus()
        if self.query_one(TabbedContent).active == "waste-tab":
            self._ensure_efficiency()

    @on(DataTable.RowHighlighted, "#layers")
    def _layer_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A highlight still queued from before the cursor moved again (the table's first
        # row, announced at mount) is stale: only the row the cursor is on now counts.
        if event.cursor_row != event.data_table.cursor_row or event.row_key.value is None:
            return
        number = int(event.row_key.value)
        self.query_one(LayerDetails).show_layer(self.host, self.image, number)
        if self.stack is not None:
            self.choose_layer(number)

    @on(DataTable.RowSelected, "#layers")
    def _layer_selected(self, event: DataTable.RowSelected) -> None:
        self.file_tree.focus()

    def choose_layer(self, number: int) -> None:
        if self.stack is None or number == self.chosen_layer or number >= len(self.stack.layers):
            return
        self.chosen_layer = number
        self.query_one(LayerDetails).show_layer(self.host, self.image, number)
        self.set_titles()
        position = len(self.stack.layers) - 1 - number
        self._layer_changes(number, LayerStack(self.stack.layers[position:]))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="layer",
        description="a layer's changes",
    )
    def _layer_changes(self, number: int, stack: LayerStack) -> None:
        try:
            index = ChangeIndex(changes(stack, rule=self.host.change_rule))
        except OverlayscopeError as exc:
            self.post_message(self.ScanStopped(exc))
            return
        self.post_message(self.LayerReady(number, stack, index))

    def on_image_screen_layer_ready(self, message: ImageScreen.LayerReady) -> None:
        if message.number != self.chosen_layer:
            return  # the user moved on: another layer's files are coming
        self.shown_layer = message.number
        self.layer_stack = message.stack
        self.layer_index = message.index
        s = message.index.summary()
        self.status.finish(
            Text(
                f"L{message.number}: {s.added:,} A · {s.changed:,} C · {s.deleted:,} D · "
                f"{size(s.bytes)} added or changed (m switches mode)"
            )
        )
        self.refilter()

    # -- keys -------------------------------------------------------------------

    def action_layers(self) -> None:
        self.query_one(TabbedContent).active = "layers-tab"
        self.query_one(LayerTable).focus()

    def action_waste(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "waste-tab":
            self.action_layers()
            return
        tabs.active = "waste-tab"
        self.query_one(WastedPaths).focus()
        self._ensure_efficiency()

    def _ensure_efficiency(self) -> None:
        panel = self.query_one(WastePanel)
        if self.services.stack_efficiency is None:
            panel.message("wasted space needs overlayscope.usage.efficiency (not installed)")
        elif self.stack is None:
            panel.message("waiting for the layers to be scanned…")
        else:
            panel.measure(self.services.stack_efficiency, self.stack, self.image)
