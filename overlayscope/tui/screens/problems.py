"""`p`: the damage found in the data root (what `overlayscope check` reports), one row each."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from overlayscope.names import plural
from overlayscope.root.model import Host
from overlayscope.tui.text import safe
from overlayscope.tui.widgets.common.keyed import KeyedTable


class ProblemTable(KeyedTable):
    STRETCH = "path"


class ProblemsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ProblemsScreen { align: center middle; }
    ProblemsScreen > Vertical {
        width: 90%; height: 80%; border: round $error; background: $panel; padding: 0 1;
    }
    ProblemsScreen DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p", "dismiss", "Close", show=False),
    ]

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"{plural(len(self.host.problems), 'problem')} (esc closes)"
            if not self.host.problems:
                yield Static(Text("no problems found in this data root", style="green"))
            yield ProblemTable(id="problems", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(ProblemTable)
        for label in ("kind", "detail", "path"):
            table.add_column(label, key=label)
        for problem in self.host.problems:
            table.add_row(
                Text(problem.kind.value, style="bold red"),
                safe(problem.detail),
                safe(problem.path, style="dim"),
            )
        table.stretch()
        table.focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
