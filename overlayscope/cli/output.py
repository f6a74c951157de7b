"""Writing results: JSON on stdout, or rich tables with humanized sizes; errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import humanize
from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from overlayscope.names import printable


def stdout_console() -> Console:
    # highlight=False: never colour numbers or paths inside evidence by guessing.
    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def write_json(value: Any) -> None:
    """JSON on stdout. ensure_ascii keeps undecodable names as \\udcNN escapes (docs/json.md).

    Small documents are indented. A document whose lists (at the top, or one level down)
    hold more than LARGE items is streamed instead, one item a line, each encoded on its
    own: a million changes never become one giant string (memory and time stay linear).
    """
    if _items(value) <= LARGE:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=True, sort_keys=False))
    else:
        for chunk in _stream(value, 0):
            sys.stdout.write(chunk)
    sys.stdout.write("\n")


def _items(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v) for v in value.values() if isinstance(v, list))
    return 0


def _stream(value: Any, level: int) -> Iterator[str]:
    pad = "  " * (level + 1)
    if isinstance(value, dict) and level == 0 and value:
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + "\n" + pad + json.dumps(key, ensure_ascii=True) + ": "
            yield from _stream(item, level + 1)
        yield "\n}"
    elif isinstance(value, list) and value:
        yield "["
        for i, item in enumerate(value):
            yield ("," if i else "") + "\n" + pad + json.dumps(item, ensure_ascii=True)
        yield "\n" + "  " * level + "]"
    else:
        yield json.dumps(value, ensure_ascii=True)


def size(n: int | None) -> str:
    return "?" if n is None else humanize.naturalsize(n, binary=False, format="%.1f")


def short(id_: str | None, width: int = 12) -> str:
    """A short id as docker prints it; an init layer keeps its "-init" suffix.

    Escaped: a layer id is an overlay2 dir name, and a planted dir's name is evidence.
    """
    if not id_:
        return "-"
    bare = id_.removeprefix("sha256:")
    return printable(bare[:width] + ("-init" if bare.endswith("-init") else ""))


def safe(text: str, style: str = "") -> Text:
    """A cell holding evidence: escaped, never parsed as markup."""
    return Text(printable(text), style=style)


# Rows beyond which a table is drawn line by line (PlainRows) rather than by rich.Table,
# whose layout costs ~0.5 ms and kilobytes a row: a 1,000,000-entry dir takes seconds.
LARGE = 5000


class PlainRows:
    """A large table: columns padded to their widest cell, the last one folded to fit.

    Cells are already escaped (`Text` or `str`); styles are dropped. One segment a line,
    so drawing is linear and light.
    """

    def __init__(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: list[list[str]],
        right: set[str],
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = rows
        self.right = [col in right for col in columns]
        self.widths = [
            max([cell_len(col), *(cell_len(row[i]) for row in rows)])
            for i, col in enumerate(columns)
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        if self.title:
            yield Segment(printable(self.title) + "\n")
        for row in [self.columns, *self.rows]:
            yield Segment(self._line(row, options.max_width))

    def _line(self, row: Sequence[str], width: int) -> str:
        cells = []
        for i, text in enumerate(row[:-1]):
            gap = " " * (self.widths[i] - cell_len(text))
            cells.append(gap + text if self.right[i] else text + gap)
        head = " ".join([*cells, ""])
        room = max(20, width - cell_len(head))
        last = row[-1]
        if cell_len(last) <= room:
            return head + last + "\n"
        indent = "\n" + " " * cell_len(head)
        return head + indent.join(chop_cells(last, room)) + "\n"


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Text | str]],
    *,
    right: Iterable[str] = (),
    flexible: Iterable[str] = (),
) -> Table | PlainRows:
    """A plain table. Only `flexible` columns fold to fit the terminal; the rest (ids, sizes)
    always show whole."""
    right_set, flexible_set = set(right), set(flexible)
    rows = list(rows)
    if len(rows) > LARGE:
        plain = [[c.plain if isinstance(c, Text) else c for c in row] for row in rows]
        return PlainRows(title, columns, plain, right_set)
    cells = [[cell if isinstance(cell, Text) else Text(cell) for cell in row] for row in rows]
    # A title is plain text (it may name the root), never markup.
    t = Table(
        title=safe(title) if title else None,
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    for i, col in enumerate(columns):
        widest = max([len(col), *(cell.cell_len for row in cells for cell in row[i : i + 1])])
        t.add_column(
            col,
            justify="right" if col in right_set else "left",
            no_wrap=col not in flexible_set,
            overflow="fold",
            min_width=None if col in flexible_set else widest,
        )
    for row in cells:
        t.add_row(*row)
    return t
