"""Names shaped to hide or to deceive: control and invisible characters, look-alikes, spaces.

File names in a layer are attacker-controlled. These checks look at one name
(one path component); `checks.py` decides which entries are looked at.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection

from overlayscope.audit.findings import FindingKind, Severity
from overlayscope.names import printable
from overlayscope.record import record

# A small table of letters that look like Latin ones (Cyrillic, Greek, Armenian, IPA);
# Unicode's full confusables list is far larger, this covers the ones used in practice.
HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
    "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ӏ": "l", "ɡ": "g", "ѡ": "w", "ү": "y", "ո": "n",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "Ү": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q",
    "Ԝ": "W",
    # Greek
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "ι": "i", "κ": "k", "υ": "u", "ϲ": "c",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian and Latin extras
    "օ": "o", "ս": "u", "հ": "h", "ց": "g", "ı": "i", "ȷ": "j",
}  # fmt: skip

# Names a look-alike would imitate to pass for a system file or tool.
WELL_KNOWN = frozenset(
    {
        "passwd", "shadow", "group", "gshadow", "sudoers", "crontab", "authorized_keys",
        "ld.so.preload", "profile", ".bashrc", ".profile", "sh", "bash", "ash", "dash", "ls",
        "ps", "ss", "top", "ssh", "sshd", "sudo", "su", "cron", "crond", "init", "systemd",
        "python", "python3", "perl", "curl", "wget", "nc", "netstat", "busybox", "docker",
        "containerd", "runc", "kworker", "bin", "sbin", "etc", "lib", "usr", "tmp", "var",
    }
)  # fmt: skip


@record
class NameIssue:
    kind: FindingKind
    severity: Severity
    detail: str


def name_issues(name: str, siblings: Collection[str] = ()) -> list[NameIssue]:
    """What is wrong with one file name; `siblings` are the other names in its directory."""
    if name.isascii() and name.isprintable():
        return _ascii_issues(name)  # the common case, fast
    issues: list[NameIssue] = []
    shown = printable(name)
    undecodable = [ch for ch in name if 0xDC80 <= ord(ch) <= 0xDCFF]
    if undecodable:
        issues.append(
            NameIssue(
                FindingKind.NAME_UNDECODABLE,
                Severity.MEDIUM,
                f"name '{shown}' is not valid UTF-8 (its bytes are shown as \\xNN)",
            )
        )
    controls = [ch for ch in name if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F]
    if controls:
        issues.append(
            NameIssue(
                FindingKind.NAME_CONTROL,
                Severity.HIGH,
                f"name '{shown}' holds control characters "
                f"({', '.join(sorted({_describe(ch) for ch in controls}))}): they can rewrite a "
                "terminal or a log line",
            )
        )
    invisible = [ch for ch in name if _invisible(ch)]
    if invisible:
        issues.append(
            NameIssue(
                FindingKind.NAME_INVISIBLE,
                Severity.HIGH,
                f"name '{shown}' holds invisible or direction-changing characters "
                f"({', '.join(sorted({_describe(ch) for ch in invisible}))}): it reads as "
                "something it is not",
            )
        )
    # Invisible characters are reported above; look-alikes only among the visible rest.
    visible_rest = any(not ch.isascii() and not _invisible(ch) for ch in name)
    confusable = _confusable(name, siblings) if visible_rest else None
    if confusable is not None:
        issues.append(confusable)
    issues.extend(_ascii_issues(name))
    return issues


def _ascii_issues(name: str) -> list[NameIssue]:
    """Spaces that hide a name's end or start, and names of nothing but dots and spaces."""
    if name in (".", ".."):
        return []
    if name.strip(". ") == "":
        return [
            NameIssue(
                FindingKind.NAME_WHITESPACE,
                Severity.MEDIUM,
                f"name '{printable(name)}' is only dots and spaces: it passes for '.' or '..'",
            )
        ]
    if name != name.strip(" "):
        where = "leading" if name.startswith(" ") else "trailing"
        if name.startswith(" ") and name.endswith(" "):
            where = "leading and trailing"
        return [
            NameIssue(
                FindingKind.NAME_WHITESPACE,
                Severity.MEDIUM,
                f"name '{printable(name)}' has {where} spaces: "
                f"it passes for '{printable(name.strip())}'",
            )
        ]
    return []


def skeleton(name: str) -> str:
    """The name with compatibility forms folded (NFKC) and look-alike letters made Latin."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(HOMOGLYPHS.get(ch, ch) for ch in folded)


def _confusable(name: str, siblings: Collection[str]) -> NameIssue | None:
    if name.isascii():
        return None
    skel = skeleton(name)
    if skel == name or not skel.isascii():
        return None  # a name in another script, not an imitation of a Latin one
    has_latin = any(ch.isascii() and ch.isalpha() for ch in name)
    folds = unicodedata.normalize("NFKC", name) != name
    imitated = skel in siblings or skel in WELL_KNOWN or skel.lower() in WELL_KNOWN
    if not (has_latin or folds or imitated):
        return None
    severity = Severity.HIGH if imitated else Severity.MEDIUM
    why = "a name beside it" if skel in siblings else "a well-known name"
    tail = f"; it imitates {why}" if imitated else ""
    return NameIssue(
        FindingKind.NAME_CONFUSABLE,
        severity,
        f"name '{printable(name)}' looks like '{printable(skel)}' but uses look-alike characters "
        f"({', '.join(sorted({_describe(ch) for ch in name if not ch.isascii()}))}){tail}",
    )


def _invisible(ch: str) -> bool:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF or code < 0xA0:
        return False  # undecodable bytes and controls are reported on their own
    category = unicodedata.category(ch)
    # Cf: bidi controls, zero-width joiners, BOM, soft hyphen; Zs other than space (NBSP,
    # ideographic space…); line/paragraph separators; blank-looking letters.
    return category in ("Cf", "Zl", "Zp", "Zs") or code in _BLANK_LETTERS


_BLANK_LETTERS = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x180E})


def _describe(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x}"
    return f"U+{code:04X} {unicodedata.name(ch, _CONTROL_NAMES.get(code, 'control'))}"


_CONTROL_NAMES = {
    0x09: "TAB",
    0x0A: "NEWLINE",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
}
