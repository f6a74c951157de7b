"""`/` filters, `f` kinds, `s` sort: on a container's change tree and on the overview's lists."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from overlayscope.root.model import Host
from overlayscope.tui.change_index import Order
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from tests.tui.conftest import SIZE, AppFactory, container_named, settle

pytestmark = pytest.mark.root


def top_level(tree: ChangeTree) -> list[str]:
    return [str(node.data) for node in tree.root.children]


async def test_slash_filters_the_change_tree(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        tree = screen.query_one(ChangeTree)
        await pilot.press("slash")
        assert isinstance(app.focused, FilterBar)
        await pilot.press(*"CSS")  # case-insensitive
        await pilot.pause(FilterBar.DEBOUNCE + 0.1)
        await settle(pilot)
        assert tree.keep == {
            "/srv",
            "/srv/www",
            "/srv/www/static",
            "/srv/www/static/css",
            "/srv/www/static/css/site.css",
        }
        assert top_level(tree) == ["/srv"]
        assert screen.query_one(FilePanel).path == "/srv"  # the panel follows the cursor
        assert "filter 'CSS'" in str(tree.border_subtitle)
        await pilot.press("enter")  # keep the filter, back to the tree
        assert app.focused is tree
        await pilot.press("slash", *"zzz-nothing")
        await pilot.pause(FilterBar.DEBOUNCE + 0.1)
        await settle(pilot)
        assert top_level(tree) == []
        assert "nothing matches" in str(screen.query_one("#file-header", Static).render())
        await pilot.press("enter")
        await pilot.press("escape")  # clears the filter (it does not leave the screen)
        await settle(pilot)
        assert app.screen is screen
        assert tree.keep is None
        assert top_level(tree) == ["/app", "/srv"]


async def test_f_cycles_the_kinds_and_s_sorts_by_size(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(ChangeTree)
        seen = {}
        for kind in ("A", "C", "D"):
            await pilot.press("f")
            await settle(pilot)
            assert tree.keep is not None
            leaves = {p for p in tree.keep if tree.index.get(p).kind.value == kind}  # type: ignore[union-attr]
            seen[kind] = leaves
            assert f"kind {kind}" in str(tree.border_subtitle)
        assert "/app/docs/README" in seen["A"] and "/app/conf/app.conf" not in seen["A"]
        assert "/app/conf/app.conf" in seen["C"]
        assert {"/app/logs", "/app/docs/readme.txt"} <= seen["D"]
        await pilot.press("f")  # back to all
        await settle(pilot)
        assert tree.keep is None
        assert top_level(tree) == ["/app", "/srv"]
        await pilot.press("s")  # by size: the 1 MB /srv first
        await settle(pilot)
        assert tree.order is Order.SIZE
        assert top_level(tree) == ["/srv", "/app"]


async def test_slash_filters_the_overview(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"tool")
        await pilot.pause(FilterBar.DEBOUNCE + 0.1)
        await settle(pilot)
        containers = app.screen.query_one("#containers", DataTable)
        images = app.screen.query_one("#images", DataTable)
        assert [str(containers.get_row_at(i)[1]) for i in range(containers.row_count)] == [
            "tool-exited"
        ]
        assert [str(images.get_row_at(i)[1]) for i in range(images.row_count)] == ["scope/tool:1"]
        title = str(app.screen.query_one("#containers-title", Static).render())
        assert title == "Containers (1 of 4)"
        await pilot.press("escape")
        await settle(pilot)
        assert containers.row_count == 4
