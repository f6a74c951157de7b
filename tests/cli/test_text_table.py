"""cli/text_table.py, the tables every command writes for a person, and cli/ansi.py's
lines: into a pipe as Rich laid the same tables out (the oracle, with the settings the
CLI gave it), on a terminal folded to its width, flexible columns only."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from overlayscope.cli import ansi
from overlayscope.cli.ansi import cells_of, fold, styled, unstyled, write_line
from overlayscope.cli.text_table import Cell, Styled, cell, table, write_table


def _rich(columns: list[str], rows: list[tuple[Cell, ...]], right: set[str]) -> str:
    """The table as rich.Table drew it for the CLI into a pipe: no box, no edge padding,
    every column as wide as its widest cell."""
    t = Table(box=None, pad_edge=False, header_style="bold")
    for i, col in enumerate(columns):
        widest = max([len(col), *(cells_of(_text(r[i])) for r in rows)])
        t.add_column(col, justify="right" if col in right else "left", min_width=widest)
    for r in rows:
        t.add_row(*(Text(_text(c)) for c in r))
    console = Console(file=io.StringIO(), width=1_000_000, highlight=False, color_system=None)
    console.print(t)
    return "".join(line.rstrip(" ") + "\n" for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


def _text(c: Cell) -> str:
    return c if isinstance(c, str) else c.text


def _written(rendered: object, width: int | None, paint: ansi.Paint = unstyled) -> str:
    return "".join(rendered.lines(width, paint))  # type: ignore[attr-defined]


WORDS = ["web", "db", "scope/app:1", "a b c", "-", "", "名前", "café", "x" * 30, "1.0 MB"]


@pytest.mark.parametrize("seed", range(40))
def test_into_a_pipe_the_lines_are_richs_without_trailing_spaces(seed: int) -> None:
    rng = random.Random(seed)
    columns = [f"c{i}" for i in range(rng.randint(1, 6))]
    right = {c for c in columns if rng.random() < 0.3}
    rows: list[tuple[Cell, ...]] = [
        tuple(
            rng.choice(WORDS) if rng.random() < 0.5 else Styled(rng.choice(WORDS), "green")
            for _ in columns
        )
        for _ in range(rng.randint(0, 8))
    ]
    rendered = table(None, columns, rows, right=right, flexible=columns[:1])
    assert _written(rendered, None) == _rich(columns, rows, right)


ROWS: list[tuple[Cell, ...]] = [
    ("12b4b0337a16", cell("a web server with a rather long name"), "scope/app:1", "2.4 MB"),
    ("5fbccd6603ca", cell("db"), cell("registry.example.com/team/database:15.2-alpine"), "61 kB"),
]
COLUMNS = ["container", "name", "image", "size"]


@pytest.mark.parametrize("width", [40, 50, 60, 80, 120])
def test_on_a_terminal_flexible_columns_fold_and_the_rest_stay_whole(width: int) -> None:
    rendered = table(None, COLUMNS, ROWS, right=["size"], flexible=["name", "image"])
    lines = _written(rendered, width).splitlines()
    natural = max(len(line) for line in _written(rendered, None).splitlines())
    # 12 + 7 + 2 fixed cells and three gaps leave at least 8 for each flexible column
    assert all(len(line) <= max(width, 12 + 8 + 8 + 7 + 6) for line in lines), lines
    text = "\n".join(lines)
    for whole in ("12b4b0337a16", "5fbccd6603ca", "2.4 MB", "61 kB", "container"):
        assert whole in text  # ids, sizes, headers never cut
    # each flexible cell, read back down its column, is the whole text
    widths = rendered.widths(width)
    starts = [sum(widths[:i]) + 2 * i for i in range(len(widths))]
    body = lines[1:]
    for col in (1, 2):
        cuts = [line[starts[col] : starts[col] + widths[col]].strip() for line in body]
        read = " ".join(part for part in cuts if part)
        for row in ROWS:
            assert _text(row[col]).replace(" ", "") in read.replace(" ", "")
    if width >= natural:
        assert len(lines) == 3  # it fits: nothing folds


def test_the_widest_flexible_column_gives_first() -> None:
    rows: list[tuple[Cell, ...]] = [("id", "short name", "a much longer image reference here")]
    rendered = table(None, ["id", "name", "image"], rows, flexible=["name", "image"])
    lines = _written(rendered, 40).splitlines()
    assert lines[0].split() == ["id", "name", "image"]
    assert lines[1].startswith("id  short name  ")  # the narrower one kept its width
    assert all(len(line) <= 40 for line in lines) and len(lines) > 2


def test_styles_on_a_terminal_and_none_without() -> None:
    rows: list[tuple[Cell, ...]] = [("abc", Styled("running", "green"))]
    rendered = table("Title", ["id", "state"], rows)
    coloured = _written(rendered, 80, styled)
    assert coloured.splitlines() == [
        "Title",
        "\x1b[1mid\x1b[0m   \x1b[1mstate\x1b[0m",
        "abc  \x1b[32mrunning\x1b[0m",
    ]
    assert _written(rendered, 80) == "Title\nid   state\nabc  running\n"


def test_a_table_without_header_names_has_no_header_line() -> None:
    rendered = table(None, ["", ""], [("efficiency", "98 %"), ("wasted", "1 kB")])
    assert _written(rendered, None) == "efficiency  98 %\nwasted      1 kB\n"


def test_evidence_in_a_cell_is_escaped_and_wide_characters_take_two_cells() -> None:
    rendered = table(None, ["name", "n"], [(cell("evil\x1b[31mname"), "1"), (cell("名前"), "2")])
    lines = _written(rendered, None).splitlines()
    assert "\x1b" not in "".join(lines)
    assert lines[1] == "evil\\x1b[31mname  1"  # 16 cells, so 名前 (4) and 12 spaces
    assert lines[2] == "名前" + " " * 12 + "  2"


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("short", 10, ["short"]),
        ("one two three four", 9, ["one two", "three", "four"]),
        ("averyveryverylongword and more", 8, ["averyver", "yverylon", "gword", "and more"]),
        ("名前名前名前", 5, ["名前", "名前", "名前"]),
        ("  leading spaces kept", 30, ["  leading spaces kept"]),
    ],
)
def test_fold(text: str, width: int, lines: list[str]) -> None:
    assert fold(text, width) == lines
    assert all(cells_of(line) <= width for line in fold(text, width))


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_write_line_wraps_prose_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("NO_COLOR", "1")
    prose = "apparent: file sizes as the daemon counts them"
    tty, pipe = _Tty(), io.StringIO()
    write_line(prose, "dim", tty, wrap=True)
    write_line(prose, "dim", pipe, wrap=True)
    write_line("rm -rf -- /a/very/long/path/to/remove", "", tty)  # a command: never folded
    assert tty.getvalue().splitlines() == [
        "apparent: file sizes",
        "as the daemon counts",
        "them",
        "rm -rf -- /a/very/long/path/to/remove",
    ]
    assert pipe.getvalue() == prose + "\n"


def test_write_table_decides_colour_and_width_from_its_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "30")
    rendered = table(None, COLUMNS, ROWS, right=["size"], flexible=["name", "image"])
    pipe, tty = io.StringIO(), _Tty()
    write_table(rendered, pipe)
    write_table(rendered, tty)
    assert "\x1b[" not in pipe.getvalue() and len(pipe.getvalue().splitlines()) == 3
    assert "\x1b[1mcontainer\x1b[0m" in tty.getvalue() and len(tty.getvalue().splitlines()) > 3
