"""Fixtures for the TUI tests: the captured host, an app factory, and a way to let work finish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from overlayscope.root.load import load_host
from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.app import OverlayscopeApp, build_app
from overlayscope.tui.services import Services
from tests.engine import CapturedRoot

SIZE = (120, 40)
SMALL = (80, 24)  # the smallest terminal the TUI must work in
SOURCE = "captured snapshot dataroot.tar.xz"  # fixed: the unpacked path changes every run


@pytest.fixture(scope="module")
def captured_host(captured_root: CapturedRoot) -> Host:
    return load_host(str(captured_root.path))


AppFactory = Callable[..., OverlayscopeApp]


@pytest.fixture
def make_app(captured_host: Host) -> AppFactory:
    """`make_app(focus=…, services=…)`: the real factory on the captured host."""

    def make(
        focus: Container | Image | None = None, services: Services | None = None
    ) -> OverlayscopeApp:
        return build_app(lambda: (captured_host, SOURCE), focus=focus, services=services)

    return make


async def settle(pilot: Pilot[Any], rounds: int = 50) -> None:
    """Wait until no worker runs and the messages they posted are handled."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
    raise AssertionError("workers still running")


async def settle_frame(pilot: Pilot[Any], rounds: int = 50) -> str:
    """`settle`, then until two frames in a row are the same; returns the last (an SVG).

    What a worker delivered is on screen only once the widgets have laid it out (a
    table measures new rows when it is next idle): a frame taken before shows the old
    column widths. Snapshots and screen-text checks take the frame this returns."""
    await settle(pilot)
    previous = None
    for _ in range(rounds):
        await pilot.pause()
        frame = pilot.app.export_screenshot(simplify=True)
        if frame == previous:
            return frame
        previous = frame
    raise AssertionError("the screen never settled")


def container_named(host: Host, name: str) -> Container:
    return next(c for c in host.containers.values() if c.name == name)


def image_tagged(host: Host, tag: str) -> Image:
    return next(i for i in host.images.values() if tag in i.tags)
