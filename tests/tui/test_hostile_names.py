"""Names and contents with ESC, Rich markup, Textual action links and newlines are shown
literally, escaped, everywhere: nothing reaches the terminal raw, nothing is interpreted."""

from __future__ import annotations

import html
from pathlib import Path

from textual.widgets import DataTable, Static

from overlayscope.names import printable
from overlayscope.tui.app import OverlayscopeApp, build_app
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.image import ImageScreen
from overlayscope.tui.screens.overview import OverviewScreen
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.image.layer_details import layer_rows
from overlayscope.tui.widgets.image.layer_table import LayerTable
from tests.tui.conftest import SIZE, settle
from tests.tui.hostile import (
    BOLD_NAME,
    CLICK_NAME,
    ESC_NAME,
    HOSTILE_NAMES,
    NEWLINE_NAME,
    hostile_host,
)

SOURCE = "hostile [bold]root\x1b[2J"


def screen_text(app: OverlayscopeApp) -> str:
    """What the terminal would show, as text (the SVG export, entities decoded)."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


def assert_no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text


async def test_hostile_names_are_escaped_in_the_change_tree(tmp_path: Path) -> None:
    host, container, _ = hostile_host(tmp_path)
    app = build_app(lambda: (host, SOURCE), focus=container)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        tree = screen.query_one(ChangeTree)
        srv = tree.find("/srv")
        assert srv is not None
        tree.ensure_loaded(srv)
        srv.expand()
        await settle(pilot)
        labels = {str(child.data): child.label for child in srv.children}
        assert set(labels) == {"/srv/link", *("/srv/" + name for name in HOSTILE_NAMES)}
        for name in HOSTILE_NAMES:
            plain = labels["/srv/" + name].plain  # type: ignore[union-attr]
            assert printable(name) in plain
            assert_no_raw_controls(plain)
            assert "\n" not in plain
        assert "esc\\x1b[31mred" in labels["/srv/" + ESC_NAME].plain  # type: ignore[union-attr]
        assert "new\\nline" in labels["/srv/" + NEWLINE_NAME].plain  # type: ignore[union-attr]
        shown = screen_text(app)
        for name in (BOLD_NAME, CLICK_NAME, "esc\\x1b[31mred", "new\\nline"):
            assert name in shown, name
        assert_no_raw_controls(shown)

        # Clicking on the name with an action link in it must not run the action.
        node = tree.find("/srv/" + CLICK_NAME)
        assert node is not None
        tree.move_cursor(node)
        await settle(pilot)
        y = node.line - int(tree.scroll_y) + 1  # +1: the border
        for x in range(6, 40, 3):
            await pilot.click(ChangeTree, offset=(x, y))
        await settle(pilot)
        assert app.is_running and app.return_code is None

        # The selected file's content is escaped too (title, clear screen, bell, markup).
        panel = screen.query_one(FilePanel)
        assert panel.path == "/srv/" + CLICK_NAME
        view = str(panel.query_one("#view", Static).render())
        assert "\\x1b]0;pwned\\x07" in view and "\\x1b[2J" in view
        assert "[bold]x[/bold] [@click=app.quit]q[/]" in view
        assert_no_raw_controls(view)
        await pilot.press("d")  # the diff view: an added file, against nothing
        await settle(pilot)
        assert_no_raw_controls(str(panel.query_one("#view", Static).render()))

        # A symlink whose target is a hostile name: resolved inside the container, escaped.
        assert tree.show_path("/srv/link")
        await pilot.press("d")
        await settle(pilot)
        view = str(panel.query_one("#view", Static).render())
        assert "symlink → /" + CLICK_NAME in view
        assert "does not resolve inside the container" in view
        assert_no_raw_controls(screen_text(app))
        await pilot.press("q")
    assert app.return_code == 0


async def test_hostile_names_are_escaped_on_the_overview_and_image(tmp_path: Path) -> None:
    host, _, _ = hostile_host(tmp_path)
    app = build_app(lambda: (host, SOURCE))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        shown = screen_text(app)
        assert "[red]evil\\x1b[0m" in shown  # the container's name
        assert "evil/[@click=app.quit]:1" in shown  # the image's tag
        assert "hostile [bold]root\\x1b[2J" in shown  # the source, in the summary
        assert_no_raw_controls(shown)
        await pilot.press("ctrl+p", *"evil")  # the palette lists them escaped too
        await pilot.pause(0.5)
        shown = screen_text(app)
        assert "container [red]evil\\x1b[0m" in shown
        assert_no_raw_controls(shown)
        await pilot.press("escape")
        images = app.screen.query_one("#images", DataTable)
        images.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ImageScreen)
        shown = screen_text(app)
        # created_by, in the layer table and whole in the layer details
        layers = app.screen.query_one(LayerTable)
        assert str(layers.get_row_at(0)[4]) == "RUN [@click=app.quit] echo \\x1b[2J[bold]boom"
        details = dict(layer_rows(host, app.screen.image, 0))
        assert str(details["created by"]) == "/bin/sh -c [@click=app.quit] echo \\x1b[2J[bold]boom"
        assert "RUN [@click=app.quit] echo \\x1b[2J[" in shown
        assert_no_raw_controls(shown)
        assert app.is_running
