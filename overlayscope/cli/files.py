"""File-level commands: where, ls, cat, diff (`container` has its own module)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

from overlayscope.cli.ansi import painter, write_line
from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import incomplete, note_unread, unread_json
from overlayscope.cli.plain import short, size, write_json
from overlayscope.cli.progress import stack_with_progress
from overlayscope.cli.text_table import Cell, Styled, cell, table, write_table
from overlayscope.errors import ExitCode, OverlayscopeError
from overlayscope.names import input_names, plural, printable
from overlayscope.root.model import Container, Host, Image
from overlayscope.root.refs import describe, resolve
from overlayscope.scan.entry import Kind
from overlayscope.union import (
    HitState,
    LayerStack,
    resolve_merged,
    unified_diff,
)
from overlayscope.union.content import NotARegularFile, open_layer_fd, type_name
from overlayscope.union.extents import DEFAULT_MAX_HOLE_BYTES, iter_content
from overlayscope.union.resolve import ResolvedPath
from overlayscope.union.stack import normalize
from overlayscope.union.textdiff import shown_lines
from overlayscope.usage.ci import parse_bytes


def register(sub: Any) -> None:
    """Add the file-level commands to the argparse sub-parsers."""
    for name, func, help_ in (
        ("where", cmd_where, "every layer that holds PATH, which one wins, what hides the rest"),
        ("ls", cmd_ls, "the merged directory PATH, each entry tagged with its layer"),
        ("cat", cmd_cat, "the bytes of PATH in the merged view (symlinks resolved inside)"),
        ("diff", cmd_diff, "PATH against the version beneath the top layer"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("ref", metavar="REF", help="container or image: name, tag, id or prefix")
        p.add_argument("path", metavar="PATH", help="absolute path inside the container or image")
        if name == "cat":
            p.add_argument(
                "--max-bytes",
                metavar="SIZE",
                type=_max_bytes,
                default=_DEFAULT,
                help="refuse a file larger than SIZE (e.g. 512MiB; 'off': no bound); "
                "default: 1GiB with --json, no bound for the raw bytes",
            )
        if name == "diff":
            p.add_argument(
                "--hash-max-holes",
                metavar="SIZE",
                type=_hole_bound,
                default=DEFAULT_MAX_HOLE_BYTES,
                help="leave unhashed a sparse file with more than SIZE bytes of holes, which "
                "SHA-256 must still process as zeros (default 16GiB; 'off': no bound)",
            )
        p.set_defaults(func=func)


def _target(ctx: Context) -> tuple[Host, Container | Image, LayerStack]:
    host = ctx.host()
    obj = resolve(host, ctx.args.ref)
    stack = stack_with_progress(host, obj)
    if isinstance(getattr(ctx.args, "path", None), str):
        ctx.args.path = _named(stack, ctx.args.path)
    return host, obj, stack


def _named(stack: LayerStack, text: str) -> str:
    """PATH as the user gave it: a name as the tool printed it (`\\xNN` escapes read
    back), else the text as typed (a real name holding a backslash); the first that any
    layer holds, else the escapes read back (the error then names what was meant)."""
    candidates = input_names(text)
    for candidate in candidates:
        if stack.resolve(candidate).hits:
            return candidate
    return candidates[0]


# -- where / ls ------------------------------------------------------------------------


@incomplete
def cmd_where(ctx: Context) -> int:
    _, obj, stack = _target(ctx)
    prov = stack.provenance(ctx.args.path)
    note_unread(
        ctx,
        prov.unknown,
        "what it holds there may hide or replace the layers beneath (their state is unknown)",
    )
    if ctx.json:
        write_json(
            {
                "path": prov.path,
                "store": str(ctx.host().store),
                "visible": prov.visible,
                "known": prov.known,
                "winner": prov.winner.layer_id if prov.winner else None,
                "stack": [
                    {
                        "layer": hit.layer_id,
                        "role": hit.role,
                        "entry": str(hit.entry.kind),
                        "size": hit.entry.size,
                        "state": str(hit.state),
                        "hidden_by": (
                            {
                                "layer": hit.hidden_by.layer_id,
                                "path": hit.hidden_by.path,
                                "kind": str(hit.hidden_by.kind),
                            }
                            if hit.hidden_by
                            else None
                        ),
                    }
                    for hit in prov.stack
                ],
                "notes": list(prov.notes),
                "problems": unread_json(prov.unknown),
            }
        )
        return ExitCode.OK
    paint = painter(sys.stdout)
    if not prov.known:
        state = paint("  unknown: a layer above could not be read there", "yellow")
    else:
        state = paint(
            "  visible" if prov.visible else "  not visible", "green" if prov.visible else "red"
        )
    write_line(paint(printable(prov.path), "bold") + state)
    if not prov.stack:
        held = "that could be read " if prov.unknown else ""
        write_line(printable(f"no layer of {describe(obj)} {held}holds this path"))
    rows: list[tuple[int, tuple[Cell, ...]]] = []
    for hit in prov.stack:
        why = ""
        if hit.hidden_by:
            blocker = hit.hidden_by
            why = f"by {blocker.kind} {printable(blocker.path)} in {short(blocker.layer_id)}"
        style = "green" if hit.state.visible else "red"
        if hit.state is HitState.UNKNOWN:
            style, why = "yellow", "beneath a layer that could not be read"
        cells = (
            short(hit.layer_id),
            hit.role,
            str(hit.entry.kind),
            size(hit.entry.size),
            Styled(str(hit.state), style),
            cell(why),
        )
        rows.append((hit.position, cells))
    for part in prov.unknown:  # where the stack could not be read, in its place
        cells = (
            short(part.layer_id),
            part.role,
            "?",
            "?",
            Styled("unread", "yellow"),
            cell(f"{part.detail}: {part.host_path}"),
        )
        rows.append((part.position, cells))
    rows.sort(key=lambda row: row[0])
    write_table(
        table(
            None,
            ["layer", "role", "entry", "size", "state", "hidden"],
            [cells for _, cells in rows],
            right=["size"],
            flexible=["hidden"],
        )
    )
    for note in prov.notes:
        write_line(printable(f"note: {note}"), "yellow")
    return ExitCode.OK


@incomplete
def cmd_ls(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    listing = stack.listdir(ctx.args.path)
    # An array has no room for problems: on stderr in both modes, entries marked `known`.
    note_unread(
        ctx,
        stack.unread_in_listing(ctx.args.path),
        "entries may be missing, and those marked unknown may be hidden or replaced",
        always=True,
    )
    if ctx.json:
        write_json(
            [
                {
                    "name": e.name,
                    "path": e.path,
                    "entry": str(e.entry.kind),
                    "layer": e.layer_id,
                    "role": e.role,
                    "size": e.entry.size,
                    "known": e.known,
                    "nlink": e.entry.nlink,
                    # one inode with several names: its bytes count once (docs/json.md)
                    "hardlink": e.entry.nlink > 1 and not e.entry.kind.is_dir,
                }
                for e in listing
            ]
        )
        return ExitCode.OK
    unsure = any(not e.known for e in listing)
    rows: list[tuple[Cell, ...]] = []
    for e in listing:
        name = printable(e.name) + ("/" if e.entry.kind.is_dir else "")
        if e.entry.kind is Kind.SYMLINK:
            name += " -> " + printable(e.entry.target or "")
        if e.entry.nlink > 1 and not e.entry.kind.is_dir:
            name += f"  [hard link: {e.entry.nlink} names]"
        seen = (Styled("" if e.known else "unknown", "yellow"),) if unsure else ()
        rows.append(
            (
                *seen,
                f"{e.entry.mode & 0o7777:04o}",
                str(e.entry.kind),
                size(e.entry.size),
                short(e.layer_id),
                e.role,
                name,
            )
        )
    write_table(
        table(
            None,
            [*(["state"] if unsure else []), "mode", "entry", "size", "layer", "role", "name"],
            rows,
            right=["size"],
            flexible=["name"],
        )
    )
    return ExitCode.OK


# -- cat / diff ------------------------------------------------------------------------

TTY_LIMIT = 1 << 20  # on a terminal, show at most this much
JSON_CAT_LIMIT = 1 << 30  # --json cat refuses a larger file unless --max-bytes says otherwise
_DEFAULT = object()  # --max-bytes not given


class TooLarge(OverlayscopeError):
    title = "too large"


def _max_bytes(text: str) -> int | None:
    try:
        return parse_bytes(text, "--max-bytes")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hole_bound(text: str) -> int | None:
    try:
        return parse_bytes(text, "--hash-max-holes")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@incomplete
def cmd_cat(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    where = resolve_merged(stack, ctx.args.path)
    note_unread(ctx, where.unknown, "a layer above the file shown may hide or replace it")
    if where.entry.kind is not Kind.FILE:
        # never opened: a fifo would block, a device would talk to the host's
        shown = normalize(ctx.args.path)
        if where.path != shown:
            shown += f" (resolved to {where.path})"
        raise NotARegularFile(
            f"{shown} is {type_name(where.entry.mode)} in layer {short(where.layer_id)} "
            f"({where.role}); cat reads regular files only"
        )
    limit = ctx.args.max_bytes
    if limit is _DEFAULT:
        limit = JSON_CAT_LIMIT if ctx.json else None
    fd = open_layer_fd(where.content_dir, where.entry.path)
    try:
        file_size = os.fstat(fd).st_size
        if limit is not None and file_size > limit:
            raise TooLarge(
                f"{ctx.args.path}: {size(file_size)} ({file_size} bytes), more than "
                f"--max-bytes ({size(limit)}{' by default with --json' * ctx.json})",
                hint="raise --max-bytes (or 'off'); without --json, cat with stdout "
                "redirected to a file writes the raw bytes",
            )
        if ctx.json:
            _cat_json(ctx, where, fd, file_size)
            return ExitCode.OK
        if not sys.stdout.isatty():
            # Streamed: memory stays one chunk whatever the size; holes are not read.
            sys.stdout.flush()
            out = sys.stdout.buffer
            for piece in iter_content(fd, file_size):
                out.write(piece)
            out.flush()
            return ExitCode.OK
        data = b"".join(bytes(p) for p in iter_content(fd, min(file_size, TTY_LIMIT + 1)))
    finally:
        os.close(fd)
    # A terminal: never write raw control bytes from the evidence.
    if b"\0" in data[:8192]:
        sys.stderr.write(
            f"overlayscope: {printable(where.path)} is binary "
            f"({plural(where.entry.size, 'byte')}); "
            "redirect stdout to a file to get its bytes\n"
        )
        return ExitCode.OK
    text = os.fsdecode(data[:TTY_LIMIT])
    for line in text.splitlines():
        sys.stdout.write(printable(line) + "\n")
    if len(data) > TTY_LIMIT:
        sys.stderr.write(f"overlayscope: shown the first {TTY_LIMIT} bytes of {where.entry.size}\n")
    return ExitCode.OK


def _cat_json(ctx: Context, where: ResolvedPath, fd: int, file_size: int) -> None:
    """The cat document, its base64 `data` streamed a chunk at a time (never the whole file
    in memory), `size` last: the bytes `data` holds."""
    head = {
        "path": normalize(ctx.args.path),
        "store": str(ctx.host().store),
        "resolved": where.path,
        "symlinks": list(where.symlinks),
        "layer": where.layer_id,
        "role": where.role,
        "encoding": "base64",
        "problems": unread_json(where.unknown),
    }
    out = sys.stdout
    out.write(json.dumps(head, indent=2, ensure_ascii=True)[: -len("\n}")])
    out.write(',\n  "data": "')
    carry = b""  # base64 encodes 3 bytes at a time: pieces are cut at a multiple of 3
    written = 0
    for piece in iter_content(fd, file_size):
        written += len(piece)
        if carry:
            piece = carry + bytes(piece)
        cut = len(piece) - len(piece) % 3
        out.write(base64.b64encode(piece[:cut]).decode("ascii"))
        carry = bytes(piece[cut:])
    out.write(base64.b64encode(carry).decode("ascii"))
    out.write(f'",\n  "size": {written}\n}}\n')
    out.flush()


def _version_json(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "layer": v.layer_id,
        "role": v.role,
        "entry": v.kind,
        "size": v.size,
        "sha256": v.sha256,
        "target": v.target,
        "type": v.type,
    }


@incomplete
def cmd_diff(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    d = unified_diff(stack, ctx.args.path, max_hole_bytes=ctx.args.hash_max_holes)
    unread = [*stack.unread_at(d.path, above_winner=True)]
    unread += stack.below().unread_at(d.path, above_winner=True)
    note_unread(ctx, unread, "a layer above a version shown may hide or replace it")
    if ctx.json:
        write_json(
            {
                "path": d.path,
                "store": str(ctx.host().store),
                "old": _version_json(d.old),
                "new": _version_json(d.new),
                "identical": d.identical,
                "binary": d.binary,
                "diff": d.text,
                "note": d.note,
                "problems": unread_json(unread),
            }
        )
        return ExitCode.OK
    paint = painter(sys.stdout)
    for label, v in (("beneath", d.old), ("now", d.new)):
        line = paint(f"{label:8}", "bold")
        if v is None:
            line += "(absent)"
        else:
            kind = v.type if v.kind == "other" else v.kind  # say fifo, socket, device
            line += (
                f"{kind} {size(v.size)} sha256:{(v.sha256 or '-')[:16]}  "
                f"layer {short(v.layer_id)} ({v.role})"
            )
            if v.target is not None:
                line += " -> " + printable(v.target)
        write_line(line)
    if d.identical:
        write_line("identical content")
    elif d.text is not None:
        for text in shown_lines(d.text):  # as written: the header's tab stays a tab
            style = (
                "green"
                if text.startswith("+")
                else "red"
                if text.startswith("-")
                else "cyan"
                if text.startswith("@@")
                else ""
            )
            write_line(text, style)
    if d.note:  # also beside "identical": a digest left out says why
        write_line(printable(d.note), "dim")
    return ExitCode.OK
