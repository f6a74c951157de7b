"""The host overview lists the captured snapshot's containers and images, read from disk."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from overlayscope.errors import NotADataRoot
from overlayscope.root.model import Host
from overlayscope.tui.app import build_app
from overlayscope.tui.widgets.overview.disk_usage import DiskUsagePanel
from tests.engine import CapturedRoot
from tests.tui.conftest import SIZE, AppFactory, settle

pytestmark = pytest.mark.root


async def test_overview_lists_containers_and_images(
    captured_root: CapturedRoot, captured_host: Host, make_app: AppFactory
) -> None:
    host = captured_host
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        containers = app.screen.query_one("#containers", DataTable)
        images = app.screen.query_one("#images", DataTable)
        assert {str(k.value) for k in containers.rows} == set(host.containers)
        assert {str(k.value) for k in images.rows} == set(host.images)
        names = {str(containers.get_row(c.id)[1]) for c in host.containers.values()}
        assert names == {a["name"] for a in captured_root.answers["containers"]}
        # The writable column is the engine's SizeRw, once measured.
        for answer in captured_root.answers["containers"]:
            cell = str(containers.get_cell(answer["id"], "writable"))
            assert cell != "…"
        await pilot.press("q")
    assert app.return_code == 0


async def test_overview_shows_where_the_disk_went(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = str(app.screen.query_one(DiskUsagePanel).render())
        for category in ("image layers", "container layers", "orphans", "build cache", "total"):
            assert category in panel
        summary = str(app.screen.query_one("#summary", Static).render())
        assert "overlay2" in summary and "problems" in summary


async def test_load_error_is_shown_not_raised() -> None:
    def fail() -> tuple[Host, str]:
        raise NotADataRoot("/nowhere is not a Docker data root", hint="pass --root")

    app = build_app(fail)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(pilot)
        text = str(app.query_one("#error").render())
        assert "/nowhere is not a Docker data root" in text
        assert "pass --root" in text
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_bug_while_loading_is_shown_not_a_spinner() -> None:
    def broken() -> tuple[Host, str]:
        raise RuntimeError("boom")

    app = build_app(broken)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(pilot)
        assert "internal error: RuntimeError: boom" in str(app.query_one("#error").render())
