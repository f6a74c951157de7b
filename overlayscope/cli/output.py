"""Writing results for a person: Rich tables and consoles (JSON, sizes and ids: `cli/plain.py`)."""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Iterable, Iterator, Sequence

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from overlayscope.cli.plain import LARGE
from overlayscope.names import printable


class _Stdout(Console):
    """Rich's console, but a reader that went away (`| head`) is a BrokenPipeError for
    `cli.main` to answer, not Rich's own `SystemExit(1)` (1 means "found problems")."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class _Stderr(Console):
    """Rich's console on stderr: a closed stderr silences it, nothing more."""

    def on_broken_pipe(self) -> None:
        self.quiet = True


# The width of output that is not a terminal's: no line is ever folded (Rich's default
# would be 80 columns, cutting ids and paths into fragments and `rm -rf --` lines in two).
UNBOUNDED = 1_000_000


def stdout_console() -> Console:
    """The results' console: on a terminal, tables fit its width; into a pipe or a file,
    every line whole (UNBOUNDED), whatever COLUMNS says."""
    # highlight=False: never colour numbers or paths inside evidence by guessing.
    console = _Stdout(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = UNBOUNDED
    return console


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
    columns: Sequence[str], rows: Iterable[Sequence[Text | str]], wanted: Sequence[str]
) -> tuple[list[str], list[tuple[Text | str, ...]]]:
    """`rows` (cells in `columns` order) cut down to the `wanted` columns, in their order."""
    index = [list(columns).index(name) for name in wanted]
    return list(wanted), [tuple(row[i] for i in index) for row in rows]


def stderr_console(*, soft_wrap: bool = True) -> Console:
    """Warnings and errors: soft_wrap, so a line is never broken at the terminal's width
    (a path cut in two cannot be copied, nor grepped). Progress bars, drawn in place,
    keep to the width (soft_wrap=False)."""
    return _Stderr(stderr=True, highlight=False, soft_wrap=soft_wrap)


def safe(text: str, style: str = "") -> Text:
    """A cell holding evidence: escaped, never parsed as markup."""
    return Text(printable(text), style=style)


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
