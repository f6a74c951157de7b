"""`df` for a person: the categories, top consumers, containers and volumes as tables."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from overlayscope.cli.ansi import write_line
from overlayscope.cli.plain import short, size
from overlayscope.cli.text_table import Cell, Styled, cell, table, write_table
from overlayscope.names import plural, printable
from overlayscope.root.model import Host
from overlayscope.union.copyup import SAME_BYTES
from overlayscope.usage.df import Category, DiskUsage
from overlayscope.usage.footprint import FileUsage

if TYPE_CHECKING:  # copy-up's machinery (and the diff engine) loads for --containers only
    from overlayscope.usage.copyup import CopiedUp

ROLE_LABELS = {
    Category.IMAGE_LAYERS: "image layer",
    Category.CONTAINER_LAYERS: "rw layer",
    Category.INIT_LAYERS: "init layer",
    Category.ORPHANS: "orphan",
    Category.UNRESOLVED: "unresolved layer",
}
_LABELS = {
    Category.IMAGE_LAYERS: "image layers",
    Category.CONTAINER_LAYERS: "container writable layers",
    Category.INIT_LAYERS: "container init layers",
    Category.ORPHANS: "orphaned layer dirs",
    Category.UNRESOLVED: "unresolved layer dirs",
    Category.CONTAINER_LOGS: "container logs",
    Category.VOLUMES: "volumes",
    Category.BUILD_CACHE: "build cache",
    Category.CONTENT_STORE: "content store blobs",
    Category.OTHER: "other",
}


def print_df(root: str, host: Host, du: DiskUsage, *, with_copy_ups: bool) -> None:
    """`df`'s answer on stdout: `root` as the user named it, then each table."""
    write_line(printable(f"Data root {root}"), "bold")
    _categories(du)
    _top(host, du)
    _containers(du, with_copy_ups=with_copy_ups)
    _volumes(du)
    _notes(du)


def _categories(du: DiskUsage) -> None:
    rows = [
        (
            _LABELS[c.category],
            size(c.apparent),
            size(c.allocated),
            size(c.reclaimable),
            str(c.count),
        )
        for c in du.categories
    ]
    reclaimable = sum(c.reclaimable for c in du.categories)
    rows.append(("total", size(du.total.apparent), size(du.total.allocated), size(reclaimable), ""))
    cols = ["category", "apparent", "allocated", "reclaimable", "count"]
    write_line()
    write_table(table(None, cols, rows, right=cols[1:]))


def _top(host: Host, du: DiskUsage) -> None:
    if du.top:
        rows = [
            (
                t.kind.replace("_", " "),
                cell(t.name or short(t.id)),
                short(t.id) if t.kind not in ("volume", "build_cache") else "",
                size(t.allocated),
                size(t.apparent),
                Styled("yes", "green") if t.reclaimable else "no",
            )
            for t in du.top
        ]
        cols = ["what", "name", "id", "allocated", "apparent", "reclaimable"]
        write_line()
        write_table(
            table("Top consumers", cols, rows, right=["allocated", "apparent"], flexible=["name"])
        )
    if du.top_files:
        files = [(size(f.allocated), size(f.apparent), *_where(host, du, f)) for f in du.top_files]
        cols = ["allocated", "apparent", "in", "file"]
        write_line()
        write_table(
            table("Largest files", cols, files, right=["allocated", "apparent"], flexible=["file"])
        )


def _where(host: Host, du: DiskUsage, f: FileUsage) -> tuple[Cell, Cell]:
    """(what holds the file, its path there): a layer's or volume's own path, short ids."""
    category = Category(f.category)
    layer = host.layers.get(f.owner) if category in ROLE_LABELS else None
    volume = host.volumes.get(f.owner) if category is Category.VOLUMES else None
    inside = layer.content_dir if layer else volume.data_dir if volume else None
    if inside is not None:
        inside = os.path.normpath(inside)
        if f.path.startswith(inside + "/"):
            what = (
                f"{ROLE_LABELS[category]} {short(f.owner)}" if layer else cell(f"volume {f.owner}")
            )
            return what, cell(f.path[len(inside) :])
    for root in du.roots or (du.root,):
        if f.path.startswith(root + "/"):
            return _LABELS[category], cell(f.path[len(root) + 1 :])
    return _LABELS[category], cell(f.path)


def _containers(du: DiskUsage, *, with_copy_ups: bool) -> None:
    if not du.containers:
        return
    cols = ["container", "name", "state", "SizeRw", "on disk", "logs"]
    rows = [
        (
            short(c.id), cell(c.name), c.state, size(c.size),
            size(c.writable.allocated + c.init.allocated), size(c.logs.allocated),
        )
        for c in du.containers
    ]  # fmt: skip
    write_line()
    write_table(table("Containers", cols, rows, right=cols[3:], flexible=["name"]))
    if with_copy_ups:
        _copy_ups(du)


def _copy_ups(du: DiskUsage) -> None:
    cols = ["name", "copied up", "files", SAME_BYTES, "files", "added", "files"]
    rows = [
        (
            cell(c.name),
            size(u.copied_up_bytes), str(u.copied_up_files),
            size(u.metadata_only_bytes), str(u.metadata_only_files),
            size(u.added_bytes), str(u.added_files),
        )
        for c in du.containers
        if (u := c.copy_ups) is not None
    ]  # fmt: skip
    write_line()
    write_table(
        table(f"Copy-ups ({SAME_BYTES}: copied up for a metadata change only)", cols, rows,
              right=cols[1:], flexible=["name"])
    )  # fmt: skip
    items: list[tuple[Cell, ...]] = []
    for c in du.containers:
        if c.copy_ups is None:
            continue
        for up in c.copy_ups.largest_copy_ups:
            items.append((cell(c.name), "copy-up", size(up.size), cell(up.path), _why(up)))
        for add in c.copy_ups.largest_additions:
            items.append(
                (cell(c.name), "added", size(add.size), cell(add.path), _links(add.nlink).strip())
            )
    if items:
        cols = ["name", "what", "size", "path", "note"]
        write_line()
        write_table(
            table("Largest copy-ups and additions", cols, items, right=["size"],
                  flexible=["name", "path", "note"])
        )  # fmt: skip


def _why(up: CopiedUp) -> str:
    return _why_copied(up) + _links(up.nlink)


def _why_copied(up: CopiedUp) -> str:
    if up.moved:
        return "renamed or linked here"
    if up.content == "same":
        return SAME_BYTES + (f", {', '.join(up.meta)} changed" if up.meta else "")
    if up.content is None:
        return "content unknown (could not be read)"
    return "content changed"


def _links(nlink: int) -> str:
    """The mark of a hard link, as `container` and `ls` write it."""
    return f" [hard link: {nlink} names]" if nlink > 1 else ""


def _volumes(du: DiskUsage) -> None:
    if not du.volumes:
        return
    rows = [
        (
            cell(v.name),
            size(v.size),
            size(v.allocated),
            "?" if v.containers is None else str(len(v.containers)),
            Styled("yes", "green") if v.reclaimable else "no",
        )
        for v in du.volumes
    ]
    cols = ["volume", "size", "allocated", "containers", "reclaimable"]
    write_line()
    write_table(table("Volumes", cols, rows, right=cols[1:4], flexible=["volume"]))


def _notes(du: DiskUsage) -> None:
    write_line()
    write_line(
        "apparent: file sizes (st_size; a layer's diff/ counts as the daemon counts it); "
        "allocated: blocks on disk, as du; hard links once. reclaimable: allocated bytes "
        "Docker's prune commands would free (overlayscope deletes nothing).",
        wrap=True,
    )
    if du.skipped_mounts:
        write_line(
            f"{plural(len(du.skipped_mounts), 'mount point')} below the root not crossed "
            "(running containers' merged/ and shm: their bytes are counted in their layers).",
            wrap=True,
        )
    if du.problems:
        first = du.problems[0]
        write_line(
            printable(
                f"{plural(len(du.problems), 'path')} could not be read; first: "
                f"{first.path} ({first.detail})"
            ),
            "yellow",
        )
