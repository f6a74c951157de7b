"""`:` jump to a path: type it (tab completes a name from the merged view), enter goes there.

Like the CLI's `where`: the file panel shows every layer that holds the path and what
wins, whether or not the container changed it. A name may be typed as the TUI shows it,
with `\\xNN`, `\\n`, `\\t` or `\\\\` escapes for the bytes it cannot show.
"""

from __future__ import annotations

import os
import re
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input

from overlayscope.errors import OverlayscopeError
from overlayscope.names import printable
from overlayscope.tui.widgets.common.filter_bar import PromptBar
from overlayscope.union import LayerStack

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|n|t|r|\\)")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    """The name `printable` showed as `text`: `\\x1b` → ESC, `\\xff` → the byte 0xff."""
    out = bytearray()
    at = 0
    for m in _ESCAPE.finditer(text):
        out += os.fsencode(text[at : m.start()])
        code = m.group(1)
        out += bytes([int(code[1:], 16)]) if code[0] == "x" else _SIMPLE[code].encode()
        at = m.end()
    out += os.fsencode(text[at:])
    return os.fsdecode(bytes(out))


def typed_path(text: str, stack: LayerStack) -> str:
    """The path the user means: as typed when it is in the merged view, else unescaped."""
    text = text.strip() or "/"
    if "\\" not in text or stack.winner(text) is not None:
        return text
    return unescape(text)


class PathSuggester(Suggester):
    """Completes the last name of a path from the merged listing of its directory."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.stack: LayerStack | None = None

    async def get_suggestion(self, value: str) -> str | None:
        if self.stack is None or not value.startswith("/"):
            return None
        parent, _, start = value.rpartition("/")
        try:
            entries = self.stack.listdir(typed_path(parent or "/", self.stack))
        except OverlayscopeError:
            return None
        for entry in sorted(entries, key=lambda e: os.fsencode(e.name)):
            shown = printable(entry.name)
            if shown.startswith(start) and shown != start:
                return f"{parent}/{shown}" + ("/" if entry.entry.kind.is_dir else "")
        return None


class JumpBar(PromptBar):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=True),
        Binding("tab", "complete", "Complete", show=True, priority=True),
    ]

    class Jump(Message):
        def __init__(self, bar: JumpBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> JumpBar:
            return self.bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("jump to a path, e.g. /etc/passwd  (tab completes, esc closes)", id=id)
        self.suggester = PathSuggester()
        self.select_on_focus = False  # what is typed goes after the "/" it opens with

    @property
    def stack(self) -> LayerStack | None:
        assert isinstance(self.suggester, PathSuggester)
        return self.suggester.stack

    @stack.setter
    def stack(self, stack: LayerStack | None) -> None:
        assert isinstance(self.suggester, PathSuggester)
        self.suggester.stack = stack

    def open(self, *, return_to: Widget | None = None) -> None:
        if not self.value:
            self.value = "/"
            self.cursor_position = 1
        super().open(return_to=return_to)

    def action_close(self) -> None:
        self.close()

    def action_complete(self) -> None:
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.value
        self.close()
        if text:
            self.post_message(self.Jump(self, text))
