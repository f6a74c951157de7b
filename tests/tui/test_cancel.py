"""Long scans run in workers, report progress, and stop when the user presses esc or leaves."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label, Static

from overlayscope.errors import Cancelled
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import ScanProgress
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.overview.disk_usage import DiskUsagePanel
from overlayscope.union import LayerStack
from overlayscope.union.host_stacks import build_stack
from tests.tui.conftest import SIZE, AppFactory, container_named, settle

pytestmark = pytest.mark.root


class BlockingCore:
    """A core call that reports progress, then waits until it is cancelled."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancel: threading.Event | None = None
        self.calls = 0

    def build_stack(
        self,
        host: Host,
        obj: Container | Image,
        cancel: threading.Event,
        progress: ProgressCallback,
    ) -> LayerStack:
        self.calls += 1
        if self.calls > 1:  # a rescan after the cancel: the real thing
            return build_stack(host, obj, cancel=cancel, progress=progress)
        self._block(cancel, progress)
        raise AssertionError("unreachable")

    def disk_usage(self, host: Host, **kwargs: Any) -> object:
        self._block(kwargs["cancel"], kwargs["progress"])
        raise AssertionError("unreachable")

    def _block(self, cancel: threading.Event, progress: ProgressCallback) -> None:
        self.cancel = cancel
        progress(ScanProgress(1, 3, 1234, "layer"))
        self.started.set()
        if not cancel.wait(20):
            raise AssertionError("never cancelled")
        raise Cancelled("scan cancelled")


def status_text(screen: object) -> str:
    assert isinstance(screen, (ContainerScreen, OverviewScreen))
    return str(screen.query_one(ScanStatus).query_one(Label).render())


async def wait_for(event: threading.Event, pilot: Any) -> None:
    for _ in range(200):
        if event.is_set():
            await pilot.pause(0.05)
            return
        await pilot.pause(0.05)
    raise AssertionError("the core was never called")


async def test_esc_cancels_a_container_scan_then_r_scans_again(
    make_app: AppFactory, captured_host: Host
) -> None:
    core = BlockingCore()
    app = make_app(
        focus=container_named(captured_host, "web"),
        services=Services(build_stack=core.build_stack),
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(core.started, pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert "1/3 layers, 1,234 entries" in status_text(screen)
        await pilot.press("escape")
        await settle(pilot)
        assert core.cancel is not None and core.cancel.is_set()
        assert app.screen is screen  # esc stopped the scan; it did not leave
        assert "cancelled" in status_text(screen)
        assert "scan cancelled" in str(screen.query_one("#file-header", Static).render())
        await pilot.press("r")
        await settle(pilot)
        assert screen.index is not None and len(screen.index) == 22
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_leaving_a_screen_cancels_its_scan(make_app: AppFactory, captured_host: Host) -> None:
    core = BlockingCore()
    app = make_app(
        focus=container_named(captured_host, "web"),
        services=Services(build_stack=core.build_stack),
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(core.started, pilot)
        await app.pop_screen()
        await settle(pilot)
        assert core.cancel is not None and core.cancel.is_set()
        assert isinstance(app.screen, OverviewScreen)


async def test_esc_cancels_measuring_the_data_root(make_app: AppFactory) -> None:
    core = BlockingCore()
    app = make_app(services=Services(disk_usage=core.disk_usage))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(core.started, pilot)
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert "cancelled" in status_text(screen)
        assert "cancelled" in str(screen.query_one(DiskUsagePanel).render())
        # The tables still work: the writable sizes came before the whole-root walk.
        web = screen.query_one("#containers", DataTable).get_cell_at(Coordinate(3, 4))
        assert str(web) == "1.0 MB"
