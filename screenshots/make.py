"""Regenerate the SVG screenshots of every screen from the captured roots in fixtures/.

    .venv/bin/python screenshots/make.py            # as root: whiteouts and xattrs intact

Each screenshot is the real app (`build_app`, as the CLI makes it) on a captured root —
Docker overlay2 (fixtures/snapshot/), a containerd root seen as a Kubernetes node and as
Docker 29's image store (fixtures/containerd/), a Podman store (fixtures/podman/) — driven
by the same keys a user would press, at 120x40, saved with `App.save_screenshot`.
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

FIXTURES = HERE.parent / "fixtures"
from overlayscope.tui.app import build_app  # noqa: E402

SIZE = (120, 40)
SOURCE = "captured snapshot dataroot.tar.xz"


@dataclass(frozen=True)
class Shot:
    name: str
    title: str
    focus: str | None  # a container name or an image tag, or the overview
    keys: Sequence[str] = ()
    host: str = "docker"  # which captured root: a key of HOSTS


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
    Shot("k8s-node", "A Kubernetes node (containerd, namespace k8s.io)", None, host="k8s"),
    Shot(
        "k8s-container",
        "A pod's container on a Kubernetes node",
        "ovs-web-0/nginx",
        ("enter", "down", "enter", "down"),  # /etc, /etc/nginx, nginx.conf
        host="k8s",
    ),
    Shot("containerd", "A containerd root, every namespace", None, host="containerd"),
    Shot("docker29", "Docker 29's containerd image store", None, host="docker29"),
    Shot("podman", "A Podman host (containers/storage)", None, host="podman"),
    Shot(
        "podman-container",
        "podman diff, the runtime files apart",
        "web",
        ("enter",),
        host="podman",
    ),
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


async def settle(app: object) -> None:
    from textual.app import App

    assert isinstance(app, App)
    for _ in range(100):
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.05)
        if not any(w.is_running for w in app.workers):
            return


async def take(host: Host, source: str, shot: Shot, out: Path) -> None:
    app = build_app(lambda: (host, source), focus=find(host, shot.focus))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app)
        for key in shot.keys:
            await pilot.press(key)
            await settle(app)
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"{shot.name}.svg", path=str(out))
    print(out / f"{shot.name}.svg")


def main(argv: Sequence[str] = ()) -> int:
    """Every shot, or those named in `argv`."""
    loaded: dict[str, tuple[Host, str]] = {}
    for shot in SHOTS:
        if argv and shot.name not in argv:
            continue
        if shot.host not in loaded:
            loaded[shot.host] = HOSTS[shot.host]()
        host, source = loaded[shot.host]
        asyncio.run(take(host, source, shot, HERE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
