"""What to tell an operator about orphaned and unresolved layer dirs: one wording for the
CLI (`overlayscope orphans`) and the TUI (enter on the overview's orphan table).

Plain strings, no Rich: each front end styles them its own way, and says them the same.
"""

from __future__ import annotations

import os
import shlex

from overlayscope.names import plural, printable
from overlayscope.root.model import Layer


def orphan_advice(n: int) -> str:
    """What to do about `n` orphaned dirs, ending where the removal commands follow."""
    them = "it" if n == 1 else "them"
    return (
        "overlayscope deletes nothing. Once no pull or build is running (a layer being "
        f"written has no record yet), an operator could remove {them} with:"
    )


def unresolved_advice(n: int) -> str:
    """Why `n` unresolved dirs get no removal command."""
    return (
        f"{plural(n, 'layer dir')} no readable record names, maybe in use: not orphans, "
        "nothing to remove. `overlayscope check` shows the damage; the orphan list above is "
        "withheld for these."
    )


def shell_word(path: str) -> str:
    """`path` quoted for a POSIX shell, and safe to print: a name with control characters,
    undecodable bytes or invisible characters becomes bash's $'...' with \\xNN escapes,
    which names the same bytes and shows nothing raw."""
    if printable(path) == path:
        return shlex.quote(path)
    out = []
    for byte in os.fsencode(path):
        ch = chr(byte)
        if byte < 0x80 and ch.isprintable() and ch not in "'\\":
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def removal_command(layer: Layer) -> str:
    """`rm -rf -- <dir> [<its l/ link>]`, one line that pastes and runs."""
    line = f"rm -rf -- {shell_word(layer.path)}"
    if layer.link_path:
        line += f" {shell_word(layer.link_path)}"
    return line
