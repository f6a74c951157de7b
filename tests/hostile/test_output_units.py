"""The small pieces of human output that carry evidence, one at a time.

- the progress bar label on stderr (it names a container or a tag): escaped, never markup;
- the `rm` lines `orphans` prints: bash `$'...'` quoting that names the exact bytes and
  shows nothing raw;
- a huge table folded to a terminal, and `write_json`'s streamed form for huge
  documents: the same data, linear cost;
- the change tree's depth cap: every change of a deep tree still shows.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess

import humanize
import pytest

from overlayscope.cli import plain, text_table
from overlayscope.cli import progress as progress_module
from overlayscope.cli.ansi import unstyled
from overlayscope.cli.change_tree import MAX_TREE_DEPTH, _change_tree
from overlayscope.cli.inventory import shell_word
from overlayscope.cli.text_table import cell
from overlayscope.names import printable
from overlayscope.scan.entry import ScanProgress
from overlayscope.union.diff import Change, ChangeKind
from tests.hostile.cli import RAW_CONTROL

HOSTILE = "evil\x1b]0;pwned\x07[link=file:///etc/passwd]x[/link][bold]\u202e\udcff"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_label_is_escaped_text(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Terminal()
    monkeypatch.setattr("sys.stderr", fake)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.delenv("NO_COLOR", raising=False)
    with progress_module.scan_progress(f"scanning container {HOSTILE}") as report:
        report(ScanProgress(0, 3, 10))
        report(ScanProgress(1, 3, 20))
    written = fake.getvalue()
    assert printable(HOSTILE) in written
    assert "\x1b]" not in written and "\x07" not in written  # no title, no hyperlink
    assert "\u202e" not in written and "\udcff" not in written


@pytest.mark.parametrize(
    "name",
    [
        b"/var/lib/docker/overlay2/plain",
        b"/r/orphan\x1b]0;pwned\x07[bold]\xff",
        b"/r/it's \\ here\n\t",
        "/r/\u202e\u200bcaf\u00e9".encode(),
    ],
)
def test_rm_lines_quote_the_exact_bytes(name: bytes) -> None:
    word = shell_word(os.fsdecode(name))
    assert RAW_CONTROL.search(word.encode("utf-8", "surrogateescape")) is None
    assert word.isprintable() and "\u202e" not in word
    got = subprocess.run(
        ["bash", "-c", f"printf '%s' {word}"], capture_output=True, check=True
    ).stdout
    assert got == name


def test_a_large_table_folds_its_flexible_column_and_keeps_every_row() -> None:
    rows = [("0644", cell(f"name-{i}-" + "x" * (i % 150))) for i in range(6000)]
    rendered = text_table.table("big", ["mode", "name"], rows, flexible=["name"])
    lines = "".join(rendered.lines(80, unstyled)).splitlines()
    assert lines[0] == "big" and lines[1].split() == ["mode", "name"]
    assert all(len(line) <= 80 for line in lines)
    joined = "".join(line[6:] for line in lines[2:])  # folded parts are indented past "0644  "
    for i in (0, 149, 5999):
        assert f"name-{i}-" + "x" * (i % 150) in joined
    # into a pipe (no width), every row is one whole line
    piped = "".join(rendered.lines(None, unstyled)).splitlines()
    assert len(piped) == 6002 and piped[-1] == "0644  name-5999-" + "x" * (5999 % 150)


def test_streamed_json_is_the_same_document(capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "id": "x",
        "changes": [{"path": f"/p\udcff{i}", "kind": "A", "meta": []} for i in range(6000)],
        "totals": {"added": 6000},
    }
    plain.write_json(doc)
    text = capsys.readouterr().out
    assert text.isascii() and json.loads(text) == doc
    assert text.count("\n") > 6000  # one change a line, not one giant line
    small = {"a": [1, 2]}
    plain.write_json(small)
    assert json.loads(capsys.readouterr().out) == small


def test_a_deep_change_tree_shows_every_change() -> None:
    paths = ["/d" * depth for depth in range(1, 200)]
    found = [Change(p, ChangeKind.ADDED, "dir", 4096) for p in paths]
    lines = _change_tree(found, MAX_TREE_DEPTH)
    assert lines[0] == "/" and len(lines) == 1 + len(paths)
    assert sum("A d/" in line for line in lines) == len(paths)
    assert max(len(line) for line in lines) < 4 * MAX_TREE_DEPTH + 140
    shallow = _change_tree(found[:3], MAX_TREE_DEPTH)
    assert shallow == ["/", "└── A d/", "    └── A d/", "        └── A d/"]


def test_a_change_tree_is_drawn_as_rich_draws_one() -> None:
    """The guides of a tree Rich draws on a unicode terminal; a change whose dir is no
    change hangs from its nearest listed ancestor, and one past the depth from its anchor."""
    found = [
        Change("/a", ChangeKind.CHANGED, "dir", 0),
        Change("/a/b", ChangeKind.ADDED, "file", 5),
        Change("/a/c/d", ChangeKind.DELETED, "dir", 1),
        Change("/a/c/d/e/f", ChangeKind.ADDED, "file", 0),
        Change("/g", ChangeKind.ADDED, "opaque-dir", 0),
    ]
    assert _change_tree(found, 8) == [
        "/",
        "├── C a/",
        "│   ├── A b  5 Bytes",
        "│   └── D c/d/",
        "│       └── A e/f  0 Bytes",
        "└── A g/  opaque",
    ]
    # past the depth, its ancestor at that depth (/a/c) is no change: from /a, the nearest
    assert _change_tree(found, 2)[2:5] == [
        "│   ├── A b  5 Bytes",
        "│   ├── D c/d/",
        "│   └── A c/d/e/f  0 Bytes",
    ]
    found[2] = Change("/a/c", ChangeKind.DELETED, "dir", 1)
    assert _change_tree(found, 2)[3:5] == ["│   └── D c/", "│       └── A d/e/f  0 Bytes"]


SIZES = [0, 1, 2, 999, 1000, 1001, 61_234, 999_949, 999_950, 999_999, 1_000_000, 2_400_000,
         10**9 - 1, 10**12, 10**15 + 7, 10**27, 10**31, 10**33, -1, -2, -999, -1000, -61_234,
         -999_999]  # fmt: skip


@pytest.mark.parametrize("n", [*SIZES, *random.Random(17).sample(range(10**13), 300)])
def test_sizes_read_as_humanize_writes_them(n: int) -> None:
    """`plain.size` stands in for humanize.naturalsize (the TUI's) without its import."""
    assert plain.size(n) == humanize.naturalsize(n, binary=False, format="%.1f")
