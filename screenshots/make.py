"""Regenerate the SVG screenshots of every screen from the embedded captured snapshot.

    .venv/bin/python screenshots/make.py            # as root: whiteouts and xattrs intact

Each screenshot is the real app (`build_app`, as the CLI makes it) on the data
root in fixtures/snapshot/, driven by the same keys a user would press, at
120x40, saved with `App.save_screenshot`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from overlayscope.root.load import load_host  # noqa: E402
from overlayscope.root.model import Container, Host, Image  # noqa: E402
from overlayscope.snapshot import embedded_archive, unpack  # noqa: E402
from overlayscope.tui.app import build_app  # noqa: E402

SIZE = (120, 40)
SOURCE = "captured snapshot dataroot.tar.xz"


@dataclass(frozen=True)
class Shot:
    name: str
    title: str
    focus: str | None  # a container name or an image tag, or the overview
    keys: Sequence[str] = ()


SHOTS = (
    Shot("overview", "Host overview", None),
    Shot(
        "container",
        "A container's changes, a file's provenance and content",
        "web",
        ("enter", "down", "down", "enter", "down"),  # /app, /app/conf, /app/conf/app.conf
    ),
    Shot(
        "container-diff",
        "A copied-up file against the version beneath",
        "stopped",
        ("enter", "down", "enter", "down", "d"),  # /app/data/big.txt, diff
    ),
    Shot(
        "container-deleted",
        "A whiteout",
        "web",
        ("enter", "down", "down", "down", "enter", "down", "down"),
    ),
    Shot(
        "image",
        "An image's layers and one layer's own changes",
        "scope/app:1",
        ("enter", "enter", "down"),
    ),
    Shot(
        "image-aggregate",
        "The merged view up to a layer",
        "scope/app:1",
        ("up", "m", "enter", "enter"),
    ),
    Shot("image-waste", "Wasted space", "scope/app:1", ("w",)),
    Shot("keys", "Every key (?)", "stopped", ("question_mark",)),
)


def find(host: Host, focus: str | None) -> Container | Image | None:
    if focus is None:
        return None
    for c in host.containers.values():
        if c.name == focus:
            return c
    return next(i for i in host.images.values() if focus in i.tags)


async def settle(app: object) -> None:
    from textual.app import App

    assert isinstance(app, App)
    for _ in range(100):
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.05)
        if not any(w.is_running for w in app.workers):
            return


async def take(host: Host, shot: Shot, out: Path) -> None:
    app = build_app(lambda: (host, SOURCE), focus=find(host, shot.focus))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app)
        for key in shot.keys:
            await pilot.press(key)
            await settle(app)
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"{shot.name}.svg", path=str(out))
    print(out / f"{shot.name}.svg")


def main() -> int:
    archive = embedded_archive()
    if archive is None:
        print("no fixtures/snapshot/dataroot.tar.xz in this checkout", file=sys.stderr)
        return 1
    snap = unpack(archive)
    if not snap.complete:
        print("warning: not root, whiteouts and xattrs are missing", file=sys.stderr)
    host = load_host(snap.root)
    for shot in SHOTS:
        asyncio.run(take(host, shot, HERE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
