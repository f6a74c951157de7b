"""Output that needs no Rich: JSON documents, sizes, short ids, and one line on stderr.

`--json` and the error path import this module alone; a person's answer is plain text
too (`cli/text_table.py`, `cli/change_tree.py`): no command's answer loads Rich.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from typing import Any

from overlayscope.names import printable

# Items beyond which a JSON document is streamed an item a line, and `container`'s changes
# are a list rather than a tree (a tree that large is unreadable and slow to draw).
LARGE = 5000


class Encoded(list[str]):
    """A list whose items are JSON texts already (what `json.dumps(item)` would give):
    a large document's items are written as they are, a small one's are decoded and
    indented like the rest."""


def write_json(value: Any) -> None:
    """JSON on stdout. ensure_ascii keeps undecodable names as \\udcNN escapes (docs/json.md).

    Small documents are indented. A document whose lists (at the top, or one level down)
    hold more than LARGE items is streamed instead, one item a line, each encoded on its
    own: a million changes never become one giant string (memory and time stay linear).
    """
    write = sys.stdout.write
    if _items(value) <= LARGE:
        write(json.dumps(_decoded(value), indent=2, ensure_ascii=True, sort_keys=False))
    else:
        for chunk in _stream(value, 0):
            write(chunk)
    write("\n")


def _decoded(value: Any) -> Any:
    if isinstance(value, Encoded):
        return [json.loads(item) for item in value]
    if isinstance(value, dict) and any(isinstance(v, Encoded) for v in value.values()):
        return {key: _decoded(item) for key, item in value.items()}
    return value


def _items(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v) for v in value.values() if isinstance(v, list))
    return 0


_BATCH = 2048  # items joined into one write


def _stream(value: Any, level: int) -> Iterator[str]:
    pad = "  " * (level + 1)
    if isinstance(value, dict) and level == 0 and value:
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + "\n" + pad + json.dumps(key, ensure_ascii=True) + ": "
            yield from _stream(item, level + 1)
        yield "\n}"
    elif isinstance(value, list) and value:
        texts = value if isinstance(value, Encoded) else None
        sep = ",\n" + pad
        yield "[\n" + pad
        for start in range(0, len(value), _BATCH):
            batch = value[start : start + _BATCH]
            if texts is None:
                batch = [json.dumps(item, ensure_ascii=True) for item in batch]
            yield (sep if start else "") + sep.join(batch)
        yield "\n" + "  " * level + "]"
    else:
        yield json.dumps(value, ensure_ascii=True)


# Decimal units, as `docker` and humanize.naturalsize (the TUI's) write sizes
_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "RB", "QB")


def size(n: int | None) -> str:
    """A size for a person: "1 Byte", "512 Bytes", "61.2 kB", "1.0 MB"; "?" when unknown.

    Exactly humanize.naturalsize(n, format="%.1f") (a test holds the two side by side),
    without importing humanize (~2 ms) into every command.
    """
    if n is None:
        return "?"
    value = float(n)
    magnitude = abs(value)
    if magnitude == 1:
        return f"{int(value)} Byte"
    if magnitude < 1000:
        return f"{int(value)} Bytes"
    exp = int(min(math.log(magnitude, 1000), len(_UNITS)))
    # the unit is chosen before rounding; "999.95 kB" rounds up to the next unit's "1.0 MB"
    if exp < len(_UNITS) and abs(float(f"{magnitude / 1000**exp:.1f}")) >= 1000:
        exp += 1
    return f"{value / 1000**exp:.1f} {_UNITS[exp - 1]}"


def short(id_: str | None, width: int = 12) -> str:
    """A short id as docker prints it; an init layer keeps its "-init" suffix.

    Escaped: a layer id is a layer dir name, and a planted dir's name is evidence.
    """
    if not id_:
        return "-"
    bare = id_.removeprefix("sha256:")
    return printable(bare[:width] + ("-init" if bare.endswith("-init") else ""))


def error_line(line: str) -> None:
    """`line` (already escaped) on stderr, whole: never folded at the terminal's width,
    never read as markup or emoji codes (a path may hold `:smile:` or `[red]`). A closed
    stderr silences it."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
