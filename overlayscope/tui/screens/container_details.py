"""`i` and `L` on a container: its config and its logs, as lazydocker and dissect.target show
them, read from the store's records and log files (no daemon)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Header, Static, TabbedContent, TabPane

from overlayscope.names import plural, printable
from overlayscope.root.container_logs import LogTail, read_log_tail
from overlayscope.root.model import Container, Host
from overlayscope.tui.screens.panes import PaneScreen
from overlayscope.tui.text import safe, short_id, size
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.common.keyed import KeyedScroll
from overlayscope.tui.widgets.overview.tables import image_label

STREAM_STYLE = {"stderr": "red", "stdout": ""}


def config_text(host: Host, c: Container) -> Text:
    """Everything the records say the container runs, one fact a line, every value escaped."""
    out = Text()

    def section(title: str) -> None:
        out.append(("\n" if out else "") + title + "\n", style="bold underline")

    def row(label: str, value: Text | str) -> None:
        out.append(f"  {label:<14}", style="bold")
        out.append_text(value if isinstance(value, Text) else safe(value))
        out.append("\n")

    def unknown() -> Text:
        return Text("not recorded", style="dim")

    image = host.image_of(c)
    section("container")
    row("name", c.name or "-")
    row("id", c.id)
    if c.namespace:
        row("namespace", c.namespace)
    row("image", image_label(image) if image else (c.image_ref or short_id(c.image_id)))
    row("state", c.state)
    row("created", c.created or unknown())
    row("started", c.started_at or unknown())
    row("finished", c.finished_at or unknown())
    row("exit code", str(c.exit_code) if c.exit_code is not None else unknown())
    row("restarts", str(c.restart_count) if c.restart_count is not None else unknown())
    if c.kubernetes is not None:
        k = c.kubernetes
        row(
            "pod",
            f"{k.pod_namespace}/{k.pod}"
            + (" (sandbox)" if k.sandbox else f", container {k.container}"),
        )
    section("command")
    out.append("  ")
    out.append_text(safe(" ".join(_quoted(a) for a in c.command)) if c.command else unknown())
    out.append("\n")
    section(f"environment ({len(c.env)})")
    for var in c.env:
        name, _, value = var.partition("=")
        out.append("  ")
        out.append_text(safe(name, style="cyan"))
        out.append("=")
        out.append_text(safe(value))
        out.append("\n")
    if not c.env:
        out.append("  ")
        out.append_text(unknown())
        out.append("\n")
    section(f"mounts ({len(c.mounts)})")
    for m in c.mounts:
        out.append("  ")
        out.append_text(safe(m.destination, style="bold"))
        out.append(" ← ")
        out.append_text(safe(m.source or "-"))
        out.append_text(safe(f"  {m.type}{', read-only' if m.read_only else ''}", style="dim"))
        out.append("\n")
    if not c.mounts:
        out.append("  none recorded\n", style="dim")
    section(f"ports ({len(c.ports)})")
    for port in c.ports:
        out.append("  ")
        out.append_text(safe(port))
        out.append("\n")
    if not c.ports:
        out.append("  none published\n", style="dim")
    section("records")
    row("rw layer", c.layer or "missing")
    row("record", c.path)
    for log in c.logs:
        row("log", log)
    out.no_wrap = False
    out.overflow = "fold"
    return out


def _quoted(arg: str) -> str:
    """As a shell would need it; control characters are escaped later, once, by `safe`."""
    if arg and all(ch.isalnum() or ch in "-_./=:,@%+" for ch in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def logs_text(tail: LogTail) -> Text:
    out = Text()
    head = Text(style="dim")
    if tail.path:
        head.append_text(safe(tail.path, style="dim"))
        head.append(f"  ({tail.format}, {size(tail.size)}")
        head.append(f"; the last {plural(len(tail.lines), 'line')})" if tail.cut else ")")
    if tail.note:
        head.append("\n" if tail.path else "")
        head.append_text(safe(tail.note, style="yellow"))
    if tail.others:
        head.append(f"\nnot read: {plural(len(tail.others), 'rotated or other log file')}")
    out.append_text(head)
    out.append("\n\n")
    for line in tail.lines:
        if line.time:
            out.append(printable(line.time[:23]) + " ", style="dim")
        if line.stream:
            out.append(f"{line.stream:<6} ", style=STREAM_STYLE.get(line.stream, "") + " dim")
        out.append_text(safe(line.text, style=STREAM_STYLE.get(line.stream or "", "")))
        out.append("\n")
    if not tail.lines and not tail.note:
        out.append("the log is empty", style="dim")
    return out


class ContainerDetailsScreen(PaneScreen):
    """Two tabs: Config and Logs; esc goes back to the container."""

    DEFAULT_CSS = """
    ContainerDetailsScreen TabbedContent { height: 1fr; }
    ContainerDetailsScreen KeyedScroll { height: 1fr; }
    ContainerDetailsScreen .body { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("i", "tab('config')", "Config"),
        Binding("L", "tab('logs')", "Logs"),
        Binding("r", "read_logs", "Read the log again", show=False),
    ]

    class LogsRead(Message):
        def __init__(self, tail: LogTail) -> None:
            super().__init__()
            self.tail = tail

    def __init__(self, host: Host, container: Container, tab: str = "config") -> None:
        super().__init__()
        self.host = host
        self.container = container
        self.initial = tab

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=self.initial, id="tabs"):
            with TabPane("Config", id="config"), KeyedScroll(id="config-scroll"):
                yield Static(config_text(self.host, self.container), classes="body")
            with TabPane("Logs", id="logs"), KeyedScroll(id="logs-scroll"):
                yield Static(Text("reading…", style="dim"), id="log", classes="body")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(f"container {self.container.name or self.container.id[:12]}")
        self.action_tab(self.initial)
        self.action_read_logs()

    def panes(self) -> list[Widget]:
        active = self.query_one(TabbedContent).active
        return [self.query_one(f"#{active}-scroll", KeyedScroll)]

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{tab}-scroll", KeyedScroll).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_read_logs(self) -> None:
        self._read(self.container)

    @work(thread=True, exclusive=True, exit_on_error=False, description="read the log")
    def _read(self, container: Container) -> None:
        self.post_message(self.LogsRead(read_log_tail(container)))

    def on_container_details_screen_logs_read(
        self, message: ContainerDetailsScreen.LogsRead
    ) -> None:
        self.query_one("#log", Static).update(logs_text(message.tail))
        # As `docker logs --tail`: the newest lines in view.
        self.query_one("#logs-scroll", KeyedScroll).call_after_refresh(
            self.query_one("#logs-scroll", KeyedScroll).scroll_end, animate=False
        )
