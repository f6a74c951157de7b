"""Inventory commands: containers, images, layers, orphans, check."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from overlayscope.cli import shapes
from overlayscope.cli.ansi import write_line
from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import exit_code, unread_json, warn_unread
from overlayscope.cli.plain import short, size, write_json
from overlayscope.cli.progress import scan_progress
from overlayscope.cli.text_table import (
    Cell,
    Styled,
    cell,
    columns_option,
    pick,
    table,
    write_table,
)
from overlayscope.errors import ExitCode
from overlayscope.names import plural, printable
from overlayscope.root.model import Container, Host, Role, Store
from overlayscope.union.unread import UnreadPart
from overlayscope.usage.advice import (
    orphan_advice,
    removal_command,
    unresolved_advice,
)
from overlayscope.usage.advice import shell_word as shell_word  # where tests import it
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
        if name in COLUMNS:  # the table commands: --columns, as `docker ps --format` picks
            columns_option(p, COLUMNS[name])
        if name == "images":
            p.add_argument(
                "--all",
                action="store_true",
                help="intermediate images too (a classic build's steps), as `docker images -a`",
            )


# Every column a table command can show (--columns), in the default order; `namespace`
# shows by default only on hosts with several.
COLUMNS: dict[str, tuple[str, ...]] = {
    "containers": (
        "namespace", "container", "name", "state", "image", "layer", "size", "virtual",
    ),
    "images": (
        "namespace", "image", "tags", "layers", "size", "shared", "unique", "containers",
    ),
    "layers": ("layer", "role", "owners", "lower", "size", "problems"),
    "orphans": ("layer", "path", "size"),
}  # fmt: skip


def _shown(ctx: Context, host: Host, command: str) -> list[str]:
    """The columns to show: --columns, else every one (namespace only where there are
    several)."""
    wanted: list[str] | None = getattr(ctx.args, "columns", None)
    if wanted:
        return wanted
    every = COLUMNS[command]
    return [c for c in every if c != "namespace" or len(host.namespaces) > 1]


def _measure(host: Host, ids: list[str]) -> tuple[dict[str, int], dict[str, list[UnreadPart]]]:
    """Sizes as the engine counts them; a layer with a part that could not be read has
    none (unknown, not short): warned on stderr (the documents are arrays), and exit 4."""
    unread: dict[str, list[UnreadPart]] = {}
    with scan_progress("measuring layers") as progress:
        sizes = measure_layers(host, ids, progress=progress, unread=unread)
    for lid, parts in unread.items():
        sizes.pop(lid, None)
        warn_unread(parts, f"the size of layer {short(lid)} is unknown")
    return sizes, unread


def cmd_containers(ctx: Context) -> int:
    host = ctx.host()
    containers = sorted(host.containers.values(), key=lambda c: (c.name, c.id))
    sizes, unread = _measure(host, [c.layer for c in containers if c.layer])
    if ctx.json:
        write_json(
            [
                shapes.container(
                    c,
                    sizes.get(c.layer) if c.layer else None,
                    root_fs=root_fs_size(host, c, sizes),
                )
                for c in containers
            ]
        )
        return _done(unread)
    tags = {i.key: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    rows: list[tuple[Cell, ...]] = [
        (
            cell(c.namespace or ""),
            short(c.id),
            cell(c.name),
            _state(c.state),
            cell(tags.get(c.image_key, short(c.image_id) if c.image_id else c.image_ref or "")),
            short(c.layer),
            size(sizes.get(c.layer) if c.layer else None),
            size(root_fs_size(host, c, sizes)),
        )
        for c in containers
    ]
    columns, rows = pick(COLUMNS["containers"], rows, _shown(ctx, host, "containers"))
    write_table(table(None, columns, rows, right=["size", "virtual"], flexible=["name", "image"]))
    return _done(unread)


def root_fs_size(host: Host, container: Container, sizes: dict[str, int]) -> int | None:
    """Docker's SizeRootFs (`docker ps -s`'s "virtual"): the writable layer's size plus
    the recorded sizes of the image layers beneath it; None when any is unknown, and on
    the stores whose engines count it otherwise (Podman: the image's layers alone,
    measured; containerd: snapshot usage) — not computed there yet."""
    if container.store not in (Store.DOCKER_OVERLAY2, Store.DOCKER_OVERLAY):
        return None
    image = host.images.get(container.image_key or "")
    rw = sizes.get(container.layer) if container.layer else None
    if image is None or rw is None or any(lay.size is None for lay in image.layers):
        return None
    return rw + sum(lay.size or 0 for lay in image.layers)


def _done(unread: dict[str, list[UnreadPart]]) -> int:
    return exit_code(ExitCode.OK, [p for parts in unread.values() for p in parts])


def layer_order(layer_id: str) -> tuple[int, int, str]:
    """Numbered layer dirs (containerd's snapshots) in number order, before named ones."""
    return (0, int(layer_id), "") if layer_id.isdigit() else (1, 0, layer_id)


def _state(state: str) -> Styled:
    colour = {"running": "green", "exited": "yellow", "dead": "red", "created": "cyan"}
    return cell(state, colour.get(state, ""))


def cmd_images(ctx: Context) -> int:
    host = ctx.host()
    sizes = image_sizes(host)
    images = sorted(
        host.images.values(),
        key=lambda i: (i.intermediate, not i.tags, i.namespace or "", i.tags, i.id),
    )
    if ctx.json:  # every image, each with its `intermediate` flag (docs/json.md)
        write_json([shapes.image(host, i, sizes[i.key]) for i in images])
        return ExitCode.OK
    rows: list[tuple[Cell, ...]] = []
    hidden = 0
    for i in images:
        if i.intermediate and not ctx.args.all:  # `docker images` hides them too
            hidden += 1
            continue
        label = ", ".join(i.tags) or ("<intermediate>" if i.intermediate else "<none>")
        s = sizes[i.key]
        rows.append(
            (
                cell(i.namespace or ""),
                short(i.id),
                cell(label),
                str(len(i.layers)),
                size(s.size),
                size(s.shared),
                size(s.unique),
                str(len(i.containers)),
            )
        )
    columns, rows = pick(COLUMNS["images"], rows, _shown(ctx, host, "images"))
    write_table(
        table(
            None,
            columns,
            rows,
            right=["layers", "size", "shared", "unique", "containers"],
            flexible=["tags"],
        )
    )
    if hidden:  # on stderr: stdout stays the table alone, for a pipe
        sys.stderr.write(
            f"overlayscope: {plural(hidden, 'intermediate image')} not shown (--all shows "
            f"{'it' if hidden == 1 else 'them'})\n"
        )
    return ExitCode.OK


def cmd_layers(ctx: Context) -> int:
    host = ctx.host()
    layers = sorted(
        host.layers.values(), key=lambda layer: (str(layer.role), layer_order(layer.id))
    )
    sizes, unread = _measure(host, [layer.id for layer in layers])
    if ctx.json:
        docs = [shapes.layer(host, layer, sizes.get(layer.id)) for layer in layers]
        for doc in docs:  # what could not be read of it, among its problems
            doc["problems"] += unread_json(unread.get(doc["id"], ()))
        write_json(docs)
        return _done(unread)
    names = {c.key: c.name for c in host.containers.values()}
    tags = {i.key: (i.tags[0] if i.tags else short(i.id)) for i in host.images.values()}
    rows: list[tuple[Cell, ...]] = []
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
                cell(owner),
                str(len(layer.lower)),
                size(sizes.get(layer.id)),
                Styled(str(len(layer.problems) or ""), "red"),
            )
        )
    columns, picked = pick(COLUMNS["layers"], rows, _shown(ctx, host, "layers"))
    write_table(
        table(
            None,
            columns,
            picked,
            right=["lower", "size", "problems"],
            flexible=["owners"],
        )
    )
    return _done(unread)


def cmd_orphans(ctx: Context) -> int:
    host = ctx.host()
    orphans = sorted(host.orphans, key=lambda layer: layer_order(layer.id))
    sizes, unread = _measure(host, [o.id for o in orphans])
    if ctx.json:
        write_json([shapes.orphan(o, sizes.get(o.id)) for o in orphans])
        return _done(unread)
    if orphans:
        rows = [(cell(o.id), cell(o.path), size(sizes.get(o.id))) for o in orphans]
        columns, picked = pick(COLUMNS["orphans"], rows, _shown(ctx, host, "orphans"))
        write_table(table(None, columns, picked, right=["size"], flexible=["path"]))
        total = sum(sizes.get(o.id, 0) for o in orphans)
        write_line()
        write_line(f"{plural(len(orphans), 'orphaned dir')}, {size(total)} reclaimable.")
        # the TUI says the same (usage/advice.py); on a terminal too each command stays
        # one line (folded, it would paste as two commands)
        write_line(orphan_advice(len(orphans)))
        for o in orphans:
            write_line(f"  {removal_command(o)}")
    else:
        write_line("No orphaned layer dirs.")
    _unresolved(host)
    _collectable(host)
    return _done(unread)


def _unresolved(host: Host) -> None:
    """Dirs no readable record names, that may still be in use: listed with the reason,
    and no removal command. When the records are damaged, the orphan list is partial."""
    unresolved = sorted(
        (lay for lay in host.layers.values() if lay.role is Role.UNRESOLVED),
        key=lambda lay: layer_order(lay.id),
    )
    if not unresolved:
        return
    write_line()
    write_line(unresolved_advice(len(unresolved)), "yellow", wrap=True)
    rows = [(cell(lay.id), cell(lay.unresolved or "")) for lay in unresolved]
    write_table(table(None, ["layer", "why"], rows, flexible=["why"]))


def _collectable(host: Host) -> None:
    """Layers and blobs that are no orphans (records name them) but that the store's own
    garbage collection would remove: nothing it keeps references them."""
    layers = [lay for lay in host.layers.values() if lay.collectable]
    blobs = [b for b in host.blobs.values() if b.collectable]
    if not layers and not blobs:
        return
    write_line()
    write_line(
        "Not orphans, but nothing the store keeps references them: "
        f"{plural(len(layers), 'layer')} and {plural(len(blobs), 'blob')} its garbage "
        "collection would remove.",
        wrap=True,
    )
    if host.collect_hint:
        write_line(printable(host.collect_hint), "dim", wrap=True)
    rows: list[tuple[Cell, ...]] = [
        (
            f"{lay.role} layer",
            cell(lay.namespace or ""),
            cell(lay.id + (f"  (key {lay.key})" if lay.key else "")),
        )
        for lay in sorted(layers, key=lambda lay: layer_order(lay.id))
    ]
    rows += [("blob", cell(", ".join(b.namespaces) or "none"), cell(b.digest)) for b in blobs]
    write_table(table(None, ["what", "namespace", "id"], rows, flexible=["id"]))


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
        if not problems:
            write_line(printable(f"OK: no problems in {host.root}"), "green")
        else:
            rows = [(Styled(str(p.kind), "red"), cell(p.path), cell(p.detail)) for p in problems]
            write_table(
                table(
                    f"{plural(len(problems), 'problem')} in {host.root}",
                    ["kind", "path", "detail"],
                    rows,
                    flexible=["path", "detail"],
                )
            )
    return ExitCode.FINDINGS if problems else ExitCode.OK
