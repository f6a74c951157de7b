"""Singular and plural right in human output (issue #16: "1 layer", never "1 layers" nor
"layer(s)"): a count written into a message goes through `names.plural`, unless it can
never be 1. Read from the source of the presentation, audit, metrics and record code, so
a new message that forgets it fails here before a user sees "1 bytes"."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from overlayscope.names import plural

PACKAGE = Path(__file__).resolve().parents[2] / "overlayscope"
CHECKED = ("cli", "usage", "audit", "tui", "metrics", "root")
# a counted noun, as a message spells its plural
NOUN = re.compile(
    r"^ (bytes|layers|entries|files|dirs|containers|images|problems|findings|members|paths|"
    r"changes|orphans|links|steps|rows|lines|matches|objects)\b"
)
# (file, the counted expression) that can never be 1, and why
NEVER_ONE = {
    ("cli/files.py", "file_size"),  # only said above a limit of many bytes
    ("cli/files.py", "TTY_LIMIT"),  # a constant of many bytes
    ("cli/forensics.py", "f.count"),  # a group is more than 5 alike findings
    ("audit/file_checks.py", "len(cap)"),  # a security.capability xattr: 20 bytes or more
    ("audit/file_checks.py", "entry.size"),  # "(12 → 1 bytes)": the unit of a range
    ("root/docker/api.py", "self._limit"),  # a reply's bound: many bytes
    ("root/docker/api.py", "response.length"),  # said only past MAX_BODY
    ("root/docker/api.py", "MAX_BODY"),  # a constant of many bytes
    ("root/docker/daemon_view.py", "len(keys)"),  # a name given twice or more
    ("root/docker/http11.py", "self._limit"),  # a reply's bound: many bytes
    ("root/docker/http11.py", "_MAX_LINE"),  # a constant of many bytes
    ("root/docker/http11.py", "max_body"),  # a body's bound: MAX_BODY, many bytes
    ("root/docker/http11.py", "size"),  # said only past max_body
    ("root/docker/http11.py", "_shown(digits)"),  # the daemon's text, quoted: no count
    ("root/refs.py", "len(matches)"),  # ambiguous: two matches or more
    ("root/refs.py", "what"),  # "no image matches": a verb, not a count
    ("root/refs.py", "ref"),  # "'ab' matches 2 objects": a verb
    ("tui/screens/stack_screen.py", "event.built"),  # the tree's budget: many entries
    ("tui/widgets/files/views.py", "HEX_BYTES"),  # a constant of many bytes
    ("tui/widgets/files/views.py", "len(prov.stack)"),  # said only when more than one
    ("tui/widgets/image/layer_details.py", "sharing"),  # said only when more than one
}


def _counted(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, expression, noun) of each `{expr} nouns` in an f-string."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        for value, after in zip(node.values, node.values[1:], strict=False):
            if not (isinstance(value, ast.FormattedValue) and isinstance(after, ast.Constant)):
                continue
            m = NOUN.match(str(after.value))
            if m:
                found.append((node.lineno, ast.unparse(value.value), m.group(1)))
    return found


def _sources() -> list[Path]:
    return sorted(p for d in CHECKED for p in (PACKAGE / d).rglob("*.py"))


def test_the_sources_are_found() -> None:
    assert PACKAGE / "cli" / "files.py" in _sources()


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_count_is_written_with_a_fixed_plural(path: Path) -> None:
    rel = str(path.relative_to(PACKAGE))
    tree = ast.parse(path.read_text())
    odd = [
        f"{rel}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.search(r"[a-z]\(s\)", node.value)
    ]
    assert not odd, "a '(s)' plural: " + "; ".join(odd)
    bad = [
        f"{rel}:{line}: {{{expr}}} {noun}"
        for line, expr, noun in _counted(tree)
        if (rel, expr) not in NEVER_ONE
    ]
    assert not bad, "use names.plural: " + "; ".join(bad)


@pytest.mark.parametrize(
    ("n", "noun", "nouns", "said"),
    [
        (0, "layer", None, "0 layers"),
        (1, "layer", None, "1 layer"),
        (2, "byte", None, "2 bytes"),
        (1, "entry", "entries", "1 entry"),
        (1204, "entry", "entries", "1,204 entries"),
    ],
)
def test_plural(n: int, noun: str, nouns: str | None, said: str) -> None:
    assert plural(n, noun, nouns) == said
