"""Snapshots of each screen on the captured snapshot, at a fixed size.

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and look
at the SVGs in tests/tui/__snapshots__/ before committing them. The disk-usage
bars show allocated bytes, which depend on the filesystem the fixture is
unpacked on (ext4 here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from overlayscope.root.model import Host
from tests.tui.conftest import (
    SIZE,
    AppFactory,
    container_named,
    image_tagged,
    settle,
    settle_frame,
)

pytestmark = pytest.mark.root

SnapCompare = Callable[..., bool]


def test_overview(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle_frame)


def test_container_file_and_provenance(
    snap_compare: SnapCompare, make_app: AppFactory, captured_host: Host
) -> None:
    async def open_app_conf(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")  # expand /app
        await pilot.press("down", "down")  # /app/conf
        await pilot.press("enter", "down")  # expand it, onto /app/conf/app.conf
        await settle_frame(pilot)

    app = make_app(focus=container_named(captured_host, "web"))
    assert snap_compare(app, terminal_size=SIZE, run_before=open_app_conf)


def test_container_diff(
    snap_compare: SnapCompare, make_app: AppFactory, captured_host: Host
) -> None:
    async def diff_big_txt(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter", "down", "enter", "down", "d")  # /app/data/big.txt, diff
        await settle_frame(pilot)

    app = make_app(focus=container_named(captured_host, "stopped"))
    assert snap_compare(app, terminal_size=SIZE, run_before=diff_big_txt)


def test_image_layers(snap_compare: SnapCompare, make_app: AppFactory, captured_host: Host) -> None:
    async def open_l4(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")  # L4: into its own changes
        await pilot.press("enter", "down")  # expand /app, onto /app/cache
        await settle_frame(pilot)

    app = make_app(focus=image_tagged(captured_host, "scope/app:1"))
    assert snap_compare(app, terminal_size=SIZE, run_before=open_l4)


def test_keys(snap_compare: SnapCompare, make_app: AppFactory, captured_host: Host) -> None:
    async def keys(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle_frame(pilot)

    app = make_app(focus=container_named(captured_host, "stopped"))
    assert snap_compare(app, terminal_size=SIZE, run_before=keys)
