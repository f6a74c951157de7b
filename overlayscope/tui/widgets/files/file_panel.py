"""The selected file: what changed, every layer that holds it, and its content or its diff."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from overlayscope.errors import OverlayscopeError
from overlayscope.names import printable
from overlayscope.root.model import IdMap
from overlayscope.tui.text import role_text, safe, short_id, size
from overlayscope.tui.widgets.common.keyed import KeyedScroll, KeyedTable
from overlayscope.tui.widgets.files.views import (
    change_summary,
    describe_entry,
    diff_view,
    layer_number,
    preview,
    provenance_summary,
    state_text,
)
from overlayscope.union import Change, LayerStack

Mode = Literal["preview", "diff"]


class ProvenanceTable(KeyedTable):
    """Every layer holding the path, top → bottom, and what overlayfs does with each."""

    DEFAULT_CSS = """
    ProvenanceTable { height: auto; max-height: 12; }
    """
    COLUMNS: ClassVar[tuple[str, ...]] = ("layer", "id", "state", "size", "entry")
    STRETCH = "entry"

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for column in self.COLUMNS:
            self.add_column(column, key=column)


class FilePanel(Vertical):
    """Shows one path of a stack; `toggle_mode` switches between preview and diff."""

    DEFAULT_CSS = """
    FilePanel { width: 1fr; height: 1fr; }
    FilePanel > #file-header { height: auto; padding: 0 1; }
    FilePanel > #provenance-summary { height: auto; padding: 0 1; }
    FilePanel > #view-title {
        height: 1; padding: 0 1; margin-top: 1; text-style: bold; color: $accent;
    }
    FilePanel > #view-scroll { height: 1fr; border: round $surface-lighten-2; }
    FilePanel > #view-scroll:focus { border: round $accent; }
    FilePanel #view { width: auto; padding: 0 1; }
    """

    # A rootless store's (uid map, gid map): owners shown as the container sees them.
    id_maps: tuple[tuple[IdMap, ...], tuple[IdMap, ...]] = ((), ())

    class ViewReady(Message):
        def __init__(self, token: int, text: Text) -> None:
            super().__init__()
            self.token = token
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode: Mode = "preview"
        self._token = 0
        self._stack: LayerStack | None = None
        self._path: str | None = None
        self._change: Change | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("select a file", style="dim"), id="file-header")
        yield ProvenanceTable(id="provenance")
        yield Static(id="provenance-summary")
        yield Static(id="view-title")
        with KeyedScroll(id="view-scroll"):
            yield Static(id="view")

    @property
    def view_scroll(self) -> KeyedScroll:
        return self.query_one("#view-scroll", KeyedScroll)

    @property
    def path(self) -> str | None:
        return self._path

    def clear(self, message: str = "select a file") -> None:
        self._token += 1
        self._stack = self._path = self._change = None
        self.query_one("#file-header", Static).update(Text(message, style="dim"))
        self.query_one(ProvenanceTable).clear()
        self.query_one("#provenance-summary", Static).update("")
        self.query_one("#view-title", Static).update("")
        self.query_one("#view", Static).update("")

    def show(self, stack: LayerStack, path: str, change: Change | None) -> None:
        """Provenance now (a lookup), content or diff in a worker."""
        self._stack, self._path, self._change = stack, path, change
        header = safe(path, style="bold")
        header.append("\n")
        header.append(change_summary(change))
        self.query_one("#file-header", Static).update(header)
        prov = stack.provenance(path)
        table = self.query_one(ProvenanceTable)
        table.clear()
        for hit in prov.stack:
            layer = Text(f"L{layer_number(stack, hit.position)} ")
            layer.append(role_text(hit.role))
            table.add_row(
                layer,
                Text(short_id(hit.layer_id)),
                state_text(stack, hit),
                Text("" if hit.entry.kind.is_dir else size(hit.entry.size), justify="right"),
                describe_entry(hit.entry, self.id_maps),
            )
        table.stretch()
        self.query_one("#provenance-summary", Static).update(provenance_summary(stack, prov))
        self._refresh_view()

    def toggle_mode(self) -> Mode:
        self.mode = "diff" if self.mode == "preview" else "preview"
        self._refresh_view()
        return self.mode

    def _refresh_view(self) -> None:
        if self._stack is None or self._path is None:
            return
        self._token += 1
        title = (
            "diff against the version beneath (d: preview)"
            if self.mode == "diff"
            else "content (d: diff against the version beneath)"
        )
        self.query_one("#view-title", Static).update(title)
        self.query_one("#view", Static).update(Text("reading…", style="dim"))
        self._load(self._token, self._stack, self._path, self._change, self.mode)

    # An explicit description: Textual's default is the repr() of every argument, and a
    # stack's repr lists every entry of every layer (seconds for 200k files).
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="file-view",
        description="read the selected file",
    )
    def _load(
        self, token: int, stack: LayerStack, path: str, change: Change | None, mode: Mode
    ) -> None:
        try:
            text = (
                diff_view(stack, path, change) if mode == "diff" else preview(stack, path, change)
            )
        except OverlayscopeError as exc:
            text = Text(printable(f"{exc.title}: {exc.message}"), style="yellow")
        except OSError as exc:
            text = Text(printable(f"could not read: {exc}"), style="red")
        except Exception as exc:  # a bug: say so where the content would be
            text = Text(printable(f"internal error: {type(exc).__name__}: {exc}"), style="red")
        self.post_message(self.ViewReady(token, text))

    def on_file_panel_view_ready(self, message: FilePanel.ViewReady) -> None:
        message.stop()
        if message.token == self._token:
            self.query_one("#view", Static).update(message.text)
            self.view_scroll.scroll_home(animate=False)
