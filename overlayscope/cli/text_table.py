"""Tables for a person, written as plain text with ANSI styles: no Rich (~25 ms to load).

Columns are padded to their widest cell and set two spaces apart, the header in bold, a
cell in its own style where colour is on (`cli/ansi.py` decides, as Rich would). Into a
pipe or a file every line is whole, whatever COLUMNS says: ids, paths and `rm -rf --`
lines paste and run. On a terminal too wide a table folds its *flexible* columns (names,
paths, commands) — the widest first, words kept whole where they fit — so the rest (ids,
sizes, states) always show whole. No line ends in padding. Linear in the rows: a table of
a million rows is written as it is made, a line at a time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from overlayscope.cli.ansi import Paint, cells_of, fold, painter, terminal_columns
from overlayscope.names import printable
from overlayscope.record import record

GAP = "  "  # between two columns
# a flexible column keeps at least its header's width, and never less than this
MIN_FLEXIBLE = 8


@record
class Styled:
    """A cell's text (escaped already, see `cell`) and its style ("green", "bold red"…)."""

    text: str
    style: str = ""


Cell = Styled | str


def cell(text: str, style: str = "") -> Styled:
    """A cell holding evidence (a name, a path, a command): escaped, shown as it is."""
    return Styled(printable(text), style)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    right: Iterable[str] = (),
    flexible: Iterable[str] = (),
) -> TextTable:
    """A table of `rows` (one cell a column); `right` columns are right-aligned (sizes,
    counts), only `flexible` ones fold to fit a terminal."""
    return TextTable(title, columns, [tuple(row) for row in rows], set(right), set(flexible))


def write_table(rendered: TextTable, stream: TextIO | None = None) -> None:
    """`rendered` on `stream` (stdout): folded to a terminal's width, styled where colour
    is on, every line whole into a pipe."""
    out = stream or sys.stdout
    out.writelines(rendered.lines(terminal_columns(out), painter(out)))


class TextTable:
    """Rows of cells, laid out once their widths are known (`lines`)."""

    def __init__(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: list[tuple[Cell, ...]],
        right: set[str],
        flexible: set[str],
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = rows
        self.right = [name in right for name in self.columns]
        self.flexible = [name in flexible for name in self.columns]

    def widths(self, width: int | None) -> list[int]:
        """Each column's width: its widest cell, header included, with the flexible
        columns narrowed to fit `width` cells where it is not None (a terminal)."""
        natural = self.natural_widths()
        return natural if width is None else self._fit(natural, width)

    def natural_widths(self) -> list[int]:
        """Each column's widest cell, header included."""
        widths = [cells_of(name) for name in self.columns]
        for row in self.rows:
            for i, c in enumerate(row):
                w = cells_of(c if isinstance(c, str) else c.text)
                if w > widths[i]:
                    widths[i] = w
        return widths

    def lines(self, width: int | None, paint: Paint) -> Iterator[str]:
        """The table's lines (each ending in a newline), fitted to `width` cells where it
        is not None (a terminal)."""
        widths = self.widths(width)
        if self.title:
            yield printable(self.title) + "\n"
        if any(self.columns):
            yield self._line([Styled(name, "bold") for name in self.columns], widths, paint)
        for row in self.rows:
            yield self._line(row, widths, paint)

    def _fit(self, widths: list[int], width: int) -> list[int]:
        """`widths` with the flexible columns narrowed, widest first, until a line fits in
        `width` cells (or each is at its minimum: then lines run past the edge rather than
        cut an id)."""
        excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
        floors = [max(MIN_FLEXIBLE, cells_of(name)) for name in self.columns]
        narrowed = list(widths)
        while excess > 0:
            room = [i for i, flex in enumerate(self.flexible) if flex and narrowed[i] > floors[i]]
            if not room:
                break
            widest = max(narrowed[i] for i in room)
            at_widest = [i for i in room if narrowed[i] == widest]
            below = [narrowed[i] for i in room if narrowed[i] < widest]
            # down to the next width (or the floor), shared by the columns that widest
            step = widest - max([*below, max(floors[i] for i in at_widest)])
            cut = min(step, -(-excess // len(at_widest)))
            for i in at_widest:
                take = min(cut, narrowed[i] - floors[i], excess)
                narrowed[i] -= take
                excess -= take
        return narrowed

    def _line(self, row: Sequence[Cell], widths: list[int], paint: Paint) -> str:
        """One row: a single line, or several where a flexible cell folds."""
        texts = [c if isinstance(c, str) else c.text for c in row]
        styles = ["" if isinstance(c, str) else c.style for c in row]
        parts = [  # `fold` gives a text that fits as it is
            fold(t, w) if flex else [t]
            for t, w, flex in zip(texts, widths, self.flexible, strict=True)
        ]
        return self._join(parts, styles, widths, paint)

    def _join(
        self, parts: list[list[str]], styles: list[str], widths: list[int], paint: Paint
    ) -> str:
        height = max(len(p) for p in parts)
        last = len(parts) - 1
        out: list[str] = []
        for n in range(height):
            cells: list[str] = []
            for i, lines in enumerate(parts):
                text = lines[n] if n < len(lines) else ""
                pad = " " * max(0, widths[i] - cells_of(text))
                shown = paint(text, styles[i])
                if self.right[i]:
                    cells.append(pad + shown)
                else:
                    cells.append(shown if i == last else shown + pad)
            out.append(GAP.join(cells).rstrip(" ") + "\n")
        return "".join(out)


def columns_option(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """`--columns a,b,…`: the table's columns to show, in that order (names checked when
    the arguments are parsed: a wrong one is a usage error)."""

    def parse(text: str) -> list[str]:
        wanted = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in names]
        if unknown or not wanted:
            what = f"unknown column {unknown[0]!r}" if unknown else "no column named"
            raise argparse.ArgumentTypeError(f"{what}; the columns: {','.join(names)}")
        return wanted

    parser.add_argument(
        "--columns",
        metavar="LIST",
        type=parse,
        help=f"the columns to show, comma-separated, in order: {','.join(names)}",
    )


def pick(
    columns: Sequence[str], rows: Iterable[Sequence[Cell]], wanted: Sequence[str]
) -> tuple[list[str], list[tuple[Cell, ...]]]:
    """`rows` (cells in `columns` order) cut down to the `wanted` columns, in their order."""
    index = [list(columns).index(name) for name in wanted]
    return list(wanted), [tuple(row[i] for i in index) for row in rows]
