"""Keys answer while work runs: the real scan (or the overview's measuring) is held in its
worker until the test lets it go; keys pressed meanwhile are handled at once, and what
they chose applies to the answer once it lands. No timing is asserted."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from textual.pilot import Pilot

from overlayscope.errors import Cancelled
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import ScanProgress
from overlayscope.tui.app import OverlayscopeApp
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.help import HelpScreen
from overlayscope.tui.screens.image import ImageScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.screens.stack_screen import StackScreen
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.tree_model import Show
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.image.waste_table import WastedPaths
from overlayscope.union import LayerStack
from overlayscope.usage.df import disk_usage
from overlayscope.usage.df_model import DiskUsage
from tests.tui.conftest import SMALL, AppFactory, container_named, image_tagged, settle

pytestmark = pytest.mark.root


class HeldScan:
    """The real scan, held before it starts until the test lets it go (or it is
    cancelled): the keys below are pressed while the scan worker is blocked, and what
    they chose applies to the real answer once it lands."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def build_stack(
        self, host: Host, obj: Container | Image, cancel: threading.Event, report: ProgressCallback
    ) -> LayerStack:
        report(ScanProgress(0, 7, 10, "layer"))
        self.started.set()
        while not self.release.wait(0.05):
            if cancel.is_set():
                raise Cancelled("scan cancelled")
        return Services().build_stack(host, obj, cancel, report)


async def wait_until_held(pilot: Pilot[OverlayscopeApp], held: HeldScan) -> None:
    for _ in range(200):
        await pilot.pause()
        if held.started.is_set() and isinstance(pilot.app.screen, StackScreen):
            return
    raise AssertionError("the scan never started")


async def test_keys_answer_while_the_scan_worker_is_blocked(
    make_app: AppFactory, captured_host: Host
) -> None:
    held = HeldScan()
    app = make_app(
        focus=container_named(captured_host, "web"), services=Services(build_stack=held.build_stack)
    )
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_until_held(pilot, held)
            screen = app.screen
            assert isinstance(screen, ContainerScreen)
            scans = [w for w in app.workers if w.group == "stack"]
            # `?` opens the keys while the scan is held: its handler does no scan work.
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            assert all(w.is_running for w in scans) and not held.release.is_set()
            await pilot.press("j", "G", "escape")
            assert app.screen is screen
            await pilot.press("slash", *"conf", "enter", "tab", "tab", "s", "A", "m")
            assert all(w.is_running for w in scans)
            await pilot.press("escape")  # cancels the scan
            await settle(pilot)
            assert not any(w.is_running for w in scans)
    finally:
        held.release.set()


async def test_keys_pressed_during_the_scan_apply_to_its_answer(
    make_app: AppFactory, captured_host: Host
) -> None:
    held = HeldScan()
    app = make_app(
        focus=container_named(captured_host, "web"), services=Services(build_stack=held.build_stack)
    )
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_until_held(pilot, held)
            screen = app.screen
            assert isinstance(screen, ContainerScreen)
            scans = [w for w in app.workers if w.group == "stack"]
            # A filter, a change toggle and a sort, chosen while nothing is scanned yet.
            await pilot.press("slash", *"conf", "enter", "R", "s")
            await pilot.pause()
            assert all(w.is_running for w in scans) and screen.index is None
            assert screen.needle == "conf" and Show.REMOVED not in screen.shown
            held.release.set()
            await settle(pilot)
            tree = screen.query_one(ChangeTree)
            assert tree.index is not None and len(tree.index) == 22  # the real scan's answer
            assert tree.keep is not None and "/app/conf/app.conf" in tree.keep
            assert screen.kept is not None and screen.kept.matched
            assert all("conf" in path for path in screen.kept.matched)
            subtitle = str(tree.border_subtitle)
            assert "A C · U" in subtitle and "by size ↓" in subtitle and "'conf'" in subtitle
            assert app.focused is tree
    finally:
        held.release.set()


async def test_keys_answer_while_an_image_scan_and_the_overview_measuring_are_held(
    make_app: AppFactory, captured_host: Host
) -> None:
    held = HeldScan()
    app = make_app(
        focus=image_tagged(captured_host, "scope/app:1"),
        services=Services(build_stack=held.build_stack),
    )
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_until_held(pilot, held)
            screen = app.screen
            assert isinstance(screen, ImageScreen)
            scans = [w for w in app.workers if w.group == "stack"]
            await pilot.press("question_mark")  # the keys, over a held scan
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "k", "w")  # a layer up, the wasted-space tab
            assert app.screen is screen
            assert isinstance(app.focused, WastedPaths)
            assert all(w.is_running for w in scans) and screen.stack is None
            held.release.set()
            await settle(pilot)
            # The scan landed on the tab the user chose; its answer is the real one.
            assert screen.stack is not None and len(screen.stack.layers) == 5
            assert screen.query_one(WastedPaths).row_count > 0
    finally:
        held.release.set()

    # The overview's measuring of the whole root, held the same way.
    release, started = threading.Event(), threading.Event()

    def held_disk_usage(host: Host, **kwargs: Any) -> DiskUsage:
        started.set()
        release.wait()
        return disk_usage(host, **kwargs)

    app = make_app(services=Services(disk_usage=held_disk_usage))
    try:
        async with app.run_test(size=SMALL) as pilot:
            for _ in range(200):
                await pilot.pause()
                if started.is_set():
                    break
            assert started.is_set()
            overview = app.screen
            assert isinstance(overview, OverviewScreen)
            measuring = [w for w in app.workers if w.group == "measure"]
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "j", "tab", "p")  # rows, panes, the problems
            assert type(app.screen).__name__ == "ProblemsScreen"
            await pilot.press("escape")
            assert app.screen is overview and overview.usage is None
            assert all(w.is_running for w in measuring)
            release.set()
            await settle(pilot)
            assert overview.usage is not None  # the real measurement, once let go
    finally:
        release.set()
