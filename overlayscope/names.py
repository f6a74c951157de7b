"""Make names from the evidence safe to show: no terminal control, no ambiguity.

File names in a layer are attacker-controlled bytes. Human output shows them
through `printable`, which escapes everything a terminal or a reader could be
fooled by; JSON keeps the exact bytes instead (see docs/json.md).
"""

from __future__ import annotations

import unicodedata


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 layer dir`, `2 layer dirs`, `1,204 entries` (with `nouns`, the irregular plural)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


def printable(name: str, *, backslash: bool = True) -> str:
    r"""Escape control and invisible characters and undecodable bytes.

    - undecodable bytes (surrogate escapes from `os.fsdecode`) → `\xNN`
    - C0 controls and DEL → `\xNN` (`\n`, `\t`, `\r` as themselves escaped)
    - C1 controls (U+0080-U+009F), format characters (bidi overrides, zero-width) and other
      non-printables → `\uNNNN`: `\xNN` from 0x80 up is always a raw byte
    - a backslash → `\\`, so an escape in the output is never ambiguous (`unescape`
      reads it back; with `backslash=False` it stays single, for text that is never input)
    """
    if name.isprintable() and ("\\" not in name or not backslash):
        return name  # the common case, fast
    out: list[str] = []
    for ch in name:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\" if backslash else ch)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif ch == " " or (ch.isprintable() and unicodedata.category(ch) != "Cf"):
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


_SIMPLE = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_DIGITS = {"x": 2, "u": 4, "U": 8}


def unescape(text: str) -> str:
    r"""The inverse of `printable`: a name as the tool printed it, back to the name.

    `\\`, `\n`, `\t`, `\r`, `\xNN` (from 0x80: the raw byte, a surrogate escape as
    `os.fsdecode` gives), `\uNNNN`, `\UNNNNNNNN`. A backslash that starts no such escape
    is kept as it is, so most names typed with a real backslash read as themselves
    (`input_names` offers the text as given too).
    """
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch != "\\" or not nxt:
            out.append(ch)
            i += 1
        elif nxt in _SIMPLE:
            out.append(_SIMPLE[nxt])
            i += 2
        elif nxt in _DIGITS and _is_hex(text[i + 2 : i + 2 + _DIGITS[nxt]], _DIGITS[nxt]):
            code = int(text[i + 2 : i + 2 + _DIGITS[nxt]], 16)
            if nxt == "x" and code >= 0x80:
                code += 0xDC00  # an undecodable byte, as os.fsdecode keeps it
            out.append(chr(code) if code <= 0x10FFFF else text[i : i + 2 + _DIGITS[nxt]])
            i += 2 + _DIGITS[nxt]
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _is_hex(digits: str, count: int) -> bool:
    return len(digits) == count and all(c in "0123456789abcdefABCDEF" for c in digits)


def input_names(text: str) -> list[str]:
    """What a path argument may name, most likely first: the name as the tool printed it
    (escapes read back), then the text exactly as given (a real name with a backslash)."""
    read = unescape(text)
    return [read, text] if read != text else [text]
