"""`container` for a person: the changes as a tree (a list past LARGE), then the totals.

Written as plain text, without Rich (~25 ms of imports): the tree is drawn as Rich draws
one on a unicode terminal, styled with ANSI codes only where Rich would colour
(`cli/ansi.py`); a line is never folded, whatever the width.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import TextIO

from overlayscope.cli.ansi import Paint, painter, terminal_columns, unstyled
from overlayscope.cli.plain import LARGE, short, size
from overlayscope.names import printable
from overlayscope.root.model import Container
from overlayscope.scan.entry import Kind, parent_of
from overlayscope.union import Change
from overlayscope.union.summary import ChangeTotals
from overlayscope.union.unread import UnreadPart

KIND_STYLE = {"A": "green", "C": "yellow", "D": "red"}


def print_changes(
    obj: Container,
    found: list[Change],
    runtime: list[Change],
    totals: ChangeTotals,
    unread: Sequence[UnreadPart],
) -> None:
    """The container's header, its changes, their totals and what is left unknown."""
    out = sys.stdout
    paint = painter(out)
    header = paint(printable(obj.name) or short(obj.id), "bold")
    lines = [f"{header}  {short(obj.id)}  {obj.state}  rw layer {short(obj.layer)}"]
    if len(found) > LARGE:  # a tree that large is unreadable and slow to draw: a list
        lines.append("change")
        lines.extend(_change_line(c) for c in found)
    else:
        columns = terminal_columns(out)  # None: no terminal, every line whole
        depth = MAX_TREE_DEPTH if columns is None else max(4, (columns - 40) // 4)
        lines.extend(_change_tree(found, min(MAX_TREE_DEPTH, depth), paint))
    lines.append(_totals_line(totals, paint))
    if unread:  # beside the totals they leave short; the warnings on stderr say why
        where = ", ".join(f"{printable(p.path)} ({p.role})" for p in unread)
        lines.append(paint(f"incomplete: unknown at or beneath {where}", "yellow"))
    if runtime:
        lines.append(
            paint(
                "written by the engine for the runtime, left out of its own diff: "
                + ", ".join(f"{c.kind} {printable(c.path)}" for c in runtime),
                "dim",
            )
        )
    _write(out, lines)  # a reader gone away (`| head`): BrokenPipeError, for cli.main


_BATCH = 4096  # lines joined into one write


def _write(out: TextIO, lines: list[str]) -> None:
    write = out.write
    for start in range(0, len(lines), _BATCH):
        write("\n".join(lines[start : start + _BATCH]) + "\n")


# A change deeper than this (or than the terminal leaves room for, 4 columns a level)
# hangs from its ancestor at that depth, labelled with its path below it (elided past
# ELIDE chars), so it still shows and no line runs off far to the right.
MAX_TREE_DEPTH = 32
ELIDE = 120

# the guides Rich draws a tree with on a unicode terminal, and where the encoding is not one
_GUIDES = ("    ", "│   ", "├── ", "└── ")
_ASCII_GUIDES = ("    ", "|   ", "+-- ", "`-- ")


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


def _change_label(change: Change, name: str | None, paint: Paint) -> str:
    if name is None:
        name = "/" if change.path == "/" else change.path.rsplit("/", 1)[-1]
    return "".join(paint(text, style) for text, style in _label_parts(change, name))


def _change_line(change: Change) -> str:
    """A change on one plain line with its path, escaped and elided like the tree's labels
    (the list for huge change sets; --json has every path whole)."""
    return "".join(text for text, _ in _label_parts(change, change.path))


# a node of the tree: its change, its name when not the last part of its path, its children
_Node = tuple[Change, str | None, list["_Node"]]


def _change_tree(
    found: list[Change], max_depth: int = MAX_TREE_DEPTH, paint: Paint = unstyled
) -> list[str]:
    """The lines of the tree of `found` (sorted by path), "/" first, none deeper than
    `max_depth` levels: a deeper change hangs from its ancestor at that depth."""
    top: list[_Node] = []
    nodes: dict[str, list[_Node]] = {"/": top}

    def add(children: list[_Node], change: Change, name: str | None = None) -> list[_Node]:
        below: list[_Node] = []
        children.append((change, name, below))
        return below

    for change in found:  # sorted by path: parents come before their children
        names = change.path.split("/")
        if len(names) - 1 > max_depth:
            anchor = "/".join(names[: max_depth + 1])
            while anchor not in nodes:  # that ancestor is no change itself: the nearest listed
                anchor = parent_of(anchor)
            add(nodes[anchor], change, change.path[len(anchor) :].lstrip("/"))
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
            nodes[change.path] = add(nodes[anchor], change, below)
            continue
        nodes[change.path] = add(parent, change)
    return _drawn(top, paint)


def _drawn(top: list[_Node], paint: Paint) -> list[str]:
    """The tree's lines, depth first, without recursion."""
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower()
    space, pipe, fork, end = _GUIDES if encoding.startswith("utf") else _ASCII_GUIDES
    lines = [paint("/", "bold")]
    stack: list[tuple[list[_Node], int, str]] = [(top, 0, "")]
    while stack:
        children, i, indent = stack.pop()
        if i >= len(children):
            continue
        last = i == len(children) - 1
        stack.append((children, i + 1, indent))
        change, name, below = children[i]
        guide = paint(indent + (end if last else fork), "dim")
        lines.append(guide + _change_label(change, name, paint))
        if below:
            stack.append((below, 0, indent + (space if last else pipe)))
    return lines


def _totals_line(t: ChangeTotals, paint: Paint) -> str:
    return "".join(
        [
            paint(f"{t.added} added ({size(t.added_bytes)})", "green"),
            ", ",
            paint(f"{t.changed} changed ({size(t.changed_bytes)})", "yellow"),
            ", ",
            paint(f"{t.deleted} deleted ({size(t.deleted_bytes)})", "red"),
            f"; {t.copied_up} copied up ({size(t.copied_up_bytes)}), ",
            f"{t.metadata_only} with the same bytes ({size(t.metadata_only_bytes)})",
            # what the numbers count (docs/json.md `totals`)
            paint(" [counts: entries, dirs included; bytes: files, hard links once]", "dim"),
        ]
    )
