"""`/` filters (revealing what they match), dive's four change toggles, ncdu's sorts: on a
container's trees and on the overview's lists, at 80x24 as on a larger terminal."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from overlayscope.root.model import Host
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.root_browser import DirTree
from overlayscope.tui.tree_model import Show, Sort, SortKey
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from tests.tui.conftest import SIZE, SMALL, AppFactory, container_named, settle

pytestmark = pytest.mark.root


def top_level(tree: PagedTree) -> list[str]:
    return [str(node.data) for node in tree.root.children]


def visible_lines(tree: PagedTree) -> list[str]:
    """The paths on the tree's lines, as laid out (open dirs' children included)."""
    _ = tree.last_line
    return [str(line.node.data) for line in tree._tree_lines]


@pytest.mark.parametrize("size", [SMALL, SIZE])
async def test_slash_reveals_what_it_matches(
    make_app: AppFactory, captured_host: Host, size: tuple[int, int]
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=size) as pilot:
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
        # The dirs that hold the match are open, the cursor on the match itself, the
        # file panel on it, and the subtitle counts the matches.
        assert visible_lines(tree) == sorted(tree.keep)
        assert tree.cursor_node is not None and tree.cursor_node.data == "/srv/www/static/css"
        assert screen.query_one(FilePanel).path == "/srv/www/static/css"
        assert "'CSS'" in str(tree.border_subtitle) and "2 matches" in str(tree.border_subtitle)
        await pilot.press("enter")  # keep the filter; focus back in the tree
        assert app.focused is tree
        await pilot.press("slash", *"zzz-nothing", "enter")
        await settle(pilot)
        assert top_level(tree) == []
        assert "0 matches" in str(tree.border_subtitle)
        assert "nothing matches" in str(screen.query_one("#file-header", Static).render())
        assert app.focused is tree
        await pilot.press("escape")  # clears the filter (it does not leave the screen)
        await settle(pilot)
        assert app.screen is screen
        assert tree.keep is None
        assert top_level(tree) == ["/app", "/srv"]


async def test_a_match_deep_in_one_dir_is_shown_open(
    make_app: AppFactory, captured_host: Host
) -> None:
    # The captured `web` wrote /app/tmpdir/…: a filter for a name beneath must not leave a
    # single closed dir on screen (the `/pwned` → one collapsed `tmp/` of the issue).
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(ChangeTree)
        leaf = max(
            (c.path for c in tree.index.by_path.values() if c.entry == "file"),
            key=lambda p: p.count("/"),
        )
        name = leaf.rsplit("/", 1)[-1]
        await pilot.press("slash", *name, "enter")
        await settle(pilot)
        lines = visible_lines(tree)
        assert leaf in lines  # shown, its dirs open
        assert tree.cursor_node is not None
        assert tree.cursor_node.data in tree.keep  # type: ignore[operator]


async def test_change_toggles_are_independent(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        tree = screen.query_one(ChangeTree)
        index = tree.index

        def kinds_kept() -> set[str]:
            assert tree.keep is not None
            return {index.get(p).kind.value for p in tree.keep if index.get(p) is not None}  # type: ignore[union-attr]

        await pilot.press("A")  # added off
        await settle(pilot)
        assert screen.shown == frozenset({Show.REMOVED, Show.MODIFIED, Show.UNMODIFIED})
        assert "/app/docs/README" not in tree.keep  # type: ignore[operator]
        assert "/app/docs/readme.txt" in tree.keep  # type: ignore[operator]  # a D
        assert "· C D U" in str(tree.border_subtitle)
        await pilot.press("R")  # removed off too: only modified left
        await settle(pilot)
        assert kinds_kept() == {"C"}
        assert "/app/conf/app.conf" in tree.keep  # type: ignore[operator]
        await pilot.press("A")  # added back on, removed still off
        await settle(pilot)
        assert kinds_kept() == {"A", "C"}
        assert "/app/logs" not in tree.keep  # type: ignore[operator]
        await pilot.press("ctrl+r")  # dive's key for the same toggle
        await settle(pilot)
        assert tree.keep is None  # everything shown again
        assert top_level(tree) == ["/app", "/srv"]


async def test_unmodified_toggle_in_the_merged_view(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        await pilot.press("m")  # the container's whole filesystem
        await settle(pilot)
        merged = screen.query_one(MergedTree)
        assert merged.display and app.focused is merged
        assert "/bin" in top_level(merged)  # the image's, unchanged
        await pilot.press("U")  # unmodified off: only what the container changed
        await settle(pilot)
        assert merged.keep is not None
        assert "/bin" not in merged.keep
        assert {"/app/conf/app.conf", "/srv/www/static/css/site.css"} <= merged.keep
        assert "/app/docs/readme.txt" in merged.keep  # deleted: shown struck through
        assert top_level(merged) == ["/app", "/srv"]


async def test_sorts_by_size_name_count_and_back(make_app: AppFactory, captured_host: Host) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        tree = screen.query_one(ChangeTree)
        await pilot.press("s")  # by size: the 1 MB /srv first
        await settle(pilot)
        assert tree.sort == Sort(SortKey.SIZE, True)
        assert top_level(tree) == ["/srv", "/app"]
        assert "by size ↓" in str(tree.border_subtitle)
        await pilot.press("s")  # again: the smallest first
        await settle(pilot)
        assert top_level(tree) == ["/app", "/srv"]
        await pilot.press("c")  # by entries beneath: /app holds more changes
        await settle(pilot)
        assert top_level(tree) == ["/app", "/srv"]
        await pilot.press("n", "n")  # by name, then Z→A
        await settle(pilot)
        assert tree.sort == Sort(SortKey.NAME, True)
        assert top_level(tree) == ["/srv", "/app"]
        await pilot.press("t")  # by mtime: the figures are loaded in a worker first
        await settle(pilot)
        assert tree.index.newest is not None
        newest = [tree.index.stats(p).mtime_ns for p in top_level(tree)]
        assert newest == sorted(newest, reverse=True)


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


def line_of(tree: PagedTree, path: str) -> str:
    node = tree.find(path)
    assert node is not None, path
    return tree.render_label(node, tree.rich_style, tree.rich_style).plain


def by_figure(tree: PagedTree, key: str) -> list[int]:
    out = []
    for path in top_level(tree):
        stats = tree.stats(path)
        assert stats is not None, path
        out.append({"size": stats.bytes, "count": stats.items}[key])
    return out


async def test_ncdu_habits_on_the_merged_view_and_the_root_browser(
    make_app: AppFactory, captured_host: Host
) -> None:
    # The container's merged view and the data root: s and c sort largest first, the same
    # key again smallest first; every dir line has its size, share bar, % and entries.
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        merged = app.screen.query_one(MergedTree)
        for key, letter in (("size", "s"), ("count", "c")):
            await pilot.press(letter)
            await settle(pilot)
            figures = by_figure(merged, key)
            assert figures == sorted(figures, reverse=True), (key, top_level(merged))
            await pilot.press(letter)  # turned round
            await settle(pilot)
            assert by_figure(merged, key) == sorted(figures), key
        largest = max(
            (p for p in top_level(merged) if merged.expandable(p)),
            key=lambda p: merged.stats(p).bytes,  # type: ignore[union-attr]
        )
        stats = merged.stats(largest)
        assert stats is not None and stats.items > 0
        line = line_of(merged, largest)
        assert "%" in line and line.split()[-1] == f"{stats.items:,}"
        assert any(block in line for block in "█▉▊▋▌▍▎▏"), line

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        tree = app.screen.query_one(DirTree)
        root = tree.tops[0].path

        def root_figures(key: str) -> list[int]:
            stats = [tree.stats(p) for p in tree.child_paths(root)]
            return [0 if s is None else s.bytes if key == "size" else s.items for s in stats]

        for key, letter in (("size", "s"), ("count", "c")):
            if tree.sort.key.value != key:
                await pilot.press(letter)
            figures = root_figures(key)
            assert figures == sorted(figures, reverse=True), key
            await pilot.press(letter)
            assert root_figures(key) == sorted(figures), key
        await pilot.press("t")  # newest first
        newest = [tree.stats(p).mtime_ns for p in tree.child_paths(root)]  # type: ignore[union-attr]
        assert newest == sorted(newest, reverse=True)
        overlay = next(p for p in tree.child_paths(root) if p.endswith("/overlay2"))
        line = line_of(tree, overlay)
        assert "%" in line and line.split()[-1] == f"{tree.stats(overlay).items:,}"  # type: ignore[union-attr]


async def test_the_hard_link_is_marked_in_the_tree(
    make_app: AppFactory, captured_host: Host
) -> None:
    # The captured `web` ran `ln /app/bin/tool.sh /app/bin/tool-link`: its tree says so as
    # `container` does (tests/cli/test_hard_links.py), on the line of the new name, where
    # the pane is wide enough for every mark (narrower, whole marks go, the last first).
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(ChangeTree)
        await pilot.press("slash", *"tool-link", "enter")
        await settle(pilot)
        assert "/app/bin/tool-link" in visible_lines(tree)
        drawn = ["".join(seg.text for seg in tree.render_line(y)) for y in range(tree.size.height)]
        line = next(text for text in drawn if "tool-link" in text)
        assert "copy-up  [hard link: 2 names]" in line, drawn
        assert not any("hard link" in text for text in drawn if "tool-link" not in text), drawn
