"""The `/` filter: a one-line input that appears at the bottom of a screen."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input


class PromptBar(Input):
    """A one-line input docked at the bottom, hidden until opened; closing it gives focus
    back to the widget it was opened from (or the one named in `open`)."""

    DEFAULT_CSS = """
    PromptBar { dock: bottom; display: none; border: tall $accent; height: 3; margin: 0 0 1 0; }
    PromptBar.-open { display: block; }
    """

    def __init__(self, placeholder: str, *, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self._return_to: Widget | None = None

    def open(self, *, return_to: Widget | None = None) -> None:
        """Show the bar and focus it; closing it focuses `return_to` (default: what had
        focus before)."""
        focused = self.screen.focused
        self._return_to = return_to or (focused if focused is not self else self._return_to)
        self.add_class("-open")
        # At once, not on the next turn of the loop as `focus()` does: keys typed ahead
        # (a paste, a fast typist) are already queued and would go to the old focus.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.remove_class("-open")
        self._give_back_focus()

    def _give_back_focus(self) -> None:
        target = self._return_to
        if target is not None and target.is_attached and target.focusable:
            target.focus()
        else:
            self.screen.focus_next()


OPENS_A_BAR = frozenset({"filter", "jump"})  # the screens' actions that open a bar


async def keys_for_the_bar(widget: Widget, event: events.Key) -> None:
    """Called by the focusable panes on every key: `/` and `:` open their bar at once, and
    the keys queued behind them go to it.

    A key goes to the widget focused when it is read, not when it is handled; the screen's
    bindings run only once the key has bubbled up. So the keys typed right behind `/` or
    `:` (a paste, a fast typist, tmux's send-keys) would be read as the screen's (`i`
    opening the config, `s` sorting) or lost. Here the bar opens while the pane handles
    the key, and every key still queued for the pane is passed on to the bar."""
    screen = widget.screen
    bar = screen.focused
    if isinstance(bar, PromptBar) and bar is not widget and bar.has_class("-open"):
        event.stop()
        event.prevent_default()
        bar.post_message(events.Key(event.key, event.character))
        return
    active = screen.active_bindings.get(event.key)
    if (
        active is not None
        and active.node is screen
        and active.enabled
        and active.binding.action in OPENS_A_BAR
    ):
        event.stop()
        event.prevent_default()
        await screen.run_action(active.binding.action)


class FilterBar(PromptBar):
    """Posts `Applied` as the user types (debounced) and on enter; esc clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", show=True),
    ]
    DEBOUNCE = 0.25

    class Applied(Message):
        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, placeholder: str = "filter", *, id: str | None = None) -> None:
        super().__init__(f"{placeholder}  (enter keeps it, esc clears)", id=id)
        self._timer: Timer | None = None
        self._applied = ""

    def action_clear(self) -> None:
        self.value = ""
        self._apply()
        self.close()

    def clear_quietly(self) -> None:
        """Empty it without a message: the screen cleared its filter itself."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        with self.prevent(Input.Changed):
            self.value = ""
        self._applied = ""
        self.remove_class("-open")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.DEBOUNCE, self._apply)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()
        if not self.value:
            self.remove_class("-open")
        self._give_back_focus()

    def _apply(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.value != self._applied:
            self._applied = self.value
            self.post_message(self.Applied(self, self.value))
