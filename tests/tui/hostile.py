"""A tiny data root whose names and contents try to attack the terminal and the TUI's markup.

Real directories and files (so the real scanner and the real safe readers
run), assembled into a `Host` by hand: one image layer, an init layer and a
container's rw layer holding files named with ESC, Rich markup, a Textual
action link and a newline.
"""

from __future__ import annotations

import os
from pathlib import Path

from overlayscope.root.model import Container, Host, Image, ImageLayer, Layer, Role

ESC_NAME = "esc\x1b[31mred"
BOLD_NAME = "[bold]loud"
CLICK_NAME = "[@click=app.quit]x"
NEWLINE_NAME = "new\nline"
HOSTILE_NAMES = (ESC_NAME, BOLD_NAME, CLICK_NAME, NEWLINE_NAME)
# Clears the screen, sets the window title, rings the bell, and tries markup.
HOSTILE_CONTENT = b"title\x1b]0;pwned\x07 clear\x1b[2J [bold]x[/bold] [@click=app.quit]q[/]\n"

IMAGE_LAYER, INIT_LAYER, RW_LAYER = "a" * 64, "b" * 64 + "-init", "b" * 64
CONTAINER_ID, IMAGE_ID = "c" * 64, "sha256:" + "d" * 64


def _layer(root: Path, lid: str, role: Role, lower: tuple[str, ...], **kw: object) -> Layer:
    path = root / "overlay2" / lid
    (path / "diff").mkdir(parents=True)
    return Layer(
        id=lid,
        path=str(path),
        content_dir=str(path / "diff"),
        link=None,
        lower=lower,
        role=role,
        **kw,  # type: ignore[arg-type]
    )


def hostile_host(root: Path) -> tuple[Host, Container, Image]:
    """Write the layers under `root` and return the host, its container and its image."""
    image_layer = _layer(
        root, IMAGE_LAYER, Role.IMAGE, (), images=(IMAGE_ID,), recorded_size=len(HOSTILE_CONTENT)
    )
    init = _layer(root, INIT_LAYER, Role.INIT, (IMAGE_LAYER,), container=CONTAINER_ID)
    rw = _layer(root, RW_LAYER, Role.RW, (INIT_LAYER, IMAGE_LAYER), container=CONTAINER_ID)
    base = Path(image_layer.content_dir) / "srv"
    base.mkdir()
    (base / BOLD_NAME).write_bytes(b"old\n")
    upper = Path(rw.content_dir) / "srv"
    upper.mkdir()
    for name in HOSTILE_NAMES:
        (upper / name).write_bytes(HOSTILE_CONTENT)
    os.symlink("/" + CLICK_NAME, upper / "link")
    image = Image(
        id=IMAGE_ID,
        tags=("evil/[@click=app.quit]:1",),
        digests=(),
        dangling=False,
        intermediate=False,
        parent=None,
        created=None,
        layers=(
            ImageLayer(
                id=IMAGE_LAYER,
                chain_id="sha256:" + "e" * 64,
                diff_id="sha256:" + "f" * 64,
                size=4,
                created_by="/bin/sh -c [@click=app.quit] echo \x1b[2J[bold]boom",
            ),
        ),
        containers=(CONTAINER_ID,),
    )
    container = Container(
        id=CONTAINER_ID,
        name="[red]evil\x1b[0m",
        image_id=IMAGE_ID,
        state="exited",
        created=None,
        started_at=None,
        finished_at=None,
        layer=RW_LAYER,
        init_layer=INIT_LAYER,
        image_chain_id="sha256:" + "e" * 64,
        image_layers=(IMAGE_LAYER,),
        log_path=None,
        path=str(root / "containers" / CONTAINER_ID),
    )
    host = Host(
        root=str(root),
        driver="overlay2",
        layers={layer.id: layer for layer in (image_layer, init, rw)},
        images={IMAGE_ID: image},
        containers={CONTAINER_ID: container},
    )
    return host, container, image
