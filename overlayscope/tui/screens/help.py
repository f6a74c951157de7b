"""`?`: every key that works on the screen beneath, from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# Textual's own names for the widget classes, in words a user knows.
_OWNER_NAMES = {
    "App": "everywhere",
    "DataTable": "tables",
    "Tree": "trees",
    "Input": "text input",
    "ScrollableContainer": "scrolling",
    "ContentTabs": "tabs",
}


def _owner(node: DOMNode, screen: Screen[object]) -> str:
    if node is screen.app:
        return "everywhere"
    if node is screen:
        return "this screen"
    for cls in type(node).__mro__:
        if cls.__name__ in _OWNER_NAMES and "BINDINGS" in vars(cls):
            return _OWNER_NAMES[cls.__name__]
    return type(node).__name__


def key_rows(screen: Screen[object]) -> list[tuple[str, str, str]]:
    """(where, key, what) for every described binding of the app, the screen and its widgets."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    nodes: list[DOMNode] = [screen.app, screen, *screen.walk_children()]
    for node in nodes:
        for bindings in node._bindings.key_to_bindings.values():
            for binding in bindings:
                if not binding.description or binding.system:
                    continue
                row = (
                    _owner(node, screen),
                    screen.app.get_key_display(binding),
                    binding.description,
                )
                if row not in seen:
                    seen.add(row)
                    rows.append(row)
    return rows


def keys_text(rows: list[tuple[str, str, str]]) -> Text:
    out = Text(no_wrap=True)
    width = max((len(key) for _, key, _ in rows), default=4) + 2
    where = None
    for owner, key, what in rows:
        if owner != where:
            if where is not None:
                out.append("\n")
            out.append(f"{owner}\n", style="bold underline")
            where = owner
        out.append(f"  {key:<{width}}", style="bold cyan")
        out.append(f"{what}\n")
    out.append(
        "\nctrl+p opens the command palette: open any container or image by name.", style="dim"
    )
    return out


class HelpScreen(ModalScreen[None]):
    """Keys of the screen it was opened from, grouped by where they work."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-height: 90%; height: auto;
        border: round $accent; background: $panel; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", show=False),
    ]

    def __init__(self, beneath: Screen[object]) -> None:
        super().__init__()
        self.rows = key_rows(beneath)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "keys (esc closes)"
            yield Static(keys_text(self.rows), id="keys")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
