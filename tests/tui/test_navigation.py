"""Pilots through the screens on the captured snapshot, by keys, as a user would."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from overlayscope.root.model import Host
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.help import HelpScreen
from overlayscope.tui.screens.image import ImageScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.screens.problems import ProblemsScreen
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel, ProvenanceTable
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.tui.widgets.image.waste_table import WastedPaths
from tests.engine import CapturedRoot
from tests.tui.conftest import SIZE, AppFactory, container_named, image_tagged, settle

pytestmark = pytest.mark.root


def row_texts(table: DataTable[object]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def child_paths(tree: PagedTree, path: str) -> list[str]:
    node = tree.find(path)
    assert node is not None, path
    tree.ensure_loaded(node)
    return [str(child.data) for child in node.children]


def view_text(panel: FilePanel) -> str:
    return str(panel.query_one("#view", Static).render())


async def test_overview_to_container_to_file_to_provenance(
    make_app: AppFactory, captured_host: Host, captured_root: CapturedRoot
) -> None:
    web = container_named(captured_host, "web")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        # The containers table has focus, sorted by name: fresh, stopped, tool-exited, web.
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert screen.container.id == web.id
        tree = screen.query_one(ChangeTree)
        assert app.focused is tree
        # Every path of the engine's `docker diff` is in the change tree's index.
        answer = next(a for a in captured_root.answers["containers"] if a["id"] == web.id)
        assert {(c.kind.value, c.path) for c in tree.index.by_path.values()} == {
            (d["kind"], d["path"]) for d in answer["diff"]
        }
        # Only the top level is built: /app and /srv.
        assert [str(n.data) for n in tree.root.children] == ["/app", "/srv"]
        await pilot.press("enter")  # expand /app (cursor starts on it)
        await pilot.press("down", "down")  # /app/bin, /app/conf
        await pilot.press("enter", "down")  # expand /app/conf, onto /app/conf/app.conf
        await settle(pilot)
        panel = screen.query_one(FilePanel)
        assert panel.path == "/app/conf/app.conf"
        rows = row_texts(screen.query_one(ProvenanceTable))
        assert rows[0][0] == "L6 rw" and rows[0][2] == "wins"
        assert rows[-1][2] == "hidden: file L6"
        assert rows[-1][1] == "4f28e28fbe1d"  # the image layer that made /app/conf
        header = str(panel.query_one("#file-header", Static).render())
        assert "copy-up" in header and "content changed" not in header
        assert "appended" in view_text(panel)
        await pilot.press("d")  # the diff against the version beneath
        await settle(pilot)
        diff = view_text(panel)
        assert "+appended" in diff and "beneath" in diff
        await pilot.press("escape")  # back to the overview
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_a_deleted_file_shows_its_whiteout_and_the_old_content(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert screen.query_one(ChangeTree).show_path("/app/docs/readme.txt")
        await settle(pilot)
        rows = row_texts(screen.query_one(ProvenanceTable))
        assert [r[2] for r in rows] == ["whiteout", "hidden: whiteout L6"]
        panel = screen.query_one(FilePanel)
        assert "not visible: a whiteout" in str(
            panel.query_one("#provenance-summary", Static).render()
        )
        assert "deleted; the version beneath" in view_text(panel)
        assert "read me" in view_text(panel)


async def test_overview_to_image_to_layer(make_app: AppFactory, captured_host: Host) -> None:
    app_image = image_tagged(captured_host, "scope/app:1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")  # the images table; scope/app:1 is its first row
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        assert screen.image.id == app_image.id
        layers = screen.query_one("#layers", DataTable)
        assert layers.row_count == 5
        assert screen.chosen_layer == 4  # the top layer first
        assert "rm /app/data/doomed.txt" in str(layers.get_row_at(4)[4])
        tree = screen.query_one(ChangeTree)
        assert "/app/data/doomed.txt" in child_paths(tree, "/app/data")
        assert tree.index.get("/app/data/doomed.txt").kind.value == "D"  # type: ignore[union-attr]
        await pilot.press("up")  # L3: the hard links, symlinks and odd names
        await settle(pilot)
        assert screen.chosen_layer == 3
        assert "/app/[bold]x" in child_paths(tree, "/app")
        await pilot.press("m")  # dive's aggregated view: the merged tree up to L3
        await settle(pilot)
        merged = screen.query_one(MergedTree)
        assert merged.display and not tree.display
        top = [str(n.data) for n in merged.root.children]
        assert "/bin" in top and "/app" in top
        await pilot.press("w")
        await settle(pilot)
        assert screen.query_one(TabbedContent).active == "waste-tab"
        wasted = row_texts(screen.query_one(WastedPaths))
        assert wasted[0][2] == "/app/data/big.txt"


async def test_question_mark_lists_every_key(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "stopped"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows
        for row in (
            ("everywhere", "q ^c", "Quit"),
            ("everywhere", "?", "Keys"),
            ("this screen", "/", "Filter"),
            ("this screen", ":", "Jump to path"),
            ("this screen", "A ^a", "Show added"),
            ("this screen", "s", "Sort by size"),
            ("this screen", "d", "Content/diff"),
            ("this screen", "i", "Config"),
            ("this screen", "esc", "Back / cancel"),
            ("trees", "l →", "Open dir / into it"),
            ("trees", "ctrl+space", "Close all / open all"),
        ):
            assert row in rows
        # The app's own keys first; overlayscope's keys only (no Textual editing keys).
        assert [r[0] for r in rows[:2]] == ["everywhere", "everywhere"]
        assert {r[0] for r in rows} <= {
            "everywhere", "this screen", "trees", "tables", "text views", "filter bar",
            "jump bar",
        }  # fmt: skip
        assert not any("cursor" in what.lower() or "delete" in what.lower() for *_, what in rows)
        await pilot.press("escape")
        assert isinstance(app.screen, ContainerScreen)


async def test_problems_pop_up(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, ProblemsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_command_palette_opens_a_container(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"container tool-exited")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        assert screen.container.id == container_named(captured_host, "tool-exited").id


async def test_focus_opens_straight_on_a_container(
    make_app: AppFactory, captured_host: Host
) -> None:
    stopped = container_named(captured_host, "stopped")
    app = make_app(focus=stopped)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen) and screen.container.id == stopped.id
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("q")
    assert app.return_code == 0
