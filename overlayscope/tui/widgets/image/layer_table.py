"""An image's layers from the base up: id, size, how many images share it, the build step."""

from __future__ import annotations

from rich.text import Text

from overlayscope.root.model import Host, Image
from overlayscope.tui.text import safe, short_id, size_text
from overlayscope.tui.widgets.common.keyed import KeyedTable


def created_by(step: str) -> Text:
    """The history line, shortened the way `docker history` does, and escaped."""
    step = step.strip()
    for prefix in ("/bin/sh -c #(nop) ", "/bin/sh -c "):
        if step.startswith(prefix):
            step = step[len(prefix) :]
            if prefix == "/bin/sh -c ":
                step = "RUN " + step
            break
    return safe(" ".join(step.split()) or "(no history)", style="" if step else "dim")


class LayerTable(KeyedTable):
    """Row keys are layer numbers from the base, "0" being the base layer."""

    STRETCH = "created_by"

    DEFAULT_CSS = """
    LayerTable { height: auto; max-height: 10; }
    LayerTable:focus { border-left: outer $accent; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("#", key="n")
        self.add_column("layer", key="id")
        self.add_column("size", key="size")
        self.add_column("images", key="images")
        self.add_column("created by", key="created_by")

    def show(self, host: Host, image: Image) -> None:
        self.clear()
        for n, layer in enumerate(image.layers):
            record = host.layers.get(layer.id) if layer.id else None
            sharing = len(record.images) if record is not None else 0
            self.add_row(
                Text(f"L{n}"),
                Text(short_id(layer.id), style="" if layer.id else "red"),
                size_text(layer.size),
                Text(str(sharing) if sharing > 1 else "", justify="right"),
                created_by(layer.created_by),
                key=str(n),
            )
        self.stretch()
