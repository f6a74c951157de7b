"""Inventory commands: containers, images, layers, orphans, check."""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from rich.console import Console
from rich.text import Text

from overlayscope.cli import shapes
from overlayscope.cli.context import Context
from overlayscope.cli.output import safe, short, size, stdout_console, table, write_json
from overlayscope.cli.progress import scan_progress
from overlayscope.errors import ExitCode
from overlayscope.names import printable
from overlayscope.root.model import Host, Role
from overlayscope.usage.images import image_sizes
from overlayscope.usage.sizes import measure_layers


def register(sub: Any) -> None:
    """Add the inventory commands to the argparse sub-parsers."""
    for name, func, help_ in (
        ("containers", cmd_containers, "containers with their writable layer and its size"),
        ("images", cmd_images, "images with their layers, shared and unique size"),
        ("layers", cmd_layers, "every layer dir with its role, owners and size"),
        ("orphans", cmd_orphans, "layer dirs nothing references (reclaimable)"),
        ("check", cmd_check, "problems in the store's records; exit 1 when there is any"),
    ):
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        p.set_defaults(func=func)


def _measure(host: Host, ids: list[str]) -> dict[str, int]:
    with scan_progress("measuring layers") as progress:
        return measure_layers(host, ids, progress=progress)


def cmd_containers(ctx: Context) -> int:
    host = ctx.host()
    containers = sorted(host.containers.values(), key=lambda c: (c.name, c.id))
    sizes = _measure(host, [c.layer for c in containers if c.layer])
    if ctx.json:
        write_json(
            [shapes.container(c, sizes.get(c.layer) if c.layer else None) for c in containers]
        )
        return ExitCode.OK
    tags = {i.key: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    rows: list[tuple[Text | str, ...]] = [
        (
            *_ns(host, c.namespace),
            short(c.id),
            safe(c.name),
            _state(c.state),
            safe(tags.get(c.image_key, short(c.image_id) if c.image_id else c.image_ref or "")),
            short(c.layer),
            size(sizes.get(c.layer) if c.layer else None),
        )
        for c in containers
    ]
    console = stdout_console()
    console.print(
        table(
            None,
            [*_ns_header(host), "container", "name", "state", "image", "layer", "size"],
            rows,
            right=["size"],
            flexible=["name", "image"],
        )
    )
    return ExitCode.OK


def _ns(host: Host, namespace: str | None) -> tuple[Text, ...]:
    """The namespace cell, on hosts whose objects live in several namespaces."""
    return (safe(namespace or ""),) if len(host.namespaces) > 1 else ()


def _ns_header(host: Host) -> list[str]:
    return ["namespace"] if len(host.namespaces) > 1 else []


def layer_order(layer_id: str) -> tuple[int, int, str]:
    """Numbered layer dirs (containerd's snapshots) in number order, before named ones."""
    return (0, int(layer_id), "") if layer_id.isdigit() else (1, 0, layer_id)


def _state(state: str) -> Text:
    colour = {"running": "green", "exited": "yellow", "dead": "red", "created": "cyan"}
    return Text(state, style=colour.get(state, ""))


def cmd_images(ctx: Context) -> int:
    host = ctx.host()
    sizes = image_sizes(host)
    images = sorted(
        host.images.values(),
        key=lambda i: (i.intermediate, not i.tags, i.namespace or "", i.tags, i.id),
    )
    if ctx.json:
        write_json([shapes.image(host, i, sizes[i.key]) for i in images])
        return ExitCode.OK
    rows: list[tuple[Text | str, ...]] = []
    for i in images:
        label = ", ".join(i.tags) or ("<intermediate>" if i.intermediate else "<none>")
        s = sizes[i.key]
        rows.append(
            (
                *_ns(host, i.namespace),
                short(i.id),
                safe(label),
                str(len(i.layers)),
                size(s.size),
                size(s.shared),
                size(s.unique),
                str(len(i.containers)),
            )
        )
    stdout_console().print(
        table(
            None,
            [
                *_ns_header(host),
                "image",
                "tags",
                "layers",
                "size",
                "shared",
                "unique",
                "containers",
            ],
            rows,
            right=["layers", "size", "shared", "unique", "containers"],
            flexible=["tags"],
        )
    )
    return ExitCode.OK


def cmd_layers(ctx: Context) -> int:
    host = ctx.host()
    layers = sorted(
        host.layers.values(), key=lambda layer: (str(layer.role), layer_order(layer.id))
    )
    sizes = _measure(host, [layer.id for layer in layers])
    if ctx.json:
        write_json([shapes.layer(host, layer, sizes.get(layer.id)) for layer in layers])
        return ExitCode.OK
    names = {c.key: c.name for c in host.containers.values()}
    tags = {i.key: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    rows = []
    for layer in layers:
        if layer.role is Role.IMAGE:
            owner = ", ".join(tags.get(i, short(i.rpartition("/")[2])) for i in layer.images[:3])
            owner += " …" if len(layer.images) > 3 else ""
        else:
            owner = names.get(layer.container or "", short(layer.container))
        rows.append(
            (
                short(layer.id),
                str(layer.role),
                safe(owner),
                str(len(layer.lower)),
                size(sizes.get(layer.id)),
                Text(str(len(layer.problems) or ""), style="red"),
            )
        )
    stdout_console().print(
        table(
            None,
            ["layer", "role", "owners", "lower", "size", "problems"],
            rows,
            right=["lower", "size", "problems"],
            flexible=["owners"],
        )
    )
    return ExitCode.OK


def cmd_orphans(ctx: Context) -> int:
    host = ctx.host()
    orphans = sorted(host.orphans, key=lambda layer: layer_order(layer.id))
    sizes = _measure(host, [o.id for o in orphans])
    if ctx.json:
        write_json([shapes.orphan(o, sizes.get(o.id)) for o in orphans])
        return ExitCode.OK
    console = stdout_console()
    if orphans:
        rows = [(safe(o.id), safe(o.path), size(sizes.get(o.id))) for o in orphans]
        console.print(
            table(None, ["layer", "path", "size"], rows, right=["size"], flexible=["path"])
        )
        total = sum(sizes.get(o.id, 0) for o in orphans)
        console.print(f"\n{_count(len(orphans), 'orphaned dir')}, {size(total)} reclaimable.")
        console.print(
            "overlayscope deletes nothing. Once no pull or build is running (a layer being "
            "written has no record yet), an operator could remove them with:"
        )
        for o in orphans:
            line = f"  rm -rf -- {shell_word(o.path)}"
            if o.link_path:
                line += f" {shell_word(o.link_path)}"
            console.print(Text(line))
    else:
        console.print("No orphaned layer dirs.")
    _unresolved(console, host)
    _collectable(console, host)
    return ExitCode.OK


def _unresolved(console: Console, host: Host) -> None:
    """Dirs no readable record names, that may still be in use: listed with the reason,
    and no removal command. When the records are damaged, the orphan list is partial."""
    unresolved = sorted(
        (lay for lay in host.layers.values() if lay.role is Role.UNRESOLVED),
        key=lambda lay: layer_order(lay.id),
    )
    if not unresolved:
        return
    console.print()
    console.print(
        Text(
            f"{_count(len(unresolved), 'layer dir')} no readable record names, maybe in use: "
            "not orphans, nothing to remove. `overlayscope check` shows the damage; the orphan "
            "list above is withheld for these.",
            style="yellow",
        )
    )
    rows = [(safe(lay.id), safe(lay.unresolved or "")) for lay in unresolved]
    console.print(table(None, ["layer", "why"], rows, flexible=["why"]))


def _collectable(console: Console, host: Host) -> None:
    """Layers and blobs that are no orphans (records name them) but that the store's own
    garbage collection would remove: nothing it keeps references them."""
    layers = [lay for lay in host.layers.values() if lay.collectable]
    blobs = [b for b in host.blobs.values() if b.collectable]
    if not layers and not blobs:
        return
    console.print()
    console.print(
        f"Not orphans, but nothing the store keeps references them: {_count(len(layers), 'layer')}"
        f" and {_count(len(blobs), 'blob')} its garbage collection would remove."
    )
    if host.collect_hint:
        console.print(Text(host.collect_hint, style="dim"))
    rows: list[tuple[Text | str, ...]] = [
        (
            f"{lay.role} layer",
            safe(lay.namespace or ""),
            safe(lay.id + (f"  (key {lay.key})" if lay.key else "")),
        )
        for lay in sorted(layers, key=lambda lay: layer_order(lay.id))
    ]
    rows += [("blob", safe(", ".join(b.namespaces) or "none"), safe(b.digest)) for b in blobs]
    console.print(table(None, ["what", "namespace", "id"], rows, flexible=["id"]))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def shell_word(path: str) -> str:
    """`path` quoted for a POSIX shell, and safe to print: a name with control characters,
    undecodable bytes or invisible characters becomes bash's $'...' with \\xNN escapes,
    which names the same bytes and shows nothing raw."""
    if printable(path) == path:
        return shlex.quote(path)
    out = []
    for byte in os.fsencode(path):
        ch = chr(byte)
        if byte < 0x80 and ch.isprintable() and ch not in "'\\":
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def cmd_check(ctx: Context) -> int:
    host = ctx.host()
    problems = host.problems
    if ctx.json:
        write_json(
            {
                "ok": not problems,
                "store": str(host.store),
                "problems": [shapes.problem(p) for p in problems],
            }
        )
    else:
        console = stdout_console()
        if not problems:
            console.print(safe(f"OK: no problems in {host.root}", style="green"))
        else:
            rows = [
                (Text(str(p.kind), style="red"), safe(p.path), safe(p.detail)) for p in problems
            ]
            console.print(
                table(
                    f"{len(problems)} problem(s) in {host.root}",
                    ["kind", "path", "detail"],
                    rows,
                    flexible=["path", "detail"],
                )
            )
    return ExitCode.FINDINGS if problems else ExitCode.OK
