"""ANSI styles, terminal facts and lines for output written without Rich (~25 ms to load).

Colour is decided as Rich decides it, so every command looks alike: on a terminal (or
where TTY_COMPATIBLE=1 or a non-empty FORCE_COLOR says so), unless NO_COLOR is set
(non-empty) or TERM is "dumb" or "unknown".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

# (text, style) -> text, styled or not: `styled`, or `unstyled` where colour is off
Paint = Callable[[str, str], str]

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


def painter(stream: TextIO) -> Paint:
    """`styled` where output to `stream` carries colour (`wants_colour`), else `unstyled`."""
    return styled if wants_colour(stream) else unstyled


def styled(text: str, style: str) -> str:
    """`text` in `style` ("bold green", "dim"…), reset after it; bare when either is empty."""
    if not text or not style:
        return text
    codes = sorted((_SGR[word] for word in style.split()), key=int)
    return f"\x1b[{';'.join(codes)}m{text}{RESET}"


def unstyled(text: str, style: str) -> str:
    """`text` as it is: `styled`'s stand-in where colour is off."""
    return text


def write_line(
    text: str = "", style: str = "", stream: TextIO | None = None, *, wrap: bool = False
) -> None:
    """`text` (escaped already) and a newline on `stream` (stdout), in `style` where
    colour is on. Never folded into a pipe; on a terminal folded between words when
    `wrap` (prose), else left whole for the terminal to wrap (a command to paste)."""
    out = stream or sys.stdout
    paint = painter(out) if style else unstyled
    width = terminal_columns(out) if wrap else None
    lines = [text] if width is None else fold(text, width)
    out.write("".join(paint(line, style) + "\n" for line in lines))


def cells_of(text: str) -> int:
    """Terminal cells of `text`: its length for printable ASCII (most of it); East Asian
    wide and full-width characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_cells(ch) for ch in text)


def _char_cells(ch: str) -> int:
    import unicodedata  # only for text beyond ASCII

    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells: broken between words where it can be,
    a word longer than a line cut into pieces."""
    if cells_of(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in _words(text):
        if cells_of(line + word) <= width:
            line += word
            continue
        if line.strip():
            lines.append(line.rstrip(" "))
        line = word.lstrip(" ")
        while cells_of(line) > width:
            head = _chop(line, width)
            lines.append(head)
            line = line[len(head) :]
    if line.strip() or not lines:
        lines.append(line.rstrip(" "))
    return lines


def _words(text: str) -> Iterator[str]:
    """`text` as words, each with the spaces before it."""
    start = 0
    in_word = False
    for i, ch in enumerate(text):
        if ch == " " and in_word:
            yield text[start:i]
            start, in_word = i, False
        elif ch != " ":
            in_word = True
    if start < len(text):
        yield text[start:]


def _chop(text: str, width: int) -> str:
    """The longest start of `text` that takes at most `width` cells (at least one char)."""
    if text.isascii():
        return text[:width]
    used = 0
    for i, ch in enumerate(text):
        used += _char_cells(ch)
        if used > width:
            return text[: max(i, 1)]
    return text
