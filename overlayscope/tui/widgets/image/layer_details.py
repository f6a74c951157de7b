"""dive's layer details: the chosen layer's whole build step, its digests, size and times."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from overlayscope.root.model import Host, Image
from overlayscope.tui.text import safe, size


def layer_created(image: Image, number: int) -> str | None:
    """When layer `number`'s build step ran: the `created` of the history step that made
    it (steps that made no layer skipped, as `created_by` is matched)."""
    layer = image.layers[number]
    if layer.created:
        return layer.created
    steps = [h for h in image.history if not h.empty_layer]
    return steps[number].created if number < len(steps) else None


def layer_rows(host: Host, image: Image, number: int) -> list[tuple[str, Text]]:
    """(label, value) of everything known of layer `number` (from the base) of `image`;
    every value from the evidence escaped."""
    layer = image.layers[number]
    record = host.layers.get(layer.id) if layer.id else None
    step = layer.created_by.strip()
    sharing = len(record.images) if record is not None else 0
    size_text = Text(size(layer.size))
    if sharing > 1:
        size_text.append(f", shared by {sharing} images", style="dim")
    created = layer_created(image, number)
    rows: list[tuple[str, Text]] = [
        ("layer", Text(f"L{number} of {len(image.layers)}", style="bold")),
        ("created by", safe(step) if step else Text("(no history)", style="dim")),
        (
            "created",
            safe(created) if created else Text("unknown (no history)", style="dim"),
        ),
        ("size", size_text),
        ("diff id", safe(layer.diff_id or "-")),
        ("chain id", safe(layer.chain_id or "-")),
        ("layer dir", safe(layer.id) if layer.id else Text("missing", style="red")),
    ]
    if image.created:
        rows.append(("image made", safe(image.created, style="dim")))
    return rows


def layer_details(host: Host, image: Image, number: int) -> Table:
    """The rows as a two-column grid: a long value (a build step, a digest) wraps within
    its column, never cut, its label kept beside it."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in layer_rows(host, image, number):
        value.no_wrap = False  # evidence text is built unwrapped: here it wraps
        value.overflow = "fold"
        grid.add_row(label, value)
    return grid


class LayerDetails(Static):
    DEFAULT_CSS = """
    LayerDetails { width: 1fr; height: auto; padding: 0 1; }
    """

    def show_layer(self, host: Host, image: Image, number: int | None) -> None:
        if number is None or not 0 <= number < len(image.layers):
            self.update(Text("choose a layer", style="dim"))
            return
        self.update(layer_details(host, image, number))
