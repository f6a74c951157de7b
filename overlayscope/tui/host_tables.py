"""Tables of the host overview: containers and images. Evidence is shown as plain Text."""

from __future__ import annotations

import humanize
from rich.text import Text
from textual.widgets import DataTable

from overlayscope.names import printable
from overlayscope.root.model import Host
from overlayscope.usage.images import image_sizes


def _size(n: int | None) -> str:
    return "?" if n is None else humanize.naturalsize(n, format="%.1f")


def _short(id_: str | None) -> str:
    return (id_ or "-").removeprefix("sha256:")[:12]


def summary_text(host: Host, source: str) -> Text:
    text = Text()
    text.append("data root  ", style="bold")
    text.append(printable(source) + "\n")
    text.append("driver     ", style="bold")
    text.append(f"{host.driver}   {len(host.layers)} layers, {len(host.orphans)} orphaned\n")
    text.append("problems   ", style="bold")
    count = len(host.problems)
    text.append(str(count), style="red" if count else "green")
    return text


class ContainerTable(DataTable[Text]):
    def show(self, host: Host, sizes: dict[str, int]) -> None:
        self.cursor_type = "row"
        self.add_columns("container", "name", "state", "image", "writable")
        tags = {i.id: (i.tags[0] if i.tags else _short(i.id)) for i in host.images.values()}
        for c in sorted(host.containers.values(), key=lambda c: c.name):
            self.add_row(
                Text(_short(c.id)),
                Text(printable(c.name)),
                Text(c.state),
                Text(printable(tags.get(c.image_id, _short(c.image_id)))),
                Text(_size(sizes.get(c.layer) if c.layer else None), justify="right"),
                key=c.id,
            )


class ImageTable(DataTable[Text]):
    def show(self, host: Host) -> None:
        self.cursor_type = "row"
        self.add_columns("image", "tags", "layers", "size", "shared", "unique")
        sizes = image_sizes(host)
        for i in sorted(host.images.values(), key=lambda i: (i.intermediate, not i.tags, i.tags)):
            s = sizes[i.id]
            label = ", ".join(i.tags) or ("<intermediate>" if i.intermediate else "<none>")
            self.add_row(
                Text(_short(i.id)),
                Text(printable(label)),
                Text(str(len(i.layers)), justify="right"),
                Text(_size(s.size), justify="right"),
                Text(_size(s.shared), justify="right"),
                Text(_size(s.unique), justify="right"),
                key=i.id,
            )
