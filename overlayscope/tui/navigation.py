"""Opening a container or an image: one place for the overview, the palette and `--tui`."""

from __future__ import annotations

from typing import Any

from textual.app import App

from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.services import Services


def open_object(app: App[Any], host: Host, obj: Container | Image, services: Services) -> None:
    """Push the screen of `obj` over the current one."""
    from overlayscope.tui.screens.container import ContainerScreen
    from overlayscope.tui.screens.image import ImageScreen

    if isinstance(obj, Container):
        app.push_screen(ContainerScreen(host, obj, services))
    else:
        app.push_screen(ImageScreen(host, obj, services))
