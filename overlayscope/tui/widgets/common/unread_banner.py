"""A warning line naming the parts of the layers a scan could not read; hidden otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from overlayscope.names import plural
from overlayscope.tui.text import safe, short_id
from overlayscope.union.unread import UnreadPart, dedupe

SHOWN = 3  # parts named in full; the rest counted


def unread_text(parts: Sequence[UnreadPart]) -> Text:
    """`⚠ could not read N parts …` and a line per part (its host path, the error and
    the layer), the first `SHOWN` of them; names escaped."""
    parts = dedupe(parts)
    text = Text(no_wrap=False)
    text.append(f"⚠ could not read {plural(len(parts), 'part')} of the layers", style="bold")
    text.append(": what they hold, and what it would hide, is unknown")
    for part in parts[:SHOWN]:
        text.append("\n  ")
        text.append(safe(part.host_path))
        text.append(safe(f" ({part.detail}; {short_id(part.layer_id)} {part.role})", "dim"))
    if len(parts) > SHOWN:
        text.append(f"\n  … and {len(parts) - SHOWN} more", style="dim")
    return text


class UnreadBanner(Static):
    """Shown, in the warning colour, when the stack on screen has unread parts."""

    DEFAULT_CSS = """
    UnreadBanner { display: none; height: auto; max-height: 5; padding: 0 1;
                   background: $warning 20%; color: $text; }
    UnreadBanner.-shown { display: block; }
    """

    parts: tuple[UnreadPart, ...] = ()  # what the banner names

    def show_parts(self, parts: Sequence[UnreadPart]) -> None:
        """Name `parts` (none: hide the banner)."""
        self.parts = tuple(dedupe(parts))
        self.set_class(bool(parts), "-shown")
        self.update(unread_text(parts) if parts else "")
