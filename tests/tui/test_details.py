"""What lazydocker, dive and ncdu show beside the trees: a container's config and logs (`i`,
`L`), an image layer's details, a jump to any path (`:`), the data root browsed as ncdu
does (`b`), and an image screen whose first tree is the layer its title names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import Static, TabbedContent

from overlayscope.record import replace
from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from overlayscope.snapshot import unpack
from overlayscope.tui.app import build_app
from overlayscope.tui.change_index import ChangeIndex
from overlayscope.tui.screens.container import ContainerScreen
from overlayscope.tui.screens.container_details import ContainerDetailsScreen
from overlayscope.tui.screens.image import ImageScreen
from overlayscope.tui.screens.root_browser import DirTree, RootBrowserScreen
from overlayscope.tui.widgets.common.jump_bar import JumpBar
from overlayscope.tui.widgets.files.change_tree import ChangeTree
from overlayscope.tui.widgets.files.file_panel import FilePanel, ProvenanceTable
from overlayscope.tui.widgets.files.merged_tree import MergedTree
from overlayscope.tui.widgets.image.layer_details import layer_rows
from overlayscope.union import LayerStack, changes
from tests.engine import CapturedRoot
from tests.tui.conftest import SMALL, AppFactory, container_named, image_tagged, settle

pytestmark = pytest.mark.root


def static_text(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_i_shows_the_config_the_engine_recorded(
    make_app: AppFactory, captured_host: Host, captured_root: CapturedRoot
) -> None:
    stopped = container_named(captured_host, "stopped")
    answer = next(a for a in captured_root.answers["containers"] if a["id"] == stopped.id)
    app = make_app(focus=stopped)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerDetailsScreen)
        assert screen.query_one(TabbedContent).active == "config"
        text = static_text(screen, "#config-scroll > Static")
        # The engine's own answers for this container, as the records hold them.
        assert f"created       {answer['created']}" in text
        assert f"exit code     {answer['exit_code']}" in text
        assert "image         scope/app:1" in text
        assert "restarts      0" in text
        assert "started       2026-" in text and "finished      2026-" in text
        # The command as run (its newlines escaped), every variable of the environment.
        assert "sh -c 'set -e\\necho stopped > /app/stopped.txt" in text
        assert "APP_HOME=/app" in text and "PATH=/usr/local/sbin" in text
        assert "mounts (0)" in text and "ports (0)" in text
        await pilot.press("L")  # the logs tab: the captured log is empty
        await settle(pilot)
        assert screen.query_one(TabbedContent).active == "logs"
        assert "the log is empty" in static_text(screen, "#log")
        await pilot.press("escape")
        assert isinstance(app.screen, ContainerScreen)


async def test_logs_show_the_end_of_the_json_file(
    make_app: AppFactory, captured_host: Host, tmp_path: Path
) -> None:
    log = tmp_path / "c-json.log"
    lines = [
        {
            "log": f"line {i}\n",
            "stream": "stderr" if i % 2 else "stdout",
            "time": "2026-01-02T03:04:05Z",
        }
        for i in range(3)
    ]
    lines.append({"log": "\x1b[2J[bold]boom\n", "stream": "stdout", "time": "2026-01-02T03:04:06Z"})
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    web = replace(container_named(captured_host, "web"), logs=(str(log),))
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await app.push_screen(ContainerDetailsScreen(captured_host, web, "logs"))
        await settle(pilot)
        text = static_text(app.screen, "#log")
        assert "(json-file, " in text
        assert "stdout line 0" in text and "stderr line 1" in text
        assert "\\x1b[2J[bold]boom" in text and "\x1b" not in text  # escaped, not markup


async def test_layer_details_say_the_whole_step(make_app: AppFactory, captured_host: Host) -> None:
    image = image_tagged(captured_host, "scope/app:1")
    rows = dict(layer_rows(captured_host, image, 4))
    assert str(rows["layer"]) == "L4 of 5"
    assert str(rows["created by"]) == image.layers[4].created_by.strip()
    assert str(rows["diff id"]) == image.layers[4].diff_id
    assert str(rows["created"]).startswith("2026-")  # from the image's history
    assert "shared by 3 images" in str(rows["size"])


async def test_the_first_image_screen_shows_the_layer_it_names(
    make_app: AppFactory, captured_host: Host
) -> None:
    image = image_tagged(captured_host, "scope/app:1")
    app = make_app(focus=image)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        tree = screen.query_one(ChangeTree)
        assert screen.stack is not None
        assert str(tree.border_title) == "L4 own changes"
        top = changes(LayerStack(screen.stack.layers), rule=captured_host.change_rule)
        assert set(tree.index.by_path) == {c.path for c in top}
        # Another layer's answer arriving late (the base's, queued before the cursor moved)
        # is dropped: the title and the files stay L4's.
        base = LayerStack(screen.stack.layers[-1:])
        stale = ChangeIndex(changes(base, rule=captured_host.change_rule))
        screen.post_message(ImageScreen.LayerReady(0, base, stale))
        await settle(pilot)
        assert str(tree.border_title) == "L4 own changes"
        assert set(tree.index.by_path) == {c.path for c in top}
        # While a layer is read, the title says which is shown and which is coming.
        screen.chosen_layer = 2
        screen.set_titles()
        assert str(tree.border_title) == "L4 own changes (reading L2…)"


async def test_colon_jumps_to_any_path_like_where(
    make_app: AppFactory, captured_host: Host
) -> None:
    app = make_app(focus=container_named(captured_host, "web"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContainerScreen)
        # A changed path: the change tree opens to it.
        await pilot.press("colon")
        assert isinstance(app.focused, JumpBar)
        await pilot.press("ctrl+u", *"/app/conf/app.conf", "enter")
        await settle(pilot)
        tree = screen.query_one(ChangeTree)
        assert app.focused is tree
        assert tree.cursor_node is not None and tree.cursor_node.data == "/app/conf/app.conf"
        assert screen.query_one(FilePanel).path == "/app/conf/app.conf"
        # An unchanged path: the merged view shows it, with `where`'s answer beside it.
        await pilot.press("colon", "ctrl+u", *"/bin/sh", "enter")
        await settle(pilot)
        merged = screen.query_one(MergedTree)
        assert merged.display and app.focused is merged
        assert merged.cursor_node is not None and merged.cursor_node.data == "/bin/sh"
        rows = screen.query_one(ProvenanceTable)
        assert rows.row_count >= 1 and str(rows.get_row_at(0)[2]) == "wins"
        # A path in no layer: said, and nothing moves.
        await pilot.press("colon", "ctrl+u", *"/no/such/file", "enter")
        await settle(pilot)
        assert merged.cursor_node is not None and merged.cursor_node.data == "/bin/sh"


async def test_b_browses_the_data_root_as_ncdu(
    make_app: AppFactory, captured_host: Host, captured_root: CapturedRoot
) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RootBrowserScreen)
        tree = screen.query_one(DirTree)
        root = str(captured_root.path)
        assert [t.path for t in tree.tops] == [root]
        top = tree.dirs[root]
        # Largest first, each known dir said for what it is; the rest is "other".
        children = tree.child_paths(root)
        sizes = [tree.stats(p).bytes for p in children]  # type: ignore[union-attr]
        assert sizes == sorted(sizes, reverse=True)
        # A dir's bytes: its own blocks, its dirs', its files' (the smaller ones summed).
        own = os.lstat(root).st_blocks * 512
        assert (
            top.allocated
            == own
            + sum(d.allocated for d in top.dirs.values())
            + sum(f.allocated for f in top.files)
            + top.other_allocated
        )
        layer = next(iter(captured_host.layers.values()))
        assert tree.known[layer.path]
        assert tree.find(layer.path) is not None
        await pilot.press("n")  # by name
        assert [str(n.data) for n in tree.root.children] == [root]
        names = tree.child_paths(root)
        assert names == sorted(names)
        await pilot.press("escape")
        assert not isinstance(app.screen, RootBrowserScreen)


async def test_i_shows_the_mounts_of_a_captured_podman_container() -> None:
    # The captured Podman store's containers carry the OCI spec's mounts: every one is
    # listed, destination ← source and type, at 80x24.
    root = unpack(str(Path(__file__).resolve().parents[2] / "fixtures/podman/rootful.tar.xz"))
    host = load_host(root.root)
    web = container_named(host, "web")
    assert web.mounts
    app = build_app(lambda: (host, "captured Podman store"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await app.push_screen(ContainerDetailsScreen(host, web, "config"))
        await settle(pilot)
        text = static_text(app.screen, "#config-scroll > Static")
        assert f"mounts ({len(web.mounts)})" in text
        for mount in web.mounts:
            assert f"{mount.destination} ← {mount.source}  {mount.type}" in text
        assert "ports (0)" in text and "none published" in text
