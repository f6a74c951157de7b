"""80x24 works: the overview's summary and section titles stay on screen, tree lines are
never cut mid-word, the footer keeps `q` and `?` on every screen; a wider terminal is
used (tables stretch, the disk bars show every column)."""

from __future__ import annotations

import html
import re

import pytest
from rich.text import Text
from textual.widgets.data_table import ColumnKey

from overlayscope.root.model import Host
from overlayscope.tui.app import OverlayscopeApp
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.tree_model import NodeStats
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.files.change_tree import ChangeTree, change_marks
from overlayscope.tui.widgets.files.tree_label import LabelParts, fit
from overlayscope.tui.widgets.image.layer_table import LayerTable
from overlayscope.tui.widgets.overview.tables import ContainerTable, ImageTable
from tests.tui.conftest import (
    SMALL,
    AppFactory,
    container_named,
    image_tagged,
    settle,
    settle_frame,
)

pytestmark = pytest.mark.root


def screen_lines(app: OverlayscopeApp) -> list[str]:
    """The terminal's lines, as text, from the SVG export."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append(
            (float(m.group(1)), html.unescape(m.group(3)).replace("\xa0", " "))
        )
    return ["".join(t for _, t in sorted(parts)) for _, parts in sorted(rows.items())]


def footer_text(app: OverlayscopeApp) -> str:
    return str(app.screen.query_one(KeyFooter).render())


async def test_overview_at_80x24_keeps_summary_titles_and_footer(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle_frame(pilot)
        shown = "\n".join(screen_lines(app))
        for text in (
            "root ",
            "store ",
            "containers 4 (1 running)",
            "problems ",
            "Containers (4)",
            "Images (13)",
            "Orphaned layer dirs (0)",
            "on disk",  # the disk bars' figures, whole
        ):
            assert text in shown, text
        assert footer_text(app).startswith("q Quit  ? Keys")


async def test_every_screen_keeps_q_and_help_in_the_footer_at_80x24(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        for keys in ((), ("i",), ("escape", "L"), ("escape", "escape", "b")):
            await pilot.press(*keys)
            await settle(pilot)
            text = footer_text(app)
            assert text.startswith("q Quit  ? Keys"), (type(app.screen).__name__, text)
            assert len(text) <= SMALL[0]
    app = make_app(focus=image_tagged(captured_host, "scope/app:1"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert footer_text(app).startswith("q Quit  ? Keys")


async def test_tree_lines_at_80x24_cut_no_word(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        tree = screen.query_one(ChangeTree)
        await pilot.press("ctrl+@")  # everything open
        await settle(pilot)
        width = tree.scrollable_content_region.width
        for line in tree._tree_lines:
            path = str(line.node.data)
            rendered = tree.render_label(line.node, tree.rich_style, tree.rich_style).plain
            assert len(rendered) <= width
            # Every mark (copy-up, opaque, the fields that differ…) whole or not at all.
            for mark in change_marks(tree.index.get(path)):
                words = mark.plain
                assert words in rendered or words.split()[0] not in rendered, (path, rendered)


PARTS = LabelParts(
    Text("C conf.d/"),
    (Text("copy-up"), Text("(same bytes)"), Text("mode,mtime")),
    NodeStats(12_345, 3),
    0.25,
    show_items=True,
)


@pytest.mark.parametrize("width", [6, 12, 20, 30, 40, 50, 60, 80])
def test_fit_keeps_whole_words_at_any_width(width: int) -> None:
    line = fit(PARTS, width).plain
    assert len(line) <= width
    for mark in ("copy-up", "(same bytes)", "mode,mtime"):
        head = mark.split("(")[-1][:4]
        assert mark in line or head not in line
    if "conf.d/" not in line:
        assert "…" in line  # only the name is shortened, and it says so
    if width >= 30:
        assert "12.3 kB" in line  # the size stays while anything but the name fits
    if width >= 80:
        assert "25%" in line and "3" in line.split()[-1]  # share of the parent, entries


async def test_a_wide_terminal_stretches_the_tables(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        shown = "\n".join(screen_lines(app))
        assert "apparent" in shown and "reclaimable" in shown
        images = app.screen.query_one(ImageTable)
        tags = images.columns[ColumnKey("tags")]
        widest = max(len(str(cell)) for cell in images.get_column(ColumnKey("tags")))
        assert tags.width > widest  # more room than its cells need: the rest of the line
        total = sum(c.get_render_width(images) for c in images.columns.values())
        assert total >= images.scrollable_content_region.width - 2
    app = make_app(focus=image_tagged(captured_host, "scope/app:1"))
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        layers = app.screen.query_one(LayerTable)
        column = layers.columns[ColumnKey("created_by")]
        widest = max(len(str(cell)) for cell in layers.get_column(ColumnKey("created_by")))
        assert column.width >= widest  # the build steps whole (the table scrolls for more)
        assert (
            column.width
            >= layers.scrollable_content_region.width
            - sum(c.get_render_width(layers) for c in layers.columns.values() if c is not column)
            - 2 * layers.cell_padding
        )


def header_line(app: OverlayscopeApp, *labels: str) -> str:
    return next(line for line in screen_lines(app) if all(label in line for label in labels))


async def test_a_stretched_table_is_drawn_at_its_new_widths(make_app: AppFactory) -> None:
    # What is on screen, not only the columns' widths: the first frame after the rows
    # arrive, and after each resize, is drawn at the stretched widths (not from the rows
    # the table cached at the old ones, nor before the stretch ran).
    app = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await settle_frame(pilot)
        for width in (None, 160, 200, 120):
            if width is not None:
                await pilot.resize_terminal(width, 60)
                await settle_frame(pilot)
            for table, first, last in (
                (app.screen.query_one(ContainerTable), "container", "writable"),
                (app.screen.query_one(ImageTable), "tags", "containers"),
            ):
                line = header_line(app, first, last)
                # The last column's header ends at the table's right edge (its border and
                # padding aside): the stretching column took the room between.
                end = line.index(last, line.index(first)) + len(last)
                assert end >= table.region.right - 3, (width, line)
