"""How evidence becomes text: escaped, never markup; contents previewed safely."""

from __future__ import annotations

import pytest
from rich.text import Text

from overlayscope.tui.text import content_lines, hexdump, safe, short_id
from overlayscope.tui.tree_model import NodeStats
from overlayscope.tui.widgets.files.change_tree import change_head, change_label, change_marks
from overlayscope.tui.widgets.files.tree_label import LabelParts, fit
from overlayscope.tui.widgets.files.views import PREVIEW_BYTES, _render_data
from overlayscope.tui.widgets.image.layer_table import created_by
from overlayscope.union import Change, ChangeKind


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("[bold]x", "[bold]x"),
        ("[@click=app.quit]x", "[@click=app.quit]x"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("new\nline", "new\\nline"),
        ("bell\x07", "bell\\x07"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("bad\udcffbyte", "bad\\xffbyte"),
    ],
)
def test_safe_is_plain_escaped_text(raw: str, shown: str) -> None:
    text = safe(raw)
    assert isinstance(text, Text)
    assert text.plain == shown
    assert text.spans == []  # nothing was parsed as markup


@pytest.mark.parametrize(
    ("step", "shown"),
    [
        ("/bin/sh -c #(nop) COPY file:abc in /app", "COPY file:abc in /app"),
        ("/bin/sh -c set -e;     rm /x", "RUN set -e; rm /x"),
        ("", "(no history)"),
        ("/bin/sh -c echo \x1b[2J[bold]", "RUN echo \\x1b[2J[bold]"),
    ],
)
def test_created_by(step: str, shown: str) -> None:
    assert created_by(step).plain == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [("sha256:" + "a" * 64, "a" * 12), (None, "-"), ("\x1b" * 20, "\\x1b" * 12)],
)
def test_short_id(value: str | None, shown: str) -> None:
    assert short_id(value) == shown


def test_content_lines_escape_each_line() -> None:
    assert content_lines("a\tb\n\x1b[2Jc\r\n").plain == "a   b\n\\x1b[2Jc\n"


def test_hexdump() -> None:
    dump = hexdump(b"\x00\x01AB\x1b").plain
    assert dump == "00000000  00 01 41 42 1b" + " " * 33 + "  ..AB.\n"


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (b"hello\nworld\n", "hello\nworld\n"),
        (b"\x00\x01binary", "binary data, 8 Bytes"),
        (b"\xff\xfe not utf-8", "binary data"),
        (b"x" * (PREVIEW_BYTES + 1), "… the first 65.5 kB of 65.5 kB shown"),
        # A cut through a multi-byte character is still text.
        (b"a" * (PREVIEW_BYTES - 1) + "é".encode() + b"tail", "aaaa"),
    ],
)
def test_render_data(data: bytes, expect: str) -> None:
    assert expect in _render_data(data, len(data)).plain


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (Change("/a/f", ChangeKind.ADDED, "file", 1024), "A f  1.0 kB"),
        (
            Change("/a/f", ChangeKind.CHANGED, "file", 5, True, "same", ("mode",)),
            "C f  5 Bytes  copy-up (same bytes)  mode",
        ),
        (Change("/a/d", ChangeKind.CHANGED, "opaque-dir", 4096), "C d/  opaque"),
        (Change("/a/gone", ChangeKind.DELETED, "dir", 4096), "D gone/"),
        # A hard link is said as the CLI says it; a dir's link count is never one.
        (
            Change("/a/link", ChangeKind.ADDED, "file", 20, True, nlink=2),
            "A link  20 Bytes  copy-up  [hard link: 2 names]",
        ),
        (Change("/a/sub", ChangeKind.ADDED, "dir", 4096, nlink=3), "A sub/"),
    ],
)
def test_change_label(change: Change, shown: str) -> None:
    name = change.path.rsplit("/", 1)[-1]
    size = change.size if change.entry == "file" else 0
    assert change_label(name, change, size).plain == shown


PARTS = LabelParts(
    change_head("app.conf", Change("/a/app.conf", ChangeKind.CHANGED, "file", 5, True, "same")),
    change_marks(Change("/a/app.conf", ChangeKind.CHANGED, "file", 5, True, "same", ("mode",))),
    NodeStats(5120, 0),
    share=0.5,
)


@pytest.mark.parametrize(
    ("width", "shown"),
    [
        # Wide: every mark, then size, a bar of the parent's share, the share.
        (
            80,
            "C app.conf  copy-up (same bytes)  mode" + " " * 14 + "5.1 kB ████      50%" + " " * 8,
        ),
        (60, "C app.conf  copy-up (same bytes)  mode" + " " * 11 + "5.1 kB  50%"),
        # Narrower: whole marks go, last first; the size stays; nothing is cut mid-word.
        (40, "C app.conf  copy-up" + " " * 10 + "5.1 kB  50%"),
        (30, "C app.conf  copy-up" + " " * 5 + "5.1 kB"),
        (24, "C app.conf" + " " * 3 + "5.1 kB  50%"),
        # Too narrow for the size beside the name: the name alone, shortened with an ellipsis.
        (8, "C app.c…"),
    ],
)
def test_tree_lines_fit_whole(width: int, shown: str) -> None:
    line = fit(PARTS, width)
    assert line.cell_len <= width
    assert line.plain == shown
