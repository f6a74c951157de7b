"""`container` for a person: the changes as a tree (a list past LARGE), then the totals."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from overlayscope.cli.output import print_table, stdout_console, table
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
    console: Console = stdout_console()
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
