"""Evidence as Rich `Text`: every name escaped, never parsed as markup or sent raw to a terminal.

File names, tags, `created_by` lines and file contents come from the data root,
which an attacker may control. They are only ever shown through `safe()` (or
`content_lines()`), which escapes control characters with
`overlayscope.names.printable` and wraps the result in a plain `Text`, so Rich
and Textual never interpret `[bold]` or `[@click=…]` in them.
"""

from __future__ import annotations

import humanize
from rich.text import Text

from overlayscope.names import printable
from overlayscope.union import ChangeKind

KIND_STYLE = {
    ChangeKind.ADDED: "green",
    ChangeKind.CHANGED: "yellow",
    ChangeKind.DELETED: "red",
}
ROLE_STYLE = {
    "rw": "bold cyan",
    "init": "magenta",
    "image": "blue",
    "orphan": "red",
    "unresolved": "yellow",
}


def safe(value: str, style: str = "") -> Text:
    """`value` escaped and wrapped as plain text (no markup, no control characters)."""
    return Text(printable(value), style=style, no_wrap=True)


def size(n: int | None) -> str:
    """Bytes for humans, "?" when unknown."""
    return "?" if n is None else humanize.naturalsize(n, format="%.1f")


def size_text(n: int | None, style: str = "") -> Text:
    return Text(size(n), style=style, justify="right")


def short_id(id_: str | None, length: int = 12) -> str:
    """The id without its `sha256:` prefix, cut to `length` characters, escaped.

    Ids come from directory and file names in the root: a forged one is evidence too.
    """
    return printable((id_ or "-").removeprefix("sha256:")[:length])


def kind_letter(kind: ChangeKind) -> Text:
    return Text(kind.value, style=f"bold {KIND_STYLE[kind]}")


def role_text(role: str) -> Text:
    return Text(role, style=ROLE_STYLE.get(role, ""))


def content_lines(data: str, *, tab_size: int = 4) -> Text:
    """Decoded file content, one escaped line per line, tabs expanded."""
    out = Text(no_wrap=True)
    for line in data.splitlines():
        out.append(printable(line.expandtabs(tab_size)))
        out.append("\n")
    return out


def hexdump(data: bytes, *, width: int = 16) -> Text:
    """`xxd`-style lines: offset, hex bytes, and printable ASCII (anything else is a dot)."""
    out = Text(no_wrap=True)
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{offset:08x}  ", style="dim")
        out.append(hexes)
        out.append(f"  {ascii_}\n", style="dim")
    return out


def key_value(rows: list[tuple[str, Text | str]], *, width: int = 11) -> Text:
    """Aligned `label  value` lines; values given as str are our own words, not evidence."""
    out = Text(no_wrap=True)
    for i, (label, value) in enumerate(rows):
        if i:
            out.append("\n")
        out.append(label.ljust(width), style="bold")
        out.append(value if isinstance(value, Text) else Text(value))
    return out
