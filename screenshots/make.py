"""Regenerate the SVG screenshots of every screen from the captured roots in fixtures/.

    .venv/bin/python screenshots/make.py            # as root: whiteouts and xattrs intact
    .venv/bin/python screenshots/make.py image keys # only these
    .venv/bin/python screenshots/make.py --out /tmp/shots   # elsewhere (to compare runs)

Each screenshot is the real app (`build_app`, as the CLI makes it) on a captured root —
Docker overlay2 (fixtures/snapshot/), a containerd root seen as a Kubernetes node and as
Docker 29's image store (fixtures/containerd/), a Podman store (fixtures/podman/) — driven
by the keys a user would press, each step checked (the file, the layer it names) before
the next, at 120x40, exported with its title (`App.export_screenshot`) once two frames in a
row are the same, segments simplified: the same screen gives the same SVG, run after run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from overlayscope.root.load import load_host  # noqa: E402
from overlayscope.root.model import Container, Host, Image  # noqa: E402
from overlayscope.snapshot import embedded_archive, unpack  # noqa: E402

FIXTURES = HERE.parent / "fixtures"
from overlayscope.tui.app import build_app  # noqa: E402

SIZE = (120, 40)
SOURCE = "captured snapshot dataroot.tar.xz"


@dataclass(frozen=True)
class Shot:
    """One screenshot: the screen `focus` opens on, then `steps` in order. A step is a
    key as a user presses it, `L<n>` (choose layer n of an image), or a path (`/…`: the
    tree's cursor goes there, as `:` would). Each step is checked before the next one, so
    a slow worker never leaves the shot on another file than the one it names."""

    name: str
    title: str
    focus: str | None  # a container name or an image tag, or the overview
    steps: Sequence[str] = ()
    host: str = "docker"  # which captured root: a key of HOSTS


SHOTS = (
    Shot("overview", "Host overview", None),
    Shot(
        "container",
        "A container's changes, a file's provenance and content",
        "web",
        ("/app/conf/app.conf",),
    ),
    Shot(
        "container-diff",
        "A copied-up file against the version beneath",
        "stopped",
        ("/app/data/big.txt", "d"),
    ),
    Shot("container-deleted", "A whiteout", "web", ("/app/docs/readme.txt",)),
    Shot(
        "image",
        "An image's layers and one layer's own changes",
        "scope/app:1",
        ("L4", "/app/data/doomed.txt"),
    ),
    Shot(
        "image-aggregate",
        "The merged view up to a layer",
        "scope/app:1",
        ("L3", "m", "/app/data"),
    ),
    Shot("image-waste", "Wasted space", "scope/app:1", ("w",)),
    Shot("keys", "Every key (?)", "stopped", ("question_mark",)),
    Shot("container-config", "A container's config (i)", "stopped", ("i",)),
    Shot("container-filter", "A filter reveals what it matches", "web", ("slash", *"css", "enter")),
    Shot("root-browser", "The data root, as ncdu shows it (b)", None, ("b", "l")),
    Shot("k8s-node", "A Kubernetes node (containerd, namespace k8s.io)", None, host="k8s"),
    Shot(
        "k8s-container",
        "A pod's container on a Kubernetes node",
        "ovs-web-0/nginx",
        ("/etc/nginx/nginx.conf",),
        host="k8s",
    ),
    Shot("containerd", "A containerd root, every namespace", None, host="containerd"),
    Shot("docker29", "Docker 29's containerd image store", None, host="docker29"),
    Shot("podman", "A Podman host (containers/storage)", None, host="podman"),
    Shot("podman-container", "podman diff, the runtime files apart", "web", host="podman"),
)


def _unpacked(archive: Path) -> Path:
    snap = unpack(str(archive))
    if not snap.complete:
        print("warning: not root, whiteouts and xattrs are missing", file=sys.stderr)
    return Path(snap.root)


def _containerd(namespace: str | None) -> tuple[Host, str]:
    root = _unpacked(FIXTURES / "containerd" / "root.tar.xz") / "containerd"
    label = f"captured containerd root{f' (namespace {namespace})' if namespace else ''}"
    return load_host(str(root), namespace=namespace), label


def _docker29() -> tuple[Host, str]:
    base = _unpacked(FIXTURES / "containerd" / "root.tar.xz")
    host = load_host(str(base / "docker"), containerd_root=str(base / "containerd"))
    return host, "captured Docker 29 data root, with its containerd root"


def _podman() -> tuple[Host, str]:
    root = _unpacked(FIXTURES / "podman" / "rootful.tar.xz")
    return load_host(str(root)), "captured Podman store"


def _docker() -> tuple[Host, str]:
    archive = embedded_archive()
    if archive is None:
        raise SystemExit("no fixtures/snapshot/dataroot.tar.xz in this checkout")
    return load_host(str(_unpacked(Path(archive)))), SOURCE


HOSTS = {
    "docker": _docker,
    "k8s": lambda: _containerd("k8s.io"),
    "containerd": lambda: _containerd(None),
    "docker29": _docker29,
    "podman": _podman,
}


def find(host: Host, focus: str | None) -> Container | Image | None:
    if focus is None:
        return None
    for c in host.containers.values():
        if c.name == focus:
            return c
    return next(i for i in host.images.values() if focus in i.tags)


async def settle(pilot: Pilot[Any]) -> None:
    """Until no worker runs and what they posted is handled (twice in a row: a handled
    message may start another worker)."""
    app = pilot.app
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
    raise SystemExit("the app never settled")


async def still_frame(pilot: Pilot[Any], title: str) -> str:
    """The screen once two frames in a row are the same: what the last step delivered is
    laid out (a table measures new rows only when it is next idle; a frame taken before
    shows the old column widths)."""
    previous = None
    for _ in range(50):
        await settle(pilot)
        svg = pilot.app.export_screenshot(title=title, simplify=True)
        if svg == previous:
            return svg
        previous = svg
    raise SystemExit(f"{title}: the screen never stopped changing")


async def step(pilot: Pilot[Any], shot: Shot, what: str) -> None:
    """Do one step of `shot` and check it happened."""
    from overlayscope.tui.screens.image import ImageScreen
    from overlayscope.tui.screens.stack_screen import StackScreen
    from overlayscope.tui.widgets.image.layer_table import LayerTable

    screen = pilot.app.screen
    if what.startswith("L") and what[1:].isdigit() and isinstance(screen, ImageScreen):
        number = int(what[1:])
        screen.query_one(LayerTable).move_cursor(row=number)
        await settle(pilot)
        if screen.shown_layer != number:
            raise SystemExit(f"{shot.name}: the image screen shows L{screen.shown_layer}")
    elif what.startswith("/") and isinstance(screen, StackScreen):
        tree = screen.file_tree
        if not tree.show_path(what):
            raise SystemExit(f"{shot.name}: {what} is not in the tree")
        tree.focus()
        await settle(pilot)
        if screen.file_panel.path != what:
            raise SystemExit(f"{shot.name}: the file panel shows {screen.file_panel.path}")
    else:
        await pilot.press(what)
        await settle(pilot)


async def take(host: Host, source: str, shot: Shot, out: Path) -> Path:
    app = build_app(lambda: (host, source), focus=find(host, shot.focus))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for what in shot.steps:
            await step(pilot, shot, what)
        svg = await still_frame(pilot, f"overlayscope — {shot.title}")
    path = out / f"{shot.name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def main(argv: Sequence[str] = ()) -> int:
    """Every shot, or those named in `argv`."""
    parser = argparse.ArgumentParser(
        prog="screenshots/make.py",
        description="Regenerate the TUI's SVG screenshots from the captured roots in fixtures/.",
        epilog="shots: " + ", ".join(shot.name for shot in SHOTS),
    )
    parser.add_argument("names", nargs="*", metavar="SHOT", help="only these (default: all)")
    parser.add_argument(
        "--out", type=Path, default=HERE, help="directory to write to (default: screenshots/)"
    )
    args = parser.parse_args(list(argv))
    unknown = sorted(set(args.names) - {shot.name for shot in SHOTS})
    if unknown:
        parser.error(f"no such shot: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    loaded: dict[str, tuple[Host, str]] = {}
    for shot in SHOTS:
        if args.names and shot.name not in args.names:
            continue
        if shot.host not in loaded:
            loaded[shot.host] = HOSTS[shot.host]()
        host, source = loaded[shot.host]
        print(asyncio.run(take(host, source, shot, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
