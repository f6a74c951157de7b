"""Tab and shift+tab move between a screen's main panes, and nowhere else.

Textual's focus chain holds every focusable widget (tab strips, hidden inputs, scroll
views inside panels); a screen here names its panes in order, and tab goes round them.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget


def shown(widget: Widget) -> bool:
    """Attached, focusable, and neither it nor an ancestor hidden."""
    if not widget.is_attached or not widget.focusable:
        return False
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))


class PaneScreen(Screen[None]):
    """A screen whose tab and shift+tab go round `panes()`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_pane", "Next pane", show=False, priority=True),
        Binding("shift+tab", "previous_pane", "Previous pane", show=False, priority=True),
    ]

    def panes(self) -> list[Widget]:
        """The main panes, in tab order (those hidden right now are skipped)."""
        return []

    def action_next_pane(self) -> None:
        self._cycle(1)

    def action_previous_pane(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        panes = [pane for pane in self.panes() if shown(pane)]
        if not panes:
            return
        focused = self.focused
        current = -1
        if focused is not None:
            for i, pane in enumerate(panes):
                if pane is focused or pane in focused.ancestors:
                    current = i
                    break
        if current == -1 and step < 0:
            current = 0
        panes[(current + step) % len(panes)].focus()
