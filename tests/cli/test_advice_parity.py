"""Orphan advice is one text: the CLI's `orphans` and the TUI's overview (enter on an
orphan) say the same words and the same removal command (overlayscope/usage/advice.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from overlayscope.root.load import load_host
from overlayscope.tui.app import build_app
from overlayscope.usage.advice import orphan_advice, plural, removal_command
from tests.engine import CapturedRoot
from tests.hostile.cli import run_sub
from tests.tui.conftest import SIZE, settle

pytestmark = pytest.mark.root

ORPHAN = "ef" * 32
LINK = "QWERTYUIOPASDFGHJKLZXCVBNM"


@pytest.fixture
def orphan_root(captured_root: CapturedRoot, tmp_path: Path) -> Iterator[Path]:
    """A copy of the captured root with one orphaned layer dir (its link and l/ link)."""
    root = tmp_path / "docker"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    layer = root / "overlay2" / ORPHAN
    (layer / "diff").mkdir(parents=True)
    (layer / "diff" / "left-behind").write_text("x" * 10)
    (layer / "link").write_text(LINK)
    os.symlink(f"../{ORPHAN}/diff", root / "overlay2" / "l" / LINK)
    try:
        yield root
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_plural_counts_right() -> None:
    assert plural(1, "layer") == "1 layer"
    assert plural(0, "layer") == "0 layers"
    assert plural(2, "orphaned dir") == "2 orphaned dirs"
    assert orphan_advice(1).endswith("remove it with:")
    assert orphan_advice(3).endswith("remove them with:")


async def test_cli_and_tui_give_the_same_advice(orphan_root: Path) -> None:
    host = load_host(str(orphan_root))
    (orphan,) = host.orphans
    command = removal_command(orphan)
    assert command == (f"rm -rf -- {orphan_root}/overlay2/{ORPHAN} {orphan_root}/overlay2/l/{LINK}")
    cli = run_sub("--offline", "--root", str(orphan_root), "orphans")
    assert cli.code == 0, cli.err
    lines = cli.text.splitlines()
    assert "1 orphaned dir, 10 Bytes reclaimable." in lines
    assert lines[lines.index(orphan_advice(1)) + 1] == f"  {command}"

    said: list[str] = []
    app = build_app(lambda: (host, "test"))
    real_notify = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        said.append(message)
        real_notify(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#orphans", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("q")
    advice = [m for m in said if command in m]
    assert len(advice) == 1, said
    assert f"\n{orphan_advice(1)}\n  {command}" in advice[0]
