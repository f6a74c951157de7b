"""What `docker diff` reports for a container, computed from the layers on disk.

Docker 20.10's overlay2 driver answers `Changes` with the naive diff
(`daemon/graphdriver/overlay2/overlay.go: Driver.Changes` →
`graphdriver.NaiveDiffDriver.Changes` → `pkg/archive.ChangesDirs`): it mounts
the container's layer (rw over init over the image) and its parent (the init
layer over the image) and compares the two merged trees. `OverlayChanges`,
which reads the upper dir alone, is not used for `docker diff`. So this
module compares the merged view of the whole stack with the merged view of
the stack without its top layer, with `ChangesDirs`' rules
(`FileInfo.addChanges`, `statDifferent`, `sameFsTime`):

- a name only in the new view is "A", and so is everything beneath it;
- a name only in the old view is "D" (a deleted dir is one "D", its children
  are not listed);
- a name in both is "C" when mode (type and permission bits), uid, gid or
  rdev differ, or `security.capability` differs, or, unless the old one is a
  dir, its mtime (same second and either nanosecond part 0 counts as equal)
  or size differ; dirs are compared child by child only when the new one is
  a dir;
- a dir that is not itself "A" or "C" but has a change anywhere beneath it
  is "C"; the root is never reported.

Beyond the engine, each change carries what overlayscope knows: the entry's
kind and size, whether it is a copy-up of what was beneath, whether a
regular file's bytes changed, and which metadata fields differ.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from overlayscope.errors import OverlayscopeError
from overlayscope.scan.entry import Entry, Kind
from overlayscope.union.content import layer_xattr, same_content
from overlayscope.union.lookup import Resolution, StackLayer, resolve_child
from overlayscope.union.stack import LayerStack

CAPABILITY_XATTR = "security.capability"


class ChangeKind(StrEnum):
    """`docker diff`'s letters."""

    ADDED = "A"
    CHANGED = "C"
    DELETED = "D"


@dataclass(frozen=True, slots=True)
class Change:
    """One line of `docker diff`, with the facts behind it.

    `entry` and `size` describe the new entry for "A"/"C" and the deleted one
    for "D". `copy_up` is True for a "C" whose new entry lives in the top
    layer as a copy of the same kind of entry beneath (a regular file copied
    up, a dir re-created in the upper by copy-up); an opaque dir re-made after
    `rm -rf` is not a copy-up. `content` is "changed" or "same" for a "C"
    between two regular files (None otherwise). `meta` lists the fields that
    differ from the version beneath, among "mode", "uid", "gid", "mtime",
    "size", and, rarely, "rdev" and "capability".
    """

    path: str
    kind: ChangeKind
    entry: str
    size: int
    copy_up: bool = False
    content: str | None = None
    meta: tuple[str, ...] = ()
    layer_id: str | None = None  # the layer holding the new entry ("A"/"C") or the old one ("D")


@dataclass(frozen=True, slots=True)
class _Side:
    """One merged node: its resolution in a stack."""

    res: Resolution

    @property
    def entry(self) -> Entry:
        assert self.res.winner is not None
        return self.res.winner.entry

    @property
    def position(self) -> int:
        assert self.res.winner is not None
        return self.res.winner.position


def changes(stack: LayerStack, *, compare_content: bool = True) -> list[Change]:
    """`docker diff` for a container stack (rw, init, image layers, top → bottom), by path.

    With `compare_content=False` no file data is read and `content` stays None.
    """
    if not stack.layers:
        return []
    out = _Differ(stack, stack.below(), compare_content).run()
    out.sort(key=lambda change: change.path.encode("utf-8", "surrogateescape"))
    return out


@dataclass
class _Frame:
    """A dir being compared: its children still to visit, and what to report after them."""

    new_children: Iterator[tuple[str, Resolution]]
    old_children: dict[str, Resolution]
    start: int  # len(out) when the dir was entered: more means changes beneath it
    unchanged: tuple[str, _Side, _Side] | None  # set when the dir itself was not a C


class _Differ:
    """`addChanges` as a loop (evidence trees may be deeper than Python's recursion limit)."""

    def __init__(self, new: LayerStack, old: LayerStack, compare_content: bool) -> None:
        self.new = new
        self.old = old
        self.compare_content = compare_content

    def run(self) -> list[Change]:
        out: list[Change] = []
        frames = [self._frame(self.new.resolve("/"), self.old.resolve("/"), 0, None)]
        while frames:
            frame = frames[-1]
            step = next(frame.new_children, None)
            if step is None:
                frames.pop()
                out.extend(self._deleted(path, old) for path, old in frame.old_children.items())
                if frame.unchanged is not None and len(out) > frame.start:
                    # A dir with changes inside is reported even if it is unchanged itself.
                    out.append(self._changed(*frame.unchanged))
                continue
            path, new_child = step
            old_child = frame.old_children.pop(path, None)
            if old_child is None:
                out.extend(self._added(new_child))
                continue
            new_side, old_side = _Side(new_child), _Side(old_child)
            changed = self._stat_different(old_side, new_side)
            if changed:
                out.append(self._changed(path, old_side, new_side))
            if new_side.entry.kind.is_dir and 0 in new_child.merge:
                # Only dirs the top layer holds can differ beneath: elsewhere both views
                # merge the very same lower dirs, and Docker finds nothing there either.
                old_dir = old_child if old_side.entry.kind.is_dir else None
                unchanged = None if changed else (path, old_side, new_side)
                frames.append(self._frame(new_child, old_dir, len(out), unchanged))
        return out

    def _frame(
        self,
        new: Resolution,
        old: Resolution | None,
        start: int,
        unchanged: tuple[str, _Side, _Side] | None,
    ) -> _Frame:
        old_children = self._children(self.old.layers, old) if old is not None else {}
        new_children = iter(self._children(self.new.layers, new).items())
        return _Frame(new_children, old_children, start, unchanged)

    def _deleted(self, path: str, old: Resolution) -> Change:
        side = _Side(old)
        return Change(
            path=path,
            kind=ChangeKind.DELETED,
            entry=str(side.entry.kind),
            size=side.entry.size,
            layer_id=self.old.layers[side.position].id,
        )

    def _children(self, layers: tuple[StackLayer, ...], res: Resolution) -> dict[str, Resolution]:
        names: dict[str, None] = {}
        for pos in res.merge:
            for name_path in layers[pos].index.children.get(res.path, ()):
                names[name_path] = None
        found: dict[str, Resolution] = {}
        for path in names:
            child = resolve_child(layers, res, path)
            if child.winner is not None:
                found[path] = child
        return found

    def _added(self, res: Resolution) -> Iterator[Change]:
        """An added entry and, for a dir, everything beneath it."""
        pending = [res]
        while pending:
            res = pending.pop()
            side = _Side(res)
            yield Change(
                path=res.path,
                kind=ChangeKind.ADDED,
                entry=str(side.entry.kind),
                size=side.entry.size,
                layer_id=self.new.layers[side.position].id,
            )
            if side.entry.kind.is_dir:
                pending.extend(self._children(self.new.layers, res).values())

    def _stat_different(self, old: _Side, new: _Side) -> bool:
        if new.position == old.position + 1:
            return False  # the very same entry of the same layer on both sides
        a, b = old.entry, new.entry
        if a.mode != b.mode or a.uid != b.uid or a.gid != b.gid or a.rdev != b.rdev:
            return True
        # Docker tests the S_IFDIR bit, so block devices and sockets (whose type
        # bits include it) are compared like dirs: mtime and size ignored.
        if a.mode & stat.S_IFDIR != stat.S_IFDIR and (
            not same_fs_time(a.mtime_ns, b.mtime_ns) or a.size != b.size
        ):
            return True
        return self._capability_differs(old, new)

    def _capability_differs(self, old: _Side, new: _Side) -> bool:
        if new.position == old.position + 1:
            return False
        return self._capability(self.old, old) != self._capability(self.new, new)

    def _capability(self, stack: LayerStack, side: _Side) -> bytes | None:
        if side.entry.kind not in (Kind.FILE, Kind.DIR, Kind.OPAQUE_DIR):
            return None
        layer = stack.layers[side.position]
        try:
            return layer_xattr(layer.diff_dir, side.entry.path, CAPABILITY_XATTR)
        except (OSError, OverlayscopeError):
            # Gone since the scan (a live container), or no tree on disk: no capability.
            return None

    def _changed(self, path: str, old: _Side, new: _Side) -> Change:
        a, b = old.entry, new.entry
        in_top = new.position == 0
        same_kind = a.kind == b.kind or (a.kind.is_dir and b.kind is Kind.DIR)
        content: str | None = None
        if a.kind is Kind.FILE and b.kind is Kind.FILE and self.compare_content:
            content = self._content(old, new)
        meta = meta_differences(a, b)
        if self._capability_differs(old, new):
            meta.append("capability")
        return Change(
            path=path,
            kind=ChangeKind.CHANGED,
            entry=str(b.kind),
            size=b.size,
            copy_up=in_top and same_kind,
            content=content,
            meta=tuple(meta),
            layer_id=self.new.layers[new.position].id,
        )

    def _content(self, old: _Side, new: _Side) -> str | None:
        if old.entry.size != new.entry.size:
            return "changed"
        old_layer = self.old.layers[old.position]
        new_layer = self.new.layers[new.position]
        try:
            same = same_content(
                old_layer.diff_dir, old.entry.path, new_layer.diff_dir, new.entry.path
            )
        except (OSError, OverlayscopeError):
            # Gone or replaced since the scan (a live container), or unreadable: unknown.
            return None
        return "same" if same else "changed"


def same_fs_time(a_ns: int, b_ns: int) -> bool:
    """Docker's `sameFsTime`: equal, or the same second with either nanosecond part 0.

    Tar keeps whole seconds only, so a file unpacked from a layer tarball and
    its copy elsewhere may differ in nanoseconds alone.
    """
    if a_ns == b_ns:
        return True
    a_sec, a_nsec = divmod(a_ns, 1_000_000_000)
    b_sec, b_nsec = divmod(b_ns, 1_000_000_000)
    return a_sec == b_sec and (a_nsec == 0 or b_nsec == 0)


def meta_differences(old: Entry, new: Entry) -> list[str]:
    """The metadata fields that differ between two entries (exact, no tar rounding)."""
    fields: list[str] = []
    if old.mode != new.mode:
        fields.append("mode")
    if old.uid != new.uid:
        fields.append("uid")
    if old.gid != new.gid:
        fields.append("gid")
    if old.mtime_ns != new.mtime_ns:
        fields.append("mtime")
    if old.size != new.size:
        fields.append("size")
    if old.rdev != new.rdev:
        fields.append("rdev")
    return fields
