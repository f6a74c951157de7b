"""Listings the C helper wrote column by column, on their way into a layer's `Columns`.

`_listdir.list_dir_columns` appends each directory's entries, sorted by name, to
the eleven bytearrays of a `ColumnStage` as raw machine values. Every few thousand
entries `flush_into` moves them into the index's columns: names into the blob,
(kind, mode, uid, gid) into the layer's attr table, and each numeric column with
one `array.extend` over a memoryview, narrowing as `columns.widened` allows. No
Python object is made per entry on the way, which is what makes the C listing pay.
"""

from __future__ import annotations

from collections.abc import Callable

from overlayscope.scan.columns import Attr, Columns, widened
from overlayscope.scan.entry import Kind

# kind codes in the staged `kind << 16 | mode`: the helper's five, then those only
# overlay xattrs decide (set by `set_kind`)
KIND_CODES = (Kind.FILE, Kind.DIR, Kind.SYMLINK, Kind.WHITEOUT, Kind.OTHER, Kind.OPAQUE_DIR)
CODE_OF = {kind: code for code, kind in enumerate(KIND_CODES)}
# staged numeric columns: (bytearray position, column name, signed)
_NUMERIC = ((5, "size", True), (6, "blocks", True), (7, "mtime", True), (8, "ctime", True),
            (9, "ino", False), (10, "nlink", False))  # fmt: skip


_WIDTHS = (4, 4, 4, 8, 8, 8, 8, 8, 8)  # bytes an entry, from kind<<16|mode on


class ColumnStage:
    """The bytearrays `list_dir_columns` fills, and the symlink targets it returned."""

    __slots__ = ("buffers", "count", "targets")

    def __init__(self) -> None:
        # names, name lengths, kind<<16|mode, uid, gid, size, blocks, mtime, ctime, ino, nlink
        self.buffers = tuple(bytearray() for _ in range(11))
        self.count = 0  # entries staged
        self.targets: list[tuple[int, bytes]] = []  # (index in the layer, target bytes)

    def set_kind(self, i: int, kind: Kind) -> None:
        """Entry `i` of the stage is of `kind` (its overlay xattrs said so)."""
        with memoryview(self.buffers[2]).cast("I") as kindmodes:
            kindmodes[i] = CODE_OF[kind] << 16 | (kindmodes[i] & 0xFFFF)

    def flush_into(
        self,
        c: Columns,
        attr_ids: dict[tuple[int, int, int], int],
        attr_id: Callable[[Attr], int],
        blob: bytearray,
        targets: bytearray,
    ) -> None:
        """Append the staged entries to `c`, their names to `blob` and link targets to
        `targets`; a new (kind, mode, uid, gid) goes through `attr_id` (which fills `attr_ids`)."""
        n = self.count
        if not n:
            return
        # Only the `n` counted entries: a listing the helper has just written may follow
        # them, not yet handed to the builder (it flushes when the next dir's begins).
        bufs = self.buffers
        lens = bufs[1][:n]
        sizes = (sum(lens), n, *(n * width for width in _WIDTHS))
        with memoryview(bufs[0]) as names:
            blob += names[: sizes[0]]
        c.add_name_ends(lens)
        with (
            memoryview(bufs[2]).cast("I") as kindmodes,
            memoryview(bufs[3]).cast("I") as uids,
            memoryview(bufs[4]).cast("I") as gids,
        ):
            keys = list(zip(kindmodes[:n], uids[:n], gids[:n], strict=True))
        for key in dict.fromkeys(keys):
            if key not in attr_ids:
                attr_id((KIND_CODES[key[0] >> 16], key[0] & 0xFFFF, key[1], key[2]))
        c.attr = widened(c.attr, list(map(attr_ids.__getitem__, keys)), "attr")
        for at, name, signed in _NUMERIC:
            with memoryview(bufs[at]).cast("q" if signed else "Q") as values:
                setattr(c, name, widened(getattr(c, name), values[:n], name))
        if self.targets:
            c.add_links([e for e, _ in self.targets], [t for _, t in self.targets], targets)
            self.targets = []
        for buf, size in zip(bufs, sizes, strict=True):
            del buf[:size]
        self.count = 0
