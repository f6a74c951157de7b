"""`?`: the keys of the screen beneath, from the bindings themselves, overlayscope's own only.

Grouped by where they work: the app's own keys first (everywhere), then this screen's,
then its trees', tables' and views'. Textual's own widget keys (text editing in the
filter bar, its default table and scroll keys) are left out: they repeat the arrows.

The screen is opaque: a translucent modal would redraw the whole screen beneath through
a tint on every frame, which is what made `?` slow while a scan was updating the status
line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from overlayscope.tui.widgets.common.keyed import KeyedScroll

_PACKAGE = "overlayscope."
# Where a widget class's keys work, in words a user knows.
_WHERE = {
    "PagedTree": "trees",
    "KeyedTable": "tables",
    "KeyedScroll": "text views",
    "FilterBar": "filter bar",
    "JumpBar": "jump bar",
}

Row = tuple[str, str, str]  # where, key(s), what


def _keys_display(screen: Screen[object], binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    keys = [k.strip() for k in binding.key.split(",") if k.strip()]
    shown = [screen.app.get_key_display(Binding(k, binding.action)) for k in keys]
    return " ".join(dict.fromkeys(shown))


def _own_bindings(node: DOMNode) -> list[tuple[str, Binding]]:
    """(class name, binding) declared by overlayscope's classes in `node`'s MRO."""
    out = []
    for cls in type(node).__mro__:
        if not cls.__module__.startswith(_PACKAGE) or "BINDINGS" not in vars(cls):
            continue
        for item in vars(cls)["BINDINGS"]:
            binding = item if isinstance(item, Binding) else Binding(*item)
            out.append((cls.__name__, binding))
    return out


def key_rows(screen: Screen[object]) -> list[Row]:
    """(where, key, what) for overlayscope's keys on `screen`: the app's own first (they
    work everywhere), then the screen's, then its trees', tables' and views'. Keys bound
    to the same thing in the same place share a row."""
    groups: dict[str, list[Row]] = {
        "everywhere": [
            ("everywhere", _keys_display(screen, binding), binding.description)
            for _, binding in _own_bindings(screen.app)
            if binding.description
        ],
        "this screen": [
            ("this screen", _keys_display(screen, binding), binding.description)
            for _, binding in _own_bindings(screen)
            if binding.description and not binding.system
        ],
    }
    for widget in screen.walk_children():
        for cls_name, binding in _own_bindings(widget):
            where = _WHERE.get(cls_name)
            if where is None or not binding.description:
                continue
            groups.setdefault(where, []).append(
                (where, _keys_display(screen, binding), binding.description)
            )
    merged: dict[tuple[str, str], list[str]] = {}
    for group in groups.values():
        for where, key, what in group:
            keys = merged.setdefault((where, what), [])
            if key not in keys:
                keys.append(key)
    return [(where, " ".join(keys), what) for (where, what), keys in merged.items()]


def keys_text(rows: list[Row]) -> Text:
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
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > KeyedScroll {
        width: 76; max-width: 100%; max-height: 100%; height: auto;
        border: round $accent; background: $panel; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", show=True, key_display="esc"),
    ]

    def __init__(self, beneath: Screen[object]) -> None:
        super().__init__()
        self.rows = key_rows(beneath)

    def compose(self) -> ComposeResult:
        with KeyedScroll() as scroll:
            scroll.border_title = "keys (esc closes)"
            yield Static(keys_text(self.rows), id="keys")

    def on_mount(self) -> None:
        self.query_one(KeyedScroll).focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
