"""`overlayscope history IMAGE`: an image's build steps, as `docker history` lists them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from overlayscope.audit.times import parse_rfc3339_ns
from overlayscope.cli.ansi import write_line
from overlayscope.cli.context import Context
from overlayscope.cli.plain import short, size, write_json
from overlayscope.cli.text_table import Cell, columns_option, pick, table, write_table
from overlayscope.errors import ExitCode, UnknownReference
from overlayscope.names import printable
from overlayscope.record import record
from overlayscope.root.model import Host, Image
from overlayscope.root.refs import resolve

COLUMNS = ("image", "created", "created_by", "size", "comment")
TRUNCATE = 45  # docker history's width for CREATED BY, without --no-trunc


def register(sub: Any) -> None:
    """Add `history` to the argparse sub-parsers."""
    p: argparse.ArgumentParser = sub.add_parser("history")
    p.add_argument("ref", metavar="IMAGE", help="image: tag, id or unique id prefix")
    p.add_argument(
        "--no-trunc", action="store_true", help="the whole created_by, not its first 45 characters"
    )
    columns_option(p, COLUMNS)
    p.set_defaults(func=cmd_history)


@record
class Step:
    """One row of `docker history`: a step of the image config's history."""

    image: str | None  # the image id this step ends, where a local image records it
    created: str | None
    created_by: str
    size: int | None  # the layer it made; 0 for an empty step (ENV, CMD…)
    comment: str
    empty_layer: bool


def steps(host: Host, image: Image) -> list[Step]:
    """The image's history newest first, as the daemon's ImageHistory builds it: a
    non-empty step's size is its layer's, the top step carries the image id, and each
    step below the id of the image's parent, grandparent… while they are known."""
    rows: list[Step] = []
    layer = 0
    for entry in image.history:
        made: int | None = 0
        if not entry.empty_layer:
            known = layer < len(image.layers)
            made = image.layers[layer].size if known else None
            layer += 1
        rows.append(Step(None, entry.created, entry.created_by, made, entry.comment,
                         entry.empty_layer))  # fmt: skip
    rows.reverse()
    by_id = {i.id: i for i in host.images.values() if i.namespace == image.namespace}
    current: Image | None = image
    for i, row in enumerate(rows):
        if current is None:
            break
        rows[i] = Step(current.id, *_rest(row))
        current = by_id.get(current.parent) if current.parent else None
    return rows


def _rest(row: Step) -> tuple[str | None, str, int | None, str, bool]:
    return row.created, row.created_by, row.size, row.comment, row.empty_layer


def cmd_history(ctx: Context) -> int:
    host = ctx.host()
    found = resolve(host, ctx.args.ref, containers=False)
    if not isinstance(found, Image):  # resolve() with containers=False returns images only
        raise UnknownReference(f"{ctx.args.ref!r} is not an image")
    rows = steps(host, found)
    if ctx.json:
        write_json(
            [
                {
                    "image": row.image,
                    "created": row.created,
                    "created_by": row.created_by,
                    "size": row.size,
                    "comment": row.comment,
                    "empty_layer": row.empty_layer,
                }
                for row in rows
            ]
        )
        return ExitCode.OK
    cells: list[tuple[Cell, ...]] = [
        (
            short(row.image) if row.image else "<missing>",
            _when(row.created),
            _created_by(row.created_by, truncate=not ctx.args.no_trunc),
            size(row.size),
            printable(row.comment, backslash=False),
        )
        for row in rows
    ]
    columns, picked = pick(COLUMNS, cells, ctx.args.columns or COLUMNS)
    write_table(table(None, columns, picked, right=["size"], flexible=["created_by", "comment"]))
    if not rows:
        write_line("The image config records no history.")
    return ExitCode.OK


def _when(created: str | None) -> str:
    """A step's time in UTC to the second; as recorded when it does not parse."""
    ns = parse_rfc3339_ns(created)
    if ns is None:
        return printable(created or "-")
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _created_by(text: str, *, truncate: bool) -> str:
    """As docker shows it: tabs as spaces, cut to 45 characters with an ellipsis. Controls
    escaped, backslashes single (a shell command's own, never an escape of ours)."""
    text = text.replace("\t", " ")
    if truncate and len(text) > TRUNCATE:
        text = text[: TRUNCATE - 1] + "…"
    return printable(text, backslash=False)
