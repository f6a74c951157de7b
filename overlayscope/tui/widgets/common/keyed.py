"""vim's keys on the TUI's tables and scrolling views: j/k, g/G, and h/l.

A table row is an entry, as in ncdu: l (or →) opens it, as enter does; h (or ←) goes
back out (the screen's `back`, where it has one). A scrolling view scrolls with them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from overlayscope.tui.widgets.common.filter_bar import keys_for_the_bar


class KeyedTable(DataTable[Text]):
    """A row-cursor table with vim's keys, whose `STRETCH` column takes the width the
    others leave (a wide terminal shows whole tags, paths and build steps)."""

    STRETCH: ClassVar[str | None] = None  # the key of the column that stretches

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("g,home", "first_row", "First row", show=False),
        Binding("G,end", "last_row", "Last row", show=False),
        Binding("l,right", "select_cursor", "Open the row", show=False),
        Binding("h,left", "out", "Back out", show=False),
    ]

    def on_resize(self) -> None:
        self.call_after_refresh(self.stretch)

    async def on_key(self, event: events.Key) -> None:
        await keys_for_the_bar(self, event)

    def stretch(self) -> None:
        """Give the `STRETCH` column the room left, never less than its widest cell.

        Every width is measured from the cells themselves, not from the table's cached
        ones (those are brought up to date on a later refresh): the result does not
        depend on which refresh ran first. Called as soon as the rows change, not after
        the next refresh: a frame (or a screenshot) taken between would show the table
        unstretched."""
        if self.STRETCH is None or self.STRETCH not in self.columns:
            return
        region = self.scrollable_content_region.width
        if region <= 0:  # not laid out yet: once it is
            self.call_after_refresh(self.stretch)
            return
        flex = self.columns[ColumnKey(self.STRETCH)]
        others = sum(
            (self._natural(key) if column.auto_width else column.width) + 2 * self.cell_padding
            for key, column in self.columns.items()
            if column is not flex
        )
        room = region - others - 2 * self.cell_padding
        width = max(self._natural(flex.key), room)
        if flex.auto_width or flex.width != width:
            flex.auto_width = False
            flex.width = width
            self._require_update_dimensions = True
            self.refresh()

    def _natural(self, key: ColumnKey) -> int:
        """The widest of the column's label and cells."""
        column = self.columns[key]
        return max(
            [column.label.cell_len]
            + [
                cell.cell_len if isinstance(cell, Text) else len(str(cell))
                for cell in self.get_column(key)
            ]
        )

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=max(self.row_count - 1, 0))

    async def action_out(self) -> None:
        if self.screen.check_action("back", ()) and hasattr(self.screen, "action_back"):
            await self.screen.run_action("back")


class KeyedScroll(VerticalScroll):
    """Scrolled text (a file's content, a log, the keys) with vim's keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "scroll_down", "Scroll down", show=False),
        Binding("k,up", "scroll_up", "Scroll up", show=False),
        Binding("h,left", "scroll_left", "Scroll left", show=False),
        Binding("l,right", "scroll_right", "Scroll right", show=False),
        Binding("g,home", "scroll_home", "Top", show=False),
        Binding("G,end", "scroll_end", "Bottom", show=False),
    ]

    async def on_key(self, event: events.Key) -> None:
        await keys_for_the_bar(self, event)
