"""docs/tui.md's table of keys names every key the TUI binds, where it binds it: a key
added to a screen or widget without a line in the docs fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from textual.binding import Binding

import overlayscope.tui

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"

# Each class that declares keys → the group of the docs' table that lists them.
WHERE = {
    "OverlayscopeApp": "everywhere",
    "PaneScreen": "everywhere",
    "PagedTree": "trees",
    "KeyedTable": "tables",
    "KeyedScroll": "text views",
    "OverviewScreen": "overview",
    "StackScreen": "container, image",
    "ContainerScreen": "container",
    "ImageScreen": "image",
    "ContainerDetailsScreen": "container details (i, L)",
    "RootBrowserScreen": "root browser",
    "HelpScreen": "keys (?), problems (p)",
    "ProblemsScreen": "keys (?), problems (p)",
    "FilterBar": "filter bar",
    "JumpBar": "jump bar",
}
# A key as Textual names it → as the docs write it.
SPELLING = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "escape": "esc",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "ctrl+@": "ctrl+space",  # what a terminal sends for ctrl+space
}


def bindings() -> list[tuple[str, str]]:
    """(class name, key) of every binding an overlayscope.tui class declares."""
    out = []
    for info in pkgutil.walk_packages(overlayscope.tui.__path__, "overlayscope.tui."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or "BINDINGS" not in vars(cls):
                continue
            for item in vars(cls)["BINDINGS"]:
                binding = item if isinstance(item, Binding) else Binding(*item)
                out += [(name, key.strip()) for key in binding.key.split(",")]
    return out


def documented() -> dict[str, set[str]]:
    """Group of the docs' keys table → the keys its rows name."""
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("| where | key | what |") :]
    groups: dict[str, set[str]] = {}
    where = ""
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        where = cells[0] or where
        keys = cells[1].replace("*", "")
        groups.setdefault(where, set()).update(t for t in re.split(r"[\s,()]+", keys) if t)
    return groups


def test_every_bound_key_is_in_the_docs_table() -> None:
    found = bindings()
    assert found, "no bindings found"
    groups = documented()
    unplaced = sorted({name for name, _ in found} - set(WHERE))
    assert not unplaced, f"say in WHERE (and in docs/tui.md) where these keys work: {unplaced}"
    missing = [
        (name, key)
        for name, key in found
        if SPELLING.get(key, key) not in groups.get(WHERE[name], set())
    ]
    assert not missing, f"keys bound but not in docs/tui.md's table: {missing}"
