"""A container with 200k changed files: the tree is built as it is opened, the UI keeps answering.

The stack is built in memory (tests/union/builders.py), so the test does not
write 200k files; everything above the stack builder is the real code.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from textual.app import App

from overlayscope.root.model import Container, Host, Image
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.help import HelpScreen
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.files.paged_tree import More, PagedTree
from overlayscope.union import LayerStack
from tests.tui.conftest import AppFactory, container_named, settle
from tests.union.builders import stack

pytestmark = pytest.mark.root

FILES = 200_000


def huge_stack() -> LayerStack:
    rw = [f"f /data/f{i:06d} size={i % 4096}" for i in range(FILES)]
    return stack(("rw:rw", rw), ("init:init", ["f /etc/hosts"]), ("img:image", ["f /etc/passwd"]))


async def answered_within(app: App[object], key: str, screen: type, seconds: float) -> bool:
    started = time.monotonic()
    app.simulate_key(key)
    while time.monotonic() - started < seconds:
        if isinstance(app.screen, screen):
            return True
        await asyncio.sleep(0.01)
    return False


def screen_done(app: App[object]) -> bool:
    return isinstance(app.screen, ContainerScreen) and app.screen.index is not None


class HugeCore:
    def __init__(self) -> None:
        self.stack = huge_stack()
        self.release = threading.Event()

    def build_stack(
        self, host: Host, obj: Container | Image, cancel: threading.Event, _: ProgressCallback
    ) -> LayerStack:
        self.release.wait(30)  # lets the test act while the "scan" runs
        return self.stack


async def test_200k_changed_files(make_app: AppFactory, captured_host: Host) -> None:
    core = HugeCore()
    app = make_app(
        focus=container_named(captured_host, "fresh"),
        services=Services(build_stack=core.build_stack),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        assert isinstance(app.screen, ContainerScreen)
        core.release.set()
        # While the worker computes 200k changes, keys are still answered. (Timed with
        # asyncio.sleep: the pilot's own waits last while the process is busy.)
        assert await answered_within(app, "question_mark", HelpScreen, 2.0)
        assert await answered_within(app, "escape", ContainerScreen, 2.0)
        assert not screen_done(app)  # it was all during the scan
        await settle(pilot, rounds=200)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert screen.index is not None and len(screen.index) == FILES + 1  # + /data
        tree = screen.query_one(ChangeTree)
        assert tree.node_count == 2  # the root and /data: nothing else built yet

        await pilot.press("enter")  # open /data: one page, and a "more" leaf
        await settle(pilot)
        data = tree.root.children[0]
        assert len(data.children) == PagedTree.PAGE + 1
        more = data.children[-1].data
        assert isinstance(more, More) and more.offset == PagedTree.PAGE
        assert tree.node_count <= PagedTree.PAGE + 3

        started = time.monotonic()
        for _ in range(20):
            await pilot.press("down")
        await settle(pilot)
        assert time.monotonic() - started < 10.0
        assert screen.query_one(FilePanel).path == "/data/f000019"

        await pilot.press("end", "enter")  # the "more" leaf: the next page
        await settle(pilot)
        assert len(data.children) == 2 * PagedTree.PAGE + 1
        assert tree.node_count <= 2 * PagedTree.PAGE + 3

        await pilot.press("slash", *"f199999", "enter")
        await pilot.pause(FilterBar.DEBOUNCE)
        await settle(pilot, rounds=200)
        assert tree.keep == {"/data", "/data/f199999"}
        assert tree.show_path("/data/f199999")
        assert tree.node_count == 3
