"""File-level commands: container, where, ls, cat, diff."""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

from rich.text import Text
from rich.tree import Tree

from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import exit_code, unread_json, warn_unread
from overlayscope.cli.output import print_table, safe, stdout_console, table
from overlayscope.cli.plain import LARGE, Encoded, short, size, write_json
from overlayscope.cli.progress import scan_progress
from overlayscope.errors import ExitCode, OverlayscopeError, UnknownReference
from overlayscope.names import input_names, plural, printable
from overlayscope.root.model import Container, Host, Image
from overlayscope.root.refs import describe, resolve
from overlayscope.scan.entry import Kind, parent_of
from overlayscope.union import (
    Change,
    HitState,
    LayerStack,
    changes,
    resolve_merged,
    unified_diff,
)
from overlayscope.union.content import NotARegularFile, open_layer_fd, type_name
from overlayscope.union.extents import DEFAULT_MAX_HOLE_BYTES, iter_content
from overlayscope.union.host_stacks import build_stack
from overlayscope.union.resolve import ResolvedPath
from overlayscope.union.stack import normalize
from overlayscope.union.summary import ChangeTotals, change_totals
from overlayscope.union.textdiff import shown_lines
from overlayscope.union.unread import UnreadPart, unread_in_changes
from overlayscope.usage.ci import parse_bytes

KIND_STYLE = {"A": "green", "C": "yellow", "D": "red"}


def register(sub: Any) -> None:
    """Add the file-level commands to the argparse sub-parsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "container", help="what a container changed: docker diff, with copy-up and content facts"
    )
    p.add_argument("ref", metavar="REF", help="container name, id or unique id prefix")
    p.add_argument("--tui", action="store_true", help="open the TUI on this container")
    p.set_defaults(func=cmd_container)
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


def _stack(host: Host, obj: Container | Image) -> LayerStack:
    with scan_progress(f"scanning {describe(obj)}") as progress:
        return build_stack(host, obj, progress=progress)


def _target(ctx: Context) -> tuple[Host, Container | Image, LayerStack]:
    host = ctx.host()
    obj = resolve(host, ctx.args.ref)
    stack = _stack(host, obj)
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


def _unread(
    ctx: Context, parts: Sequence[UnreadPart], consequence: str, *, always: bool = False
) -> None:
    """Warn on stderr about what the answer could not read (human output; with `always`,
    --json too: a document with no room for it); `_incomplete` then makes the exit
    status say so."""
    if parts and (always or not ctx.json):
        warn_unread(parts, consequence)
    ctx.args._unread = tuple(parts)


def _incomplete(func: Callable[[Context], int]) -> Callable[[Context], int]:
    """A command whose answer may depend on unread parts (`_unread`): exit 4 when it did."""

    @functools.wraps(func)
    def run(ctx: Context) -> int:
        code = func(ctx)
        return exit_code(code, getattr(ctx.args, "_unread", ()))

    return run


# -- container ---------------------------------------------------------------------------


def change_json(change: Change) -> dict[str, Any]:
    return {
        "path": change.path,
        "kind": str(change.kind),
        "entry": str(change.entry),
        "size": change.size,
        "copy_up": change.copy_up,
        "content": change.content,
        "meta": list(change.meta),
        "layer": change.layer_id,
        "runtime": change.runtime,
        "nlink": change.nlink,
        "hardlink": change.hard_link,
    }


class _ChangeEncoder:
    """`json.dumps(change_json(change), ensure_ascii=True)`, made ~5x faster: the strings
    through json's own C escaper, the few distinct kinds, entries, meta and layer ids
    encoded once."""

    def __init__(self) -> None:
        self._texts: dict[object, str] = {None: "null"}
        self._metas: dict[tuple[str, ...], str] = {}

    def _text(self, value: str | None) -> str:
        text = self._texts.get(value)
        if text is None:
            text = self._texts[value] = encode_basestring_ascii(str(value))
        return text

    def __call__(self, c: Change) -> str:
        text = self._text
        meta = self._metas.get(c.meta)
        if meta is None:
            meta = self._metas[c.meta] = json.dumps(list(c.meta), ensure_ascii=True)
        return (
            f'{{"path": {encode_basestring_ascii(c.path)}, "kind": {text(c.kind)}, '
            f'"entry": {text(c.entry)}, "size": {int(c.size)}, '
            f'"copy_up": {"true" if c.copy_up else "false"}, "content": {text(c.content)}, '
            f'"meta": {meta}, "layer": {text(c.layer_id)}, '
            f'"runtime": {"true" if c.runtime else "false"}, "nlink": {int(c.nlink)}, '
            f'"hardlink": {"true" if c.hard_link else "false"}}}'
        )


def changes_json(found: list[Change]) -> Encoded:
    """Every change as `change_json` gives it, encoded."""
    encode = _ChangeEncoder()
    return Encoded(encode(c) for c in found)


def totals_json(t: ChangeTotals) -> dict[str, int]:
    return {
        "added": t.added,
        "changed": t.changed,
        "deleted": t.deleted,
        "added_bytes": t.added_bytes,
        "changed_bytes": t.changed_bytes,
        "deleted_bytes": t.deleted_bytes,
        "copied_up": t.copied_up,
        "copied_up_bytes": t.copied_up_bytes,
        "metadata_only": t.metadata_only,
        "metadata_only_bytes": t.metadata_only_bytes,
    }


@_incomplete
def cmd_container(ctx: Context) -> int:
    host = ctx.host()
    obj = resolve(host, ctx.args.ref, images=False)
    if not isinstance(obj, Container):  # resolve() with images=False returns containers only
        raise UnknownReference(f"{ctx.args.ref!r} is not a container")
    if ctx.args.tui:
        from overlayscope.tui.app import run_app  # Textual loads only for the TUI

        return run_app(ctx, focus=obj)
    stack = _stack(host, obj)
    every = changes(stack, rule=host.change_rule, runtime_files=obj.runtime_files)
    found = [c for c in every if not c.runtime]
    runtime = [c for c in every if c.runtime]
    totals = change_totals(stack, found)
    unread = unread_in_changes(stack.layers)
    _unread(ctx, unread, "changes at or beneath it are unknown (missing from the list and totals)")
    if ctx.json:
        write_json(
            {
                "id": obj.id,
                "name": obj.name,
                "image": obj.image_id,
                "store": str(host.store),
                "namespace": obj.namespace,
                "state": obj.state,
                "layers": [{"id": layer.id, "role": layer.role} for layer in stack.layers],
                "changes": changes_json(every),
                "totals": totals_json(totals),
                "problems": unread_json(unread),
            }
        )
        return ExitCode.OK
    console = stdout_console()
    header = Text()
    header.append(printable(obj.name) or short(obj.id), style="bold")
    header.append(f"  {short(obj.id)}  {obj.state}  rw layer {short(obj.layer)}")
    console.print(header)
    if len(found) > LARGE:  # a tree that large is unreadable and slow to draw: a list
        rows = [(_change_line(c),) for c in found]
        print_table(console, table(None, ["change"], rows, flexible=["change"]))
    else:
        depth = min(MAX_TREE_DEPTH, max(4, (console.width - 40) // 4))
        console.print(_change_tree(found, depth))
    console.print(_totals_line(totals))
    if unread:  # beside the totals they leave short; the warnings on stderr say why
        where = ", ".join(f"{printable(p.path)} ({p.role})" for p in unread)
        console.print(Text(f"incomplete: unknown at or beneath {where}", style="yellow"))
    if runtime:
        console.print(
            Text(
                "written by the engine for the runtime, left out of its own diff: "
                + ", ".join(f"{c.kind} {printable(c.path)}" for c in runtime),
                style="dim",
            )
        )
    return ExitCode.OK


# Rich draws a tree in time quadratic in its depth, 4 columns a level: a change deeper
# than this (or than the terminal leaves room for) hangs from its ancestor at that depth,
# labelled with its path below it (elided past ELIDE chars), so it still shows.
MAX_TREE_DEPTH = 32
ELIDE = 120


def _elided(name: str) -> str:
    if len(name) <= ELIDE:
        return printable(name)
    return printable(name[:40]) + "…" + printable(name[-(ELIDE - 41) :])


_size_label = lru_cache(maxsize=4096)(size)  # humanized sizes repeat, and cost ~2 µs each


def _label_parts(change: Change, name: str) -> list[tuple[str, str]]:
    """(text, style) pieces of a change's line: kind, escaped name, size and copy-up facts."""
    kind = str(change.kind)
    is_dir = change.entry in (Kind.DIR, Kind.OPAQUE_DIR)
    shown = _elided(name)
    parts = [
        (kind, f"bold {KIND_STYLE[kind]}"),
        (" ", ""),
        (shown + "/" * is_dir, KIND_STYLE[kind]),
    ]
    if change.entry == Kind.OPAQUE_DIR:
        parts.append(("  opaque", "magenta"))
    if not is_dir and change.kind != "D":
        parts.append((f"  {_size_label(change.size)}", "dim"))
    if change.copy_up and not is_dir:
        parts.append(("  copy-up", "cyan"))
        if change.content == "same":
            parts.append((" (same bytes)", "cyan"))
    if change.meta and change.kind == "C" and not is_dir:
        parts.append((f"  {', '.join(change.meta)}", "dim"))
    if change.kind != "D" and change.hard_link:  # as `ls` says it
        parts.append((f"  [hard link: {change.nlink} names]", "dim"))
    return parts


def _change_label(change: Change, name: str | None = None) -> Text:
    if name is None:
        name = "/" if change.path == "/" else change.path.rsplit("/", 1)[-1]
    return Text.assemble(*_label_parts(change, name))


def _change_line(change: Change) -> str:
    """A change on one plain line with its path, escaped and elided like the tree's labels
    (the list for huge change sets; --json has every path whole)."""
    return "".join(text for text, _ in _label_parts(change, change.path))


def _change_tree(found: list[Change], max_depth: int = MAX_TREE_DEPTH) -> Tree:
    tree = Tree(Text("/", style="bold"), guide_style="dim")
    nodes: dict[str, Tree] = {"/": tree}
    for change in found:  # sorted by path: parents come before their children
        names = change.path.split("/")
        if len(names) - 1 > max_depth:
            anchor = "/".join(names[: max_depth + 1])
            below = change.path[len(anchor) + 1 :]
            nodes.get(anchor, tree).add(_change_label(change, below))
            continue
        parent_path = parent_of(change.path)
        parent = nodes.get(parent_path)
        if parent is None:
            # Its dir is no change itself (podman reports a changed file without its dir):
            # it hangs from its nearest listed ancestor, named by its path from there.
            anchor = parent_path
            while anchor not in nodes:
                anchor = parent_of(anchor)
            below = change.path[len(anchor) :].lstrip("/")
            nodes[change.path] = nodes[anchor].add(_change_label(change, below))
            continue
        nodes[change.path] = parent.add(_change_label(change))
    return tree


def _totals_line(t: ChangeTotals) -> Text:
    text = Text()
    text.append(f"{t.added} added ({size(t.added_bytes)})", style="green")
    text.append(", ")
    text.append(f"{t.changed} changed ({size(t.changed_bytes)})", style="yellow")
    text.append(", ")
    text.append(f"{t.deleted} deleted ({size(t.deleted_bytes)})", style="red")
    text.append(f"; {t.copied_up} copied up ({size(t.copied_up_bytes)}), ")
    text.append(f"{t.metadata_only} with the same bytes ({size(t.metadata_only_bytes)})")
    # what the numbers count (docs/json.md `totals`)
    text.append(" [counts: entries, dirs included; bytes: files, hard links once]", style="dim")
    return text


# -- where / ls ------------------------------------------------------------------------


@_incomplete
def cmd_where(ctx: Context) -> int:
    _, obj, stack = _target(ctx)
    prov = stack.provenance(ctx.args.path)
    _unread(
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
    console = stdout_console()
    title = Text(printable(prov.path), style="bold")
    if not prov.known:
        title.append("  unknown: a layer above could not be read there", style="yellow")
    else:
        title.append(
            "  visible" if prov.visible else "  not visible",
            style="green" if prov.visible else "red",
        )
    console.print(title)
    if not prov.stack:
        held = "that could be read " if prov.unknown else ""
        console.print(safe(f"no layer of {describe(obj)} {held}holds this path"))
    rows: list[tuple[int, tuple[Text | str, ...]]] = []
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
            Text(str(hit.state), style=style),
            safe(why),
        )
        rows.append((hit.position, cells))
    for part in prov.unknown:  # where the stack could not be read, in its place
        cells = (
            short(part.layer_id),
            part.role,
            "?",
            "?",
            Text("unread", style="yellow"),
            safe(f"{part.detail}: {part.host_path}"),
        )
        rows.append((part.position, cells))
    rows.sort(key=lambda row: row[0])
    console.print(
        table(
            None,
            ["layer", "role", "entry", "size", "state", "hidden"],
            [cells for _, cells in rows],
            right=["size"],
            flexible=["hidden"],
        )
    )
    for note in prov.notes:
        console.print(safe(f"note: {note}", style="yellow"))
    return ExitCode.OK


@_incomplete
def cmd_ls(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    listing = stack.listdir(ctx.args.path)
    # An array has no room for problems: on stderr in both modes, entries marked `known`.
    _unread(
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
    rows = []
    for e in listing:
        name = printable(e.name) + ("/" if e.entry.kind.is_dir else "")
        if e.entry.kind is Kind.SYMLINK:
            name += " -> " + printable(e.entry.target or "")
        if e.entry.nlink > 1 and not e.entry.kind.is_dir:
            name += f"  [hard link: {e.entry.nlink} names]"
        seen = (Text("" if e.known else "unknown", style="yellow"),) if unsure else ()
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
    stdout_console().print(
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


@_incomplete
def cmd_cat(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    where = resolve_merged(stack, ctx.args.path)
    _unread(ctx, where.unknown, "a layer above the file shown may hide or replace it")
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


@_incomplete
def cmd_diff(ctx: Context) -> int:
    _, _, stack = _target(ctx)
    d = unified_diff(stack, ctx.args.path, max_hole_bytes=ctx.args.hash_max_holes)
    unread = [*stack.unread_at(d.path, above_winner=True)]
    unread += stack.below().unread_at(d.path, above_winner=True)
    _unread(ctx, unread, "a layer above a version shown may hide or replace it")
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
    console = stdout_console()
    for label, v in (("beneath", d.old), ("now", d.new)):
        line = Text(f"{label:8}", style="bold")
        if v is None:
            line.append("(absent)")
        else:
            kind = v.type if v.kind == "other" else v.kind  # say fifo, socket, device
            line.append(
                f"{kind} {size(v.size)} sha256:{(v.sha256 or '-')[:16]}  "
                f"layer {short(v.layer_id)} ({v.role})"
            )
            if v.target is not None:
                line.append(" -> " + printable(v.target))
        console.print(line)
    if d.identical:
        console.print("identical content")
    elif d.text is not None:
        for text in shown_lines(d.text):
            if not console.is_terminal:  # as written: Rich would expand the header's tab
                console.file.write(text + "\n")
                continue
            style = (
                "green"
                if text.startswith("+")
                else "red"
                if text.startswith("-")
                else "cyan"
                if text.startswith("@@")
                else ""
            )
            console.print(Text(text, style=style))
    if d.note:  # also beside "identical": a digest left out says why
        console.print(safe(d.note, style="dim"))
    return ExitCode.OK
