"""Writing results: JSON on stdout, or rich tables with humanized sizes; errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import humanize
from rich.console import Console
from rich.table import Table
from rich.text import Text

from overlayscope.names import printable


def stdout_console() -> Console:
    # highlight=False: never colour numbers or paths inside evidence by guessing.
    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def write_json(value: Any) -> None:
    """JSON on stdout. ensure_ascii keeps undecodable names as \\udcNN escapes (docs/json.md)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=True, sort_keys=False))
    sys.stdout.write("\n")


def size(n: int | None) -> str:
    return "?" if n is None else humanize.naturalsize(n, binary=False, format="%.1f")


def short(id_: str | None, width: int = 12) -> str:
    """A short id as docker prints it; an init layer keeps its "-init" suffix."""
    if not id_:
        return "-"
    bare = id_.removeprefix("sha256:")
    return bare[:width] + ("-init" if bare.endswith("-init") else "")


def safe(text: str, style: str = "") -> Text:
    """A cell holding evidence: escaped, never parsed as markup."""
    return Text(printable(text), style=style)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Text | str]],
    *,
    right: Iterable[str] = (),
    flexible: Iterable[str] = (),
) -> Table:
    """A plain table. Only `flexible` columns fold to fit the terminal; the rest (ids, sizes)
    always show whole."""
    right_set, flexible_set = set(right), set(flexible)
    cells = [[cell if isinstance(cell, Text) else Text(cell) for cell in row] for row in rows]
    t = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
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
