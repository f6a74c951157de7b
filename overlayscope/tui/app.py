"""The Textual application: built by one factory, used by the CLI and the tests alike.

`build_app(loader)` makes the app; the loader (a callable returning the `Host`
and a sentence saying where it came from) runs in a worker, so a slow root
never freezes the first frame. Screens: the host overview, one container, one
image, and the keys (`?`) and problems (`p`) pop-ups.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from overlayscope.errors import OverlayscopeError
from overlayscope.names import printable
from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.commands import HostCommands
from overlayscope.tui.navigation import open_object
from overlayscope.tui.screens.help import HelpScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.services import HostLoader, Services
from overlayscope.tui.widgets.common.key_footer import KeyFooter

if TYPE_CHECKING:
    from overlayscope.cli.context import Context


class OverlayscopeApp(App[int]):
    """Loads the host, then shows the overview (or, with `focus`, one container or image)."""

    TITLE = "overlayscope"
    CSS = """
    #body { height: 1fr; }
    #error { color: $error; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        # As in every terminal program (Textual's default only says how to quit).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Keys", key_display="?"),
    ]
    COMMANDS = App.COMMANDS | {HostCommands}

    class HostReady(Message):
        def __init__(self, host: Host, source: str) -> None:
            super().__init__()
            self.host = host
            self.source = source

    class LoadFailed(Message):
        def __init__(self, error: OverlayscopeError) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        loader: HostLoader,
        *,
        focus: Container | Image | None = None,
        services: Services | None = None,
    ) -> None:
        super().__init__()
        self._loader = loader
        self._focus = focus
        self.services = services or Services()
        self.host: Host | None = None
        self.source = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield LoadingIndicator()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load_host()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="load", description="load the host"
    )
    def load_host(self) -> None:
        try:
            host, source = self._loader()
        except OverlayscopeError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.HostReady(host, source))

    async def on_overlayscope_app_host_ready(self, message: OverlayscopeApp.HostReady) -> None:
        self.host = message.host
        self.source = message.source
        self.sub_title = printable(message.source)
        await self.push_screen(OverviewScreen(message.host, message.source, self.services))
        if self._focus is not None:
            self._open_focus(message.host, self._focus)

    def _open_focus(self, host: Host, focus: Container | Image) -> None:
        found: Container | Image | None = (
            host.containers.get(focus.key)
            if isinstance(focus, Container)
            else host.images.get(focus.key)
        )
        if found is None:
            self.notify(f"{printable(focus.id[:12])} is not in this data root", markup=False)
            return
        open_object(self, host, found, self.services)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A bug while loading (not an OverlayscopeError): show it rather than spin forever.
        error = event.worker.error
        if event.state is WorkerState.ERROR and event.worker.group == "load" and error is not None:
            await self._show_error(
                Text(printable(f"internal error: {type(error).__name__}: {error}"))
            )

    async def on_overlayscope_app_load_failed(self, message: OverlayscopeApp.LoadFailed) -> None:
        error = message.error
        text = Text(printable(f"{error.title}: {error.message}"), style="bold")
        if error.hint:
            text.append("\nhint: " + printable(error.hint))
        await self._show_error(text)

    async def _show_error(self, text: Text) -> None:
        body = self.query_one("#body", Vertical)
        await body.remove_children()
        text.append("\n\npress q to quit", style="dim")
        await body.mount(Static(text, id="error"))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Keys of this screen", "Every key that works here (?)", self.action_help
        )
        if self.host is not None and isinstance(screen, OverviewScreen):
            yield SystemCommand(
                "Problems", "Damage found in the data root (p)", screen.action_problems
            )


def build_app(
    loader: HostLoader,
    *,
    focus: Container | Image | None = None,
    services: Services | None = None,
) -> OverlayscopeApp:
    """The one factory for the app (CLI, tests, screenshots).

    `focus` opens that container or image once the host is loaded; `services`
    replaces the core calls the screens make (tests only).
    """
    return OverlayscopeApp(loader, focus=focus, services=services)


def run_app(ctx: Context, focus: Container | Image | None = None) -> int:
    """Run the TUI on the context's root (or the embedded snapshot when there is none)."""

    def loader() -> tuple[Host, str]:
        host = ctx.host_or_snapshot()
        return host, ctx.source

    app = build_app(loader, focus=focus)
    app.run()
    return app.return_code or 0


__all__ = ["OverlayscopeApp", "build_app", "run_app"]
