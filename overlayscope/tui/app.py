"""The Textual application: built by one factory, used by the CLI and the tests alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, LoadingIndicator, Static

from overlayscope.errors import OverlayscopeError
from overlayscope.root.model import Host
from overlayscope.tui.host_tables import ContainerTable, ImageTable, summary_text
from overlayscope.usage.sizes import measure_layers

if TYPE_CHECKING:
    from overlayscope.cli.context import Context


@dataclass(frozen=True)
class Loaded:
    host: Host
    source: str
    container_sizes: dict[str, int]


HostLoader = Callable[[], tuple[Host, str]]


class HostReady(Message):
    def __init__(self, loaded: Loaded) -> None:
        super().__init__()
        self.loaded = loaded


class LoadFailed(Message):
    def __init__(self, error: OverlayscopeError) -> None:
        super().__init__()
        self.error = error


class OverlayscopeApp(App[int]):
    """Host overview: where the data root is, its containers and its images."""

    TITLE = "overlayscope"
    CSS = """
    #summary { height: auto; padding: 0 1; }
    .section { height: auto; padding: 1 1 0 1; text-style: bold; }
    DataTable { height: auto; max-height: 50%; }
    #error { color: $error; padding: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(self, loader: HostLoader) -> None:
        super().__init__()
        self._loader = loader
        self.loaded: Loaded | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield LoadingIndicator()
        yield Footer()

    def on_mount(self) -> None:
        self.load_host()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_host(self) -> None:
        try:
            host, source = self._loader()
            sizes = measure_layers(host, [c.layer for c in host.containers.values() if c.layer])
        except OverlayscopeError as exc:
            self.post_message(LoadFailed(exc))
            return
        self.post_message(HostReady(Loaded(host, source, sizes)))

    async def on_host_ready(self, message: HostReady) -> None:
        self.loaded = message.loaded
        host = message.loaded.host
        self.sub_title = message.loaded.source
        body = self.query_one("#body", Vertical)
        await body.remove_children()
        containers = ContainerTable(id="containers")
        images = ImageTable(id="images")
        await body.mount_all(
            [
                Static(summary_text(host, message.loaded.source), id="summary"),
                Static(f"Containers ({len(host.containers)})", classes="section"),
                containers,
                Static(f"Images ({len(host.images)})", classes="section"),
                images,
            ]
        )
        containers.show(host, message.loaded.container_sizes)
        images.show(host)
        containers.focus()

    async def on_load_failed(self, message: LoadFailed) -> None:
        body = self.query_one("#body", Vertical)
        await body.remove_children()
        text = f"{message.error.title}: {message.error.message}"
        if message.error.hint:
            text += f"\nhint: {message.error.hint}"
        await body.mount(Static(text, id="error", markup=False))


def build_app(loader: HostLoader) -> OverlayscopeApp:
    """The one factory for the app (CLI and tests)."""
    return OverlayscopeApp(loader)


def run_app(ctx: Context) -> int:
    def loader() -> tuple[Host, str]:
        host = ctx.host_or_snapshot()
        return host, ctx.source

    app = build_app(loader)
    app.run()
    return app.return_code or 0


__all__ = ["DataTable", "OverlayscopeApp", "build_app", "run_app"]
