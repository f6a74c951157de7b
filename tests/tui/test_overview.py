"""The host overview lists the captured snapshot's containers and images, read from disk."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from overlayscope.root.load import load_host
from overlayscope.tui.app import build_app
from tests.engine import CapturedRoot

pytestmark = pytest.mark.root


async def test_overview_lists_containers_and_images(captured_root: CapturedRoot) -> None:
    host = load_host(str(captured_root.path))
    app = build_app(lambda: (host, "captured snapshot"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        containers = app.query_one("#containers", DataTable)
        images = app.query_one("#images", DataTable)
        assert {str(k.value) for k in containers.rows} == set(host.containers)
        assert {str(k.value) for k in images.rows} == set(host.images)
        names = {str(containers.get_row(c.id)[1]) for c in host.containers.values()}
        assert names == {a["name"] for a in captured_root.answers["containers"]}
        await pilot.press("q")
    assert app.return_code == 0


async def test_load_error_is_shown_not_raised() -> None:
    from overlayscope.errors import NotADataRoot

    def fail() -> tuple[object, str]:
        raise NotADataRoot("/nowhere is not a Docker data root", hint="pass --root")

    app = build_app(fail)  # type: ignore[arg-type]
    async with app.run_test(size=(100, 20)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.query_one("#error").render())
        assert "/nowhere is not a Docker data root" in text
        assert "pass --root" in text
