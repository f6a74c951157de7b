"""Saying what could not be read: warning lines on stderr, `problems` in JSON, exit 4.

A command whose answer depends on a part of a layer that could not be read (`union/
unread.py`) still answers with what it could read, and says so: one warning line per
unread part on stderr (names escaped), the parts in its JSON document, and the exit
status `ExitCode.INCOMPLETE` — unless the command found what it gates on (exit 1 wins).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from overlayscope.cli.plain import short
from overlayscope.errors import ExitCode
from overlayscope.names import printable
from overlayscope.union.unread import UnreadPart, dedupe

if TYPE_CHECKING:
    from overlayscope.cli.context import Context


def unread_json(parts: Iterable[UnreadPart]) -> list[dict[str, Any]]:
    """The `problems` of a command's document: one `unreadable` problem per part
    (docs/json.md), with the layer and the path inside it whose content is unknown."""
    return [
        {
            "kind": "unreadable",
            "path": p.host_path,
            "detail": f"{p.detail} ({p.kind}): what the layer holds at or beneath "
            f"{p.path} is unknown",
            "layer": p.layer_id,
            "role": p.role,
            "layer_path": p.path,
        }
        for p in dedupe(parts)
    ]


def warn_unread(parts: Sequence[UnreadPart], consequence: str) -> None:
    """One line on stderr per unread part, naming it and saying what it leaves unknown
    (`consequence`: "changes at or beneath it are unknown"...)."""
    lines = []
    for p in dedupe(parts):
        line = (
            f"overlayscope: warning: cannot read {printable(p.host_path)} "
            f"({printable(p.detail)}; layer {short(p.layer_id)} {printable(p.role)}, "
            f"{printable(p.path)}): {consequence}"
        )
        if p.kind == "permission":  # the one a user can fix: say how
            line += " (hint: run as root)"
        lines.append(line)
    warning_lines(lines)


def warning_lines(lines: Iterable[str], style: str = "yellow") -> None:
    """Warnings on stderr, one a line, each already escaped and never read as markup;
    soft_wrap: a long path is never broken across lines by the console's width."""
    lines = list(lines)
    if not lines:
        return
    from rich.text import Text  # Rich only when there is something to warn about

    from overlayscope.cli.output import stderr_console

    err = stderr_console()
    for line in lines:
        err.print(Text(line, style=style), soft_wrap=True)


def exit_code(code: int, parts: Sequence[UnreadPart]) -> int:
    """`code`, or INCOMPLETE when it is OK and something could not be read."""
    if parts and code == ExitCode.OK:
        return int(ExitCode.INCOMPLETE)
    return int(code)


def note_unread(
    ctx: Context, parts: Sequence[UnreadPart], consequence: str, *, always: bool = False
) -> None:
    """Warn on stderr about what the answer could not read (human output; with `always`,
    --json too: a document with no room for it); `incomplete` then makes the exit
    status say so."""
    if parts and (always or not ctx.json):
        warn_unread(parts, consequence)
    ctx.args._unread = tuple(parts)


def incomplete(func: Callable[[Context], int]) -> Callable[[Context], int]:
    """A command whose answer may depend on unread parts (`note_unread`): exit 4 when it did."""

    @functools.wraps(func)
    def run(ctx: Context) -> int:
        code = func(ctx)
        return exit_code(code, getattr(ctx.args, "_unread", ()))

    return run
