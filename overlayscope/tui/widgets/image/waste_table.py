"""An image's wasted space, as dive counts it, and the bytes no container can ever read.

Filled from `overlayscope.usage.efficiency` (`stack_efficiency` on the stack the
image screen already scanned) when the installed core has it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.names import printable
from overlayscope.root.model import Image
from overlayscope.tui.text import key_value, safe, short_id, size, size_text
from overlayscope.tui.widgets.common.keyed import KeyedTable
from overlayscope.tui.widgets.image.layer_table import created_by
from overlayscope.union import LayerStack

if TYPE_CHECKING:
    from overlayscope.usage.efficiency import Efficiency

StackEfficiency = Callable[..., "Efficiency"]  # stack_efficiency(stack, image, *, cancel)


def efficiency_summary(eff: Efficiency) -> Text:
    score = Text(f"{eff.score:.1%}", style="bold green" if eff.score >= 0.9 else "bold yellow")
    score.append("  (dive's score: the smallest copy of each path over all copies)", style="dim")
    wasted = Text(size(eff.wasted_bytes), style="bold yellow" if eff.wasted_bytes else "")
    if eff.user_wasted_percent is not None:
        wasted.append(f"  {eff.user_wasted_percent:.1%} of the {size(eff.user_size)}")
        wasted.append(" above the base layer", style="dim")
    hidden = Text(size(eff.hidden_bytes), style="bold red" if eff.hidden_bytes else "")
    hidden.append("  in files overwritten, deleted or under an opaque dir", style="dim")
    return key_value([("efficiency", score), ("wasted", wasted), ("unreadable", hidden)], width=12)


class WastedPaths(KeyedTable):
    """Every path found in more than one layer, the most bytes first."""

    DEFAULT_CSS = """
    WastedPaths { height: 1fr; width: 3fr; }
    """
    STRETCH = "path"

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_column("wasted", key="wasted")
        self.add_column("count", key="count")
        self.add_column("path", key="path")

    def show(self, eff: Efficiency) -> None:
        self.clear()
        for wasted in eff.paths:
            self.add_row(
                size_text(wasted.cumulative_size),
                Text(str(wasted.count), justify="right"),
                safe(wasted.path),
            )
        self.stretch()


class LayerWaste(KeyedTable):
    """Per layer: its file bytes and how many of them the merged image never shows."""

    DEFAULT_CSS = """
    LayerWaste { height: 1fr; width: 2fr; }
    """
    STRETCH = "created_by"

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key in (
            ("#", "n"),
            ("layer", "id"),
            ("files", "files"),
            ("unreadable", "unreadable"),
            ("created by", "created_by"),
        ):
            self.add_column(label, key=key)

    def show(self, eff: Efficiency) -> None:
        self.clear()
        for n, layer in enumerate(eff.layers):
            self.add_row(
                Text(f"L{n}"),
                Text(short_id(layer.id)),
                size_text(layer.content_size),
                size_text(layer.hidden_bytes, style="red" if layer.hidden_bytes else "dim"),
                created_by(layer.created_by),
            )
        self.stretch()


class WastePanel(Vertical):
    """The summary and both tables; measures once, in a worker, when first shown."""

    DEFAULT_CSS = """
    WastePanel #waste-summary { height: auto; padding: 0 1 1 1; }
    WastePanel > Horizontal { height: 1fr; }
    """

    class Measured(Message):
        def __init__(self, result: Efficiency | None, error: OverlayscopeError | None) -> None:
            super().__init__()
            self.result = result  # None when cancelled or failed
            self.error = error

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._started = False
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Text("press w to measure", style="dim"), id="waste-summary")
        with Horizontal():
            yield WastedPaths(id="wasted-paths")
            yield LayerWaste(id="layer-waste")

    def message(self, text: str, style: str = "dim") -> None:
        self.query_one("#waste-summary", Static).update(Text(text, style=style))

    def show(self, eff: Efficiency) -> None:
        self.query_one("#waste-summary", Static).update(efficiency_summary(eff))
        self.query_one(WastedPaths).show(eff)
        self.query_one(LayerWaste).show(eff)

    def on_unmount(self) -> None:
        self._cancel.set()

    def measure(self, func: StackEfficiency, stack: LayerStack, image: Image) -> None:
        """Compute the efficiency of the already scanned `stack`, unless it was done already."""
        if self._started:
            return
        self._started = True
        self._cancel = threading.Event()
        self.message("measuring…")
        self._measure(func, stack, image, self._cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, description="wasted space")
    def _measure(
        self, func: StackEfficiency, stack: LayerStack, image: Image, cancel: threading.Event
    ) -> None:
        try:
            result = func(stack, image, cancel=cancel)
        except Cancelled:
            self.post_message(self.Measured(None, None))
            return
        except OverlayscopeError as exc:
            self.post_message(self.Measured(None, exc))
            return
        self.post_message(self.Measured(result, None))

    def on_waste_panel_measured(self, message: WastePanel.Measured) -> None:
        message.stop()
        if message.result is not None:
            self.show(message.result)
            return
        self._started = False
        if message.error is None:
            self.message("cancelled (w twice measures again)")
        else:
            self.message(printable(f"{message.error.title}: {message.error.message}"), "red")
