"""The footer: the keys that work now, the app's own `q` and `?` first, fitted to the width.

Textual's `Footer` lists the focused widget's keys first and the app's last, so at 80
columns `q` and `?` fall off its end; and it re-mounts a widget per key whenever the keys
change (each focus change), which costs a frame. This is one line of text instead,
rebuilt when the screen's keys change, and every item is shown whole or not at all.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static


class KeyFooter(Static):
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom; height: 1; width: 1fr; padding: 0 1;
        background: $footer-background; color: $footer-foreground;
    }
    KeyFooter > .key-footer--key { color: $footer-key-foreground; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-footer--key"}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self.refresh_keys)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.refresh_keys)

    def on_resize(self) -> None:
        self.refresh_keys()

    def items(self) -> list[tuple[str, str, bool]]:
        """(key, description, enabled) of every shown binding, the app's first."""
        active = self.screen.active_bindings.values()
        app_first = sorted(active, key=lambda a: not isinstance(a.node, App))
        out: list[tuple[str, str, bool]] = []
        seen: set[str] = set()
        for _node, binding, enabled, _ in app_first:
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((self.app.get_key_display(binding), binding.description, enabled))
        return out

    def refresh_keys(self) -> None:
        if not self.is_attached:  # its screen was left before this ran: nothing to draw
            return
        try:
            key_style = self.get_component_rich_style("key-footer--key")
        except KeyError:  # its CSS not applied yet (a screen pushed and left at once)
            self.call_after_refresh(self.refresh_keys)
            return
        width = max(self.content_region.width, 1)
        line = Text(no_wrap=True, overflow="crop")
        for key, description, enabled in self.items():
            item = Text(no_wrap=True)
            item.append(key, style=key_style if enabled else "dim")
            item.append(f" {description}", style="" if enabled else "dim")
            sep = 2 if line else 0
            if line.cell_len + sep + item.cell_len > width:
                break  # whole items only
            if sep:
                line.append("  ")
            line.append_text(item)
        self.update(line, layout=False)
