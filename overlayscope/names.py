"""Make names from the evidence safe to show: no terminal control, no ambiguity.

File names in a layer are attacker-controlled bytes. Human output shows them
through `printable`, which escapes everything a terminal or a reader could be
fooled by; JSON keeps the exact bytes instead (see docs/json.md).
"""

from __future__ import annotations

import unicodedata


def printable(name: str) -> str:
    r"""Escape control and invisible characters and undecodable bytes.

    - undecodable bytes (surrogate escapes from `os.fsdecode`) → `\xNN`
    - C0/C1 controls and DEL → `\xNN` (`\n`, `\t`, `\r` as themselves escaped)
    - format characters (bidi overrides, zero-width) and other non-printables → `\uNNNN`
    - a backslash → `\\`, so an escape in the output is never ambiguous
    """
    if name.isprintable() and "\\" not in name:
        return name  # the common case, fast
    out: list[str] = []
    for ch in name:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif ch == " " or (ch.isprintable() and unicodedata.category(ch) != "Cf"):
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)
