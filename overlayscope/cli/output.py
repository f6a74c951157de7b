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
    if not id_:
        return "-"
    return id_.removeprefix("sha256:")[:width]


def safe(text: str, style: str = "") -> Text:
    """A cell holding evidence: escaped, never parsed as markup."""
    return Text(printable(text), style=style)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Text | str]],
          *, right: Iterable[str] = ()) -> Table:
    right_set = set(right)
    t = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for col in columns:
        t.add_column(col, justify="right" if col in right_set else "left", no_wrap=col != "created by")
    for row in rows:
        t.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    return t
