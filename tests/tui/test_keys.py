"""The keys of issue #16 at 80x24, as dive, ncdu/gdu, lazydocker and vim have them: j/k/h/l,
→ opens and ← closes or goes to the parent, g/G, ctrl+space, tab between the main panes
only, ctrl+c quits (keys while a scan runs: test_keys_while_busy.py)."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import DataTable

from overlayscope.root.model import Host
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.image import ImageScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.screens.root_browser import DirTree
from overlayscope.tui.tree_model import Sort
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.jump_bar import JumpBar
from overlayscope.tui.widgets.common.keyed import KeyedScroll
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel, ProvenanceTable
from overlayscope.tui.widgets.image.layer_table import LayerTable
from overlayscope.tui.widgets.image.waste_table import LayerWaste, WastedPaths
from overlayscope.tui.widgets.overview.tables import ContainerTable, ImageTable, OrphanTable
from tests.tui.conftest import SMALL, AppFactory, container_named, image_tagged, settle

pytestmark = pytest.mark.root


def cursor_path(tree: ChangeTree) -> str | None:
    node = tree.cursor_node
    return None if node is None else str(node.data)


def open_dirs(tree: ChangeTree) -> set[str]:
    out, pending = set(), list(tree.root.children)
    while pending:
        node = pending.pop()
        if node.is_expanded:
            out.add(str(node.data))
            pending.extend(node.children)
    return out


@pytest.mark.parametrize(("right", "left"), [("l", "h"), ("right", "left")])
async def test_tree_keys_open_enter_close_and_climb(
    make_app: AppFactory, captured_host: Host, right: str, left: str
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(ChangeTree)
        assert app.focused is tree and cursor_path(tree) == "/app"
        await pilot.press(right)  # opens /app, the cursor stays on it
        assert open_dirs(tree) == {"/app"} and cursor_path(tree) == "/app"
        await pilot.press(right)  # into it: its first child
        assert cursor_path(tree) == "/app/bin"
        await pilot.press("j", "j")  # down, as ↓: /app/conf, /app/docs
        assert cursor_path(tree) == "/app/docs"
        await pilot.press("k")
        assert cursor_path(tree) == "/app/conf"
        await pilot.press(left)  # a closed dir: to its parent
        assert cursor_path(tree) == "/app"
        await pilot.press(left)  # an open dir: closes it (it did not scroll sideways)
        assert open_dirs(tree) == set() and cursor_path(tree) == "/app"
        assert tree.scroll_x == 0
        await pilot.press("G")  # the last line, then the first
        assert cursor_path(tree) == "/srv"
        await pilot.press("g")
        assert cursor_path(tree) == "/app"


async def test_ctrl_space_opens_everything_then_closes_everything(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(ChangeTree)
        dirs = {p for p in tree.index.by_path if tree.index.has_children(p)}
        await pilot.press("ctrl+@")  # what a terminal sends for ctrl+space
        assert open_dirs(tree) == dirs
        await pilot.press("l", "l", "l")  # deep inside /app
        assert cursor_path(tree) not in {"/app", "/srv"}
        await pilot.press("ctrl+@")  # close all: the cursor climbs to its top dir
        assert open_dirs(tree) == set()
        assert cursor_path(tree) == "/app"


async def test_tab_goes_round_the_main_panes_only(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        tree = screen.query_one(ChangeTree)
        provenance = screen.query_one(ProvenanceTable)
        view = screen.query_one(FilePanel).view_scroll
        # The filter and jump bars were opened once: closed, tab never lands on them.
        await pilot.press("slash", "escape", "colon", "escape")
        assert app.focused is tree
        seen = []
        for _ in range(4):
            await pilot.press("tab")
            seen.append(app.focused)
        assert seen == [provenance, view, tree, provenance]
        await pilot.press("shift+tab")
        assert app.focused is tree
        await pilot.press("shift+tab")  # round the other way
        assert app.focused is view
        assert not any(isinstance(w, FilterBar | JumpBar) for w in seen)

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        order = [type(app.focused)]
        for _ in range(3):
            await pilot.press("tab")
            order.append(type(app.focused))
        assert order == [ContainerTable, ImageTable, OrphanTable, ContainerTable]


async def test_tables_take_vim_keys_and_l_opens_the_row(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContainerTable)
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g", "j")
        assert table.cursor_row == 1
        await pilot.press("k", "j", "j", "j")  # fresh, stopped, tool-exited, web
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert screen.container.name == "web"


async def test_ctrl_c_quits_like_q(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("slash")  # even from the filter's input
        assert isinstance(app.focused, FilterBar)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_enter_on_a_table_row_still_opens_it(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("tab", "enter")  # the images table: scope/app:1
        await settle(pilot)
        assert type(app.screen).__name__ == "ImageScreen"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen.query_one("#images", DataTable), ImageTable)


async def test_tab_goes_round_the_image_and_root_browser_panes(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=image_tagged(captured_host, "scope/app:1"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        layers = screen.query_one(LayerTable)
        assert app.focused is layers
        expected = [
            screen.query_one("#details-scroll", KeyedScroll),
            screen.query_one(ChangeTree),
            screen.query_one(ProvenanceTable),
            screen.query_one(FilePanel).view_scroll,
            layers,
        ]
        seen = []
        for _ in expected:
            await pilot.press("tab")
            seen.append(app.focused)
        assert seen == expected  # never the tab strip, the filter or the jump bar
        await pilot.press("w")  # the wasted-space tab: its two tables only
        await settle(pilot)
        assert isinstance(app.focused, WastedPaths)
        await pilot.press("tab")
        assert isinstance(app.focused, LayerWaste)
        await pilot.press("tab")
        assert isinstance(app.focused, WastedPaths)

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        tree = app.screen.query_one(DirTree)
        assert app.focused is tree
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#info-scroll", KeyedScroll)
        await pilot.press("tab")
        assert app.focused is tree


async def test_keys_typed_ahead_after_slash_and_colon_go_to_the_bar(
    make_app: AppFactory, captured_host: Host
) -> None:
    # A fast typist (or a paste, or tmux's send-keys) gets every key in before a frame: the
    # keys after `:` and `/` are the bar's, never the screen's (`i` would open the config,
    # `s` sort, `n` sort by name).
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        for key, char in (("colon", ":"), *((c, c) for c in "bin"), ("slash", "/")):
            app.post_message(events.Key(key, char))
        for c in "sh":
            app.post_message(events.Key(c, c))
        await settle(pilot)
        assert app.screen is screen
        jump = screen.query_one(JumpBar)
        assert app.focused is jump and jump.value == "/bin/sh"
        await pilot.press("escape")
        for key, char in (("slash", "/"), *((c, c) for c in "sin")):
            app.post_message(events.Key(key, char))
        await settle(pilot)
        bar = screen.query_one(FilterBar)
        assert app.focused is bar and bar.value == "sin"
        assert screen.sort == Sort()  # neither s nor n sorted the tree
