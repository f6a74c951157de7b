"""Where the disk went: one bar per category of `overlayscope.usage.df.disk_usage`.

Bars are allocated bytes (what fills a disk); apparent bytes (what `docker
system df` adds up) and what a prune would reclaim are beside them. When the
installed core has no `disk_usage`, the panel says so and the rest of the
overview works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from overlayscope.record import record
from overlayscope.tui.text import size

if TYPE_CHECKING:
    from overlayscope.usage.df_model import DiskUsage

BAR_WIDTH = 14
BAR_STYLES = ("cyan", "magenta", "blue", "red", "yellow", "green", "bright_black", "white")


@record
class UsageRow:
    label: str
    allocated: int
    apparent: int
    reclaimable: int
    count: int


def usage_rows(usage: DiskUsage) -> list[UsageRow]:
    return [
        UsageRow(
            c.category.value.replace("_", " "), c.allocated, c.apparent, c.reclaimable, c.count
        )
        for c in usage.categories
    ]


def bars(
    rows: list[UsageRow], *, total: int, width: int = BAR_WIDTH, room: int | None = None
) -> Text:
    """A bar per row, scaled to the largest, with sizes and reclaimable bytes. Given the
    `room` (cells), the bar shrinks first, then the apparent and reclaimable columns go:
    bytes on disk stay, and no column is cut."""
    largest = max((row.allocated for row in rows), default=0) or 1
    label_width = max((len(row.label) for row in rows), default=5)
    extra = True
    if room is not None:
        fixed = label_width + 2 + 9
        if room - fixed - 21 >= 6:
            width = min(width, room - fixed - 21)
        else:
            extra = False
            width = max(min(width, room - fixed), 3)
    out = Text(no_wrap=True)
    out.append(" " * (label_width + width + 2))
    out.append(f"{'on disk':>9}", style="dim")
    out.append(f" {'apparent':>9} {'reclaimable':>11}\n" if extra else "\n", style="dim")
    for i, row in enumerate(rows):
        filled = round(width * row.allocated / largest)
        if row.allocated and not filled:
            filled = 1
        out.append(f"{row.label:<{label_width}} ", style="bold" if row.allocated else "dim")
        out.append("█" * filled, style=BAR_STYLES[i % len(BAR_STYLES)])
        out.append("·" * (width - filled), style="dim")
        out.append(f" {size(row.allocated):>9}")
        if extra:
            out.append(f" {size(row.apparent):>9}", style="dim")
            out.append(f" {size(row.reclaimable) if row.reclaimable else '':>11}", style="yellow")
        out.append("\n")
    out.append(f"{'total':<{label_width + width + 1}} {size(total):>9}", style="bold")
    reclaim = sum(row.reclaimable for row in rows)
    if reclaim:
        out.append(f"  {size(reclaim)} reclaimable by pruning", style="yellow")
    return out


class DiskUsagePanel(Static):
    """Bars per category; a reason instead while measuring, cancelled or unavailable."""

    DEFAULT_CSS = """
    DiskUsagePanel {
        width: auto; min-width: 40; height: auto; padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.update(Text("where the disk went: measuring…", style="dim"))

    def unavailable(self, why: str) -> None:
        self.update(Text(why, style="dim"))

    _usage: DiskUsage | None = None

    def show(self, usage: DiskUsage) -> None:
        self._usage = usage
        self._draw()

    def on_resize(self) -> None:
        if self._usage is not None:
            self._draw()

    def _draw(self) -> None:
        usage = self._usage
        if usage is None:
            return
        parent = self.parent
        room = parent.content_region.width - 3 if isinstance(parent, Widget) else None
        self.update(bars(usage_rows(usage), total=usage.total.allocated, room=room))
