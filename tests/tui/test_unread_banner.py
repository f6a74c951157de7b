"""A stack with a part that could not be read: the container and image screens name it in
a warning banner, on an 80x24 terminal (issue #15, item 4; docs/tui.md).

The app runs in a subprocess as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (as
tests/hostile/test_partial_reads.py does), on a copy of the captured root with one dir
closed (`chmod 000`): the real scan meets the real EACCES. The pilot reports what the
screen shows; the test checks it against the dir it closed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from overlayscope.names import printable
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot
from tests.hostile.cli import PYTHON, REPO, cli_env
from tests.hostile.test_partial_reads import BLIND, Copy, _blind_reason

pytestmark = pytest.mark.root

COLUMNS, LINES = 80, 24

# The pilot: open the TUI on one container or image, wait for the scan, report the banner.
_PILOT = """
import asyncio, html, json, sys
from overlayscope.root.load import load_host
from overlayscope.tui.app import build_app
from overlayscope.tui.widgets.common.unread_banner import UnreadBanner

root, kind, name, columns, lines = sys.argv[1:6]
host = load_host(root)
if kind == "container":
    focus = next(c for c in host.containers.values() if c.name == name)
else:
    focus = next(i for i in host.images.values() if name in i.tags)

async def main():
    app = build_app(lambda: (host, "partial"), focus=focus)
    async with app.run_test(size=(int(columns), int(lines))) as pilot:
        for _ in range(100):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                break
        banner = app.screen.query_one(UnreadBanner)
        region = banner.region
        text = html.unescape(app.export_screenshot()).replace("\\xa0", " ")
        print(json.dumps({
            "screen": type(app.screen).__name__,
            "shown": banner.display and banner.has_class("-shown"),
            "region": [region.x, region.y, region.width, region.height],
            "parts": [[p.host_path, p.path, p.role] for p in banner.parts],
            "says": "could not read 1 part of the layers" in text,
        }))

asyncio.run(main())
"""


def _pilot(root: Path, kind: str, name: str) -> dict[str, Any]:
    res = subprocess.run(
        [*BLIND, PYTHON, "-c", _PILOT, str(root), kind, name, str(COLUMNS), str(LINES)],
        capture_output=True,
        env=cli_env(PYTHONPATH=str(REPO)),
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(res.stdout.decode().strip().splitlines()[-1])
    return result


@pytest.fixture
def copy(captured_root: CapturedRoot, tmp_path: Path) -> Copy:
    reason = _blind_reason(tmp_path)
    if reason is not None:
        skip_or_fail(reason)
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    return Copy(root, captured_root.answers, captured_root.capture_data_root)


def _on_screen(region: list[int]) -> bool:
    x, y, width, height = region
    return height >= 2 and y >= 0 and y + height <= LINES and x + width <= COLUMNS


@pytest.mark.parametrize(
    ("kind", "closed"),
    [("container", "rw:/app/conf"), ("image", "image:/app/data/nested")],
    ids=["container-rw-dir", "image-layer-dir"],
)
def test_the_screen_names_what_could_not_be_read(copy: Copy, kind: str, closed: str) -> None:
    role, path = closed.split(":")
    layer = copy.upper("web") if role == "rw" else copy.lower_holding("web", path)
    locked = layer / path.lstrip("/")
    locked.chmod(0)
    try:
        name = "web" if kind == "container" else copy.container("web")["image_ref"]
        seen = _pilot(copy.root, kind, name)
    finally:
        locked.chmod(0o755)
    assert seen["screen"] == ("ContainerScreen" if kind == "container" else "ImageScreen")
    assert seen["shown"] and _on_screen(seen["region"]), seen
    assert seen["says"], seen
    assert seen["parts"] == [[str(locked), path, role]]
    assert printable(str(locked)) == str(locked)  # a plain path: shown as it is


def test_no_banner_when_everything_was_read(copy: Copy) -> None:
    seen = _pilot(copy.root, "container", "web")
    assert seen["screen"] == "ContainerScreen"
    assert not seen["shown"] and seen["parts"] == [] and not seen["says"]
