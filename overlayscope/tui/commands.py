"""Command palette (ctrl+p): open any container or image by name, tag or id."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from overlayscope.names import printable
from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.navigation import open_object
from overlayscope.tui.text import short_id
from overlayscope.tui.widgets.overview.tables import image_label

if TYPE_CHECKING:
    from overlayscope.tui.app import OverlayscopeApp


def _targets(host: Host) -> Iterator[tuple[str, str, Container | Image]]:
    """(what to match and show, help line, object), containers first, intermediates left out."""
    for c in sorted(host.containers.values(), key=lambda c: c.name):
        yield f"container {printable(c.name)}", printable(f"{c.state}, {short_id(c.id)}"), c
    for i in sorted(host.images.values(), key=lambda i: i.tags):
        if not i.intermediate:
            yield f"image {printable(image_label(i))}", short_id(i.id), i


class HostCommands(Provider):
    """Containers and images of the loaded host."""

    @property
    def _app(self) -> OverlayscopeApp:
        return cast("OverlayscopeApp", self.app)

    def _open(self, obj: Container | Image) -> None:
        app = self._app
        if app.host is not None:
            open_object(app, app.host, obj, app.services)

    async def discover(self) -> Hits:
        host = self._app.host
        if host is None:
            return
        for text, help_text, obj in _targets(host):
            yield DiscoveryHit(
                Content(text), partial(self._open, obj), text=text, help=escape(help_text)
            )

    async def search(self, query: str) -> Hits:
        host = self._app.host
        if host is None:
            return
        matcher = self.matcher(query)
        for text, help_text, obj in _targets(host):
            score = matcher.match(text)
            if score > 0:
                # Content(text), not matcher.highlight(text): that parses the name as markup;
                # and the palette parses `help` as markup: escape it.
                yield Hit(
                    score,
                    Content(text),
                    partial(self._open, obj),
                    text=text,
                    help=escape(help_text),
                )
