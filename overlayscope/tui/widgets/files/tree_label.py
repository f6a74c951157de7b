"""A tree line fitted to its width: the name, then whole annotations, then ncdu's figures
(size, a bar and the share of the parent, the entries beneath) at the right edge.

Nothing is cut mid-word: annotations and figures are shown whole or left out (the
figures shrink first to size and share, then to size alone); only a name too long for
the line is shortened, with an ellipsis.
"""

from __future__ import annotations

import humanize
from rich.text import Text

from overlayscope.record import record
from overlayscope.tui.tree_model import NodeStats

BAR = 8  # cells of the share bar
_EIGHTHS = " ▏▎▍▌▋▊▉█"


@record
class LabelParts:
    """What a tree line says: `head` (kind letter and name) always, `marks` while they fit,
    `stats` and `share` (of the parent's bytes) as the right-hand figures."""

    head: Text
    marks: tuple[Text, ...] = ()
    stats: NodeStats | None = None
    share: float | None = None
    show_items: bool = False  # a directory: its entries beneath are a figure


def compact_size(n: int) -> str:
    """`12.3 MB`, `5 B`: at most 8 cells."""
    return humanize.naturalsize(n, format="%.1f").replace(" Bytes", " B").replace(" Byte", " B")


def share_bar(share: float, width: int = BAR) -> str:
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[rest] if rest else "")
    return bar.ljust(width)


def figures(parts: LabelParts, level: int) -> Text:
    """The right-hand figures at `level`: 3 size, bar, share and entries; 2 size and share;
    1 size; 0 nothing."""
    s = parts.stats
    out = Text(no_wrap=True)
    if s is None or level == 0:
        return out
    out.append(f"{compact_size(s.bytes):>8}", style="dim" if not s.bytes else "")
    if level >= 2 and parts.share is not None:
        if level >= 3:
            out.append(" ")
            out.append(share_bar(parts.share), style="cyan")
        out.append(f"{parts.share:>5.0%}", style="dim")
    if level >= 3:
        items = f"{s.items:,}" if parts.show_items else ""
        out.append(f" {items:>7}", style="dim")
    return out


def fit(parts: LabelParts, width: int) -> Text:
    """One line of at most `width` cells; see the module's docstring. The size comes first,
    then the marks (what overlayscope knows of the entry), then the bar and the share."""
    head = parts.head
    size_only = figures(parts, 1)
    if size_only and head.cell_len + 2 + size_only.cell_len > width:
        # Not even the size beside the whole name: the size still, when the line is wide
        # enough for a useful part of the name too (ncdu keeps the size, shortens the name).
        size_only = size_only if width >= size_only.cell_len + 14 else Text()
    reserve = size_only.cell_len + 1 if size_only else 0
    line = Text(no_wrap=True)
    if head.cell_len > width - reserve:
        short = head.copy()
        short.truncate(max(width - reserve, 1), overflow="ellipsis")
        line.append_text(short)
    else:
        line.append_text(head)
        for mark in parts.marks:
            gap = 1 if mark.plain.startswith("(") else 2  # "(same bytes)" explains the last
            if line.cell_len + gap + mark.cell_len > width - reserve:
                break  # later marks say less: none is cut
            line.append(" " * gap)
            line.append_text(mark)
    chosen = size_only
    for level in (3, 2):
        candidate = figures(parts, level)
        if candidate and line.cell_len + 1 + candidate.cell_len <= width:
            chosen = candidate
            break
    if chosen:
        line.append(" " * max(width - line.cell_len - chosen.cell_len, 1))
        line.append_text(chosen)
    return line
