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


class Encoded(list[str]):
    """A list whose items are JSON texts already (what `json.dumps(item)` would give):
    a large document's items are written as they are, a small one's are decoded and
    indented like the rest."""


def write_json(value: Any) -> None:
    """JSON on stdout. ensure_ascii keeps undecodable names as \\udcNN escapes (docs/json.md).

    Small documents are indented. A document whose lists (at the top, or one level down)
    hold more than LARGE items is streamed instead, one item a line, each encoded on its
    own: a million changes never become one giant string (memory and time stay linear).
    """
    write = sys.stdout.write
    if _items(value) <= LARGE:
        write(json.dumps(_decoded(value), indent=2, ensure_ascii=True, sort_keys=False))
    else:
        for chunk in _stream(value, 0):
            write(chunk)
    write("\n")


def _decoded(value: Any) -> Any:
    if isinstance(value, Encoded):
        return [json.loads(item) for item in value]
    if isinstance(value, dict) and any(isinstance(v, Encoded) for v in value.values()):
        return {key: _decoded(item) for key, item in value.items()}
    return value


def _items(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v) for v in value.values() if isinstance(v, list))
    return 0


_BATCH = 2048  # items joined into one write


def _stream(value: Any, level: int) -> Iterator[str]:
    pad = "  " * (level + 1)
    if isinstance(value, dict) and level == 0 and value:
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + "\n" + pad + json.dumps(key, ensure_ascii=True) + ": "
            yield from _stream(item, level + 1)
        yield "\n}"
    elif isinstance(value, list) and value:
        texts = value if isinstance(value, Encoded) else None
        sep = ",\n" + pad
        yield "[\n" + pad
        for start in range(0, len(value), _BATCH):
            batch = value[start : start + _BATCH]
            if texts is None:
                batch = [json.dumps(item, ensure_ascii=True) for item in batch]
            yield (sep if start else "") + sep.join(batch)
        yield "\n" + "  " * level + "]"
    else:
        yield json.dumps(value, ensure_ascii=True)


def size(n: int | None) -> str:
    return "?" if n is None else humanize.naturalsize(n, binary=False, format="%.1f")


def short(id_: str | None, width: int = 12) -> str:
    """A short id as docker prints it; an init layer keeps its "-init" suffix.

    Escaped: a layer id is a layer dir name, and a planted dir's name is evidence.
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
            max([_width(col), *(_width(row[i]) for row in rows)]) for i, col in enumerate(columns)
        ]

    def fits(self, width: int) -> bool:
        """Whether every line drawn at `width` is at most that wide: then the console
        need not crop them (`print_table`)."""
        head = sum(self.widths[:-1]) + len(self.widths) - 1
        title = _width(printable(self.title)) if self.title else 0
        return head + 20 <= width and title <= width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        if self.title:
            yield Segment(printable(self.title) + "\n")
        for row in [self.columns, *self.rows]:
            yield Segment(self._line(row, options.max_width))

    def _line(self, row: Sequence[str], width: int) -> str:
        cells = []
        for i, text in enumerate(row[:-1]):
            gap = " " * (self.widths[i] - _width(text))
            cells.append(gap + text if self.right[i] else text + gap)
        head = " ".join([*cells, ""])
        room = max(20, width - _width(head))
        last = row[-1]
        if _width(last) <= room:
            return head + last + "\n"
        indent = "\n" + " " * _width(head)
        return head + indent.join(chop_cells(last, room)) + "\n"


def _width(text: str) -> int:
    """Terminal cells of `text`: its length when it is printable ASCII (most of it)."""
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def print_table(console: Console, rendered: Table | PlainRows) -> None:
    """`console.print(rendered)`, without the per-line cropping pass where a large
    table's lines all fit (a third of the time of 100,000 lines)."""
    fits = isinstance(rendered, PlainRows) and rendered.fits(console.width)
    console.print(rendered, crop=not fits)


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
