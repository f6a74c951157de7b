"""The overview's lists: containers, images and orphaned (or unresolved) layer dirs, one row
each."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from overlayscope.names import plural, printable
from overlayscope.root.model import Container, Host, Image, Layer
from overlayscope.tui.text import safe, short_id, size_text
from overlayscope.tui.widgets.common.keyed import KeyedTable
from overlayscope.usage.images import image_sizes

STATE_STYLE = {"running": "bold green", "exited": "yellow", "created": "dim", "dead": "red"}


def _matches(needle: str, *values: str) -> bool:
    if not needle:
        return True
    folded = needle.casefold()
    return any(folded in v.casefold() or folded in printable(v).casefold() for v in values)


def image_label(image: Image) -> str:
    if image.tags:
        return ", ".join(image.tags)
    return "<intermediate>" if image.intermediate else "<none>"


class HostTable(KeyedTable):
    """A row per object; `key` of each row is the object's id."""

    DEFAULT_CSS = """
    HostTable { height: auto; max-height: 16; }
    HostTable:focus { border-left: outer $accent; }
    """
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    def filled(self) -> None:
        """After the rows change: the stretching column takes the room left."""
        self.stretch()


class ContainerTable(HostTable):
    STRETCH = "image"
    COLUMNS = (
        ("container", "id"),
        ("name", "name"),
        ("state", "state"),
        ("image", "image"),
        ("writable", "writable"),
    )

    def show(self, host: Host, sizes: dict[str, int] | None, needle: str = "") -> None:
        """Fill the rows; `sizes` (rw layer id → bytes) is None while they are measured."""
        self.clear()
        tags = {i.key: (i.tags[0] if i.tags else short_id(i.id)) for i in host.images.values()}
        for c in sorted(host.containers.values(), key=lambda c: (c.name, c.id)):
            image = tags.get(c.image_key, short_id(c.image_id))
            if not _matches(needle, c.id, c.name, image, c.state, c.namespace or ""):
                continue
            self.add_row(
                Text(short_id(c.id)),
                namespaced(host, c.namespace, safe(c.name)),
                safe(c.state, style=STATE_STYLE.get(c.state, "")),
                safe(image),
                self.writable(c, sizes),
                key=c.key,
            )
        self.filled()

    @staticmethod
    def writable(c: Container, sizes: dict[str, int] | None) -> Text:
        if c.layer is None:
            return Text("no rw layer", style="red", justify="right")
        if sizes is None:
            return Text("…", style="dim", justify="right")
        return size_text(sizes.get(c.layer))


class ImageTable(HostTable):
    STRETCH = "tags"
    COLUMNS = (
        ("image", "id"),
        ("tags", "tags"),
        ("layers", "layers"),
        ("size", "size"),
        ("shared", "shared"),
        ("unique", "unique"),
        ("containers", "containers"),
    )

    def show(self, host: Host, needle: str = "") -> None:
        self.clear()
        sizes = image_sizes(host)
        order = sorted(
            host.images.values(),
            key=lambda i: (i.intermediate, not i.tags, i.namespace or "", i.tags, i.id),
        )
        for i in order:
            label = image_label(i)
            if not _matches(needle, i.id.removeprefix("sha256:"), label, i.namespace or ""):
                continue
            s = sizes[i.key]
            style = "dim" if i.intermediate else ""
            self.add_row(
                Text(short_id(i.id), style=style),
                namespaced(host, i.namespace, safe(label, style=style)),
                Text(str(len(i.layers)), justify="right"),
                size_text(s.size),
                size_text(s.shared),
                size_text(s.unique, style="bold"),
                Text(str(len(i.containers)) if i.containers else "", justify="right"),
                key=i.key,
            )
        self.filled()


def namespaced(host: Host, namespace: str | None, label: Text) -> Text:
    """`label`, after its namespace on a host whose objects live in several."""
    if not namespace or len(host.namespaces) < 2:
        return label
    out = Text()
    out.append_text(safe(namespace + "/", style="dim"))
    return out.append_text(label)


class OrphanTable(HostTable):
    STRETCH = "notes"
    COLUMNS = (("layer dir", "id"), ("size", "size"), ("content", "diff"), ("notes", "notes"))

    def show(self, host: Host, sizes: dict[str, int] | None, needle: str = "") -> None:
        self.clear()
        for layer in sorted(host.orphans, key=lambda layer: layer.id) + sorted(
            host.unresolved, key=lambda layer: layer.id
        ):
            if not _matches(needle, layer.id):
                continue
            self.add_row(
                safe(layer.id[:26]),
                Text("…", style="dim", justify="right")
                if sizes is None
                else size_text(sizes.get(layer.id)),
                Text("yes" if layer.has_content else "missing"),
                self.notes(layer),
                key=layer.id,
            )
        self.filled()

    @staticmethod
    def notes(layer: Layer) -> Text:
        parts = []
        if layer.unresolved is not None:
            parts.append("unresolved: may be in use")
        if layer.merged:
            parts.append("mounted")
        if layer.problems:
            parts.append(plural(len(layer.problems), "problem"))
        style = "red" if layer.problems else "yellow" if layer.unresolved is not None else ""
        return Text(", ".join(parts), style=style)
