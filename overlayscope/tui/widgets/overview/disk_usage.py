"""Where the disk went: one bar per category of `overlayscope.usage.df.disk_usage`.

Bars are allocated bytes (what fills a disk); apparent bytes (what `docker
system df` adds up) and what a prune would reclaim are beside them. When the
installed core has no `disk_usage`, the panel says so and the rest of the
overview works as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from overlayscope.tui.text import size

if TYPE_CHECKING:
    from overlayscope.usage.df_model import DiskUsage

BAR_WIDTH = 14
BAR_STYLES = ("cyan", "magenta", "blue", "red", "yellow", "green", "bright_black", "white")


@dataclass(frozen=True, slots=True)
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


def bars(rows: list[UsageRow], *, total: int, width: int = BAR_WIDTH) -> Text:
    """A bar per row, scaled to the largest, with sizes and reclaimable bytes."""
    out = Text(no_wrap=True)
    largest = max((row.allocated for row in rows), default=0) or 1
    label_width = max((len(row.label) for row in rows), default=5)
    out.append(" " * (label_width + width + 2))
    out.append(f"{'on disk':>9} {'apparent':>9} {'reclaimable':>11}\n", style="dim")
    for i, row in enumerate(rows):
        filled = round(width * row.allocated / largest)
        if row.allocated and not filled:
            filled = 1
        out.append(f"{row.label:<{label_width}} ", style="bold" if row.allocated else "dim")
        out.append("█" * filled, style=BAR_STYLES[i % len(BAR_STYLES)])
        out.append("·" * (width - filled), style="dim")
        out.append(f" {size(row.allocated):>9}")
        out.append(f" {size(row.apparent):>9}", style="dim")
        out.append(f" {size(row.reclaimable) if row.reclaimable else '':>11}\n", style="yellow")
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
        border-left: vkey $surface-lighten-2;
    }
    """

    def on_mount(self) -> None:
        self.update(Text("where the disk went: measuring…", style="dim"))

    def unavailable(self, why: str) -> None:
        self.update(Text(why, style="dim"))

    def show(self, usage: DiskUsage) -> None:
        self.update(bars(usage_rows(usage), total=usage.total.allocated))
