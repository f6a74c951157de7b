"""ANSI styles and terminal facts for output written without Rich (it costs ~25 ms to load).

Colour is decided as Rich decides it, so every command looks alike: on a terminal (or
where TTY_COMPATIBLE=1 or a non-empty FORCE_COLOR says so), unless NO_COLOR is set
(non-empty) or TERM is "dumb" or "unknown".
"""

from __future__ import annotations

import os
from typing import TextIO

# SGR parameters of the styles the CLI uses; attributes before colours, as Rich writes them
_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
}
RESET = "\x1b[0m"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal, or is to be treated as one (TTY_COMPATIBLE, FORCE_COLOR)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def wants_colour(stream: TextIO) -> bool:
    """Whether output to `stream` carries SGR codes: a terminal, no NO_COLOR, no dumb TERM."""
    if os.environ.get("NO_COLOR", "") != "":
        return False
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    return is_terminal(stream)


def terminal_columns(stream: TextIO) -> int | None:
    """The columns of the terminal `stream` is (COLUMNS first, as Rich), or None if no tty."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def styled(text: str, style: str) -> str:
    """`text` in `style` ("bold green", "dim"…), reset after it; bare when either is empty."""
    if not text or not style:
        return text
    codes = sorted((_SGR[word] for word in style.split()), key=int)
    return f"\x1b[{';'.join(codes)}m{text}{RESET}"


def unstyled(text: str, style: str) -> str:
    """`text` as it is: `styled`'s stand-in where colour is off."""
    return text
