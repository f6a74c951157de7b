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

import os
import stat
from collections.abc import Collection, Iterator
from enum import StrEnum

from overlayscope.errors import OverlayscopeError
from overlayscope.record import record, replace
from overlayscope.root.model import ChangeRule
from overlayscope.scan.columns import Columns
from overlayscope.scan.entry import Entry, Kind, LayerIndex
from overlayscope.union.content import CHUNK
from overlayscope.union.copyup import copy_up_kind, moved_copy_up
from overlayscope.union.extents import same_fd_content
from overlayscope.union.layerfiles import LayerFiles, fd_xattr
from overlayscope.union.lookup import StackLayer
from overlayscope.union.stack import LayerStack

CAPABILITY_XATTR = "security.capability"


class ChangeKind(StrEnum):
    """`docker diff`'s letters."""

    ADDED = "A"
    CHANGED = "C"
    DELETED = "D"


@record
class Change:
    """One line of `docker diff`, with the facts behind it.

    `entry` and `size` describe the new entry for "A"/"C" and the deleted one
    for "D". `copy_up` says whether the new entry is a copy-up as `union/copyup.py`
    classifies it, for every front end alike: a "C" whose new entry lives in the
    top layer as a copy of the same kind of entry beneath (a regular file copied
    up, a dir re-created in the upper by copy-up), or an "A" file copied up and
    then renamed or hard-linked there; an opaque dir re-made after `rm -rf` is
    never a copy-up. `content` is "changed" or "same" ("same bytes") for a "C"
    between two regular files (None otherwise). `meta` lists the fields that
    differ from the version beneath, among "mode", "uid", "gid", "mtime",
    "size", and, rarely, "rdev" and "capability". `nlink` is the entry's link count in
    its layer (more than 1: a non-dir with other names, one inode; its bytes count once).
    """

    path: str
    kind: ChangeKind
    entry: str
    size: int
    copy_up: bool = False
    content: str | None = None
    meta: tuple[str, ...] = ()
    layer_id: str | None = None  # the layer holding the new entry ("A"/"C") or the old one ("D")
    # A file the engine itself put in the container's layer (Podman's /etc/hosts…), which
    # its own diff leaves out: shown apart.
    runtime: bool = False
    nlink: int = 1

    @property
    def hard_link(self) -> bool:
        """A non-directory with other names in its layer: one inode, its bytes counted once."""
        return self.nlink > 1 and self.entry not in (Kind.DIR, Kind.OPAQUE_DIR)


# A node of a merged view, as the differ needs it: the winning entry, the position of
# its layer, and the positions of the dirs merged there (winner first; () for non-dirs).
# What `resolve_child` computes, without the hidden hits and blockers nobody asks for here.
_Node = tuple[Entry, int, tuple[int, ...]]
_Listing = list[tuple[str, Entry]]

_KIND_NAME = {kind: str(kind) for kind in Kind}
_CAPABLE = frozenset({Kind.FILE, Kind.DIR, Kind.OPAQUE_DIR})  # kinds whose capability is read
_DIRS = frozenset({Kind.DIR, Kind.OPAQUE_DIR})  # `Kind.is_dir`, without a property call


def changes(
    stack: LayerStack,
    *,
    compare_content: bool = True,
    rule: ChangeRule = ChangeRule.COMPARE,
    runtime_files: Collection[str] = (),
) -> list[Change]:
    """What the engine's diff reports for a container stack (rw, init, image layers, top →
    bottom), by path: `docker diff` by default; `podman diff` with `ChangeRule.UPPER`
    (`upper_changes.py`). Changes at `runtime_files` (exact paths) are marked `runtime`.

    With `compare_content=False` no file data is read and `content` stays None.
    """
    if rule is ChangeRule.UPPER:
        from overlayscope.union.upper_changes import upper_changes

        found = upper_changes(stack, compare_content=compare_content)
    else:
        found = _compare_changes(stack, compare_content)
    if not runtime_files:
        return found
    marked = frozenset(runtime_files)
    return [replace(c, runtime=True) if c.path in marked else c for c in found]


def _compare_changes(stack: LayerStack, compare_content: bool) -> list[Change]:
    if not stack.layers:
        return []
    with LayerFiles() as files:
        out = Differ(stack, stack.below(), compare_content, files).run()
    out.sort(key=lambda change: change.path.encode("utf-8", "surrogateescape"))
    return out


@record(frozen=False, slots=False)
class _Frame:
    """A dir being compared: its children still to visit, and what to report after them."""

    new_children: Iterator[tuple[str, _Node]]
    old_children: dict[str, _Node]
    start: int  # len(out) when the dir was entered: more means changes beneath it
    unchanged: tuple[str, _Node, _Node] | None  # set when the dir itself was not a C
    merge: tuple[int, ...] = ()  # the new view's layers merged at this dir (top first)


class Differ:
    """`addChanges` as a loop (evidence trees may be deeper than Python's recursion limit)."""

    def __init__(
        self, new: LayerStack, old: LayerStack, compare_content: bool, files: LayerFiles
    ) -> None:
        self.new = new
        self.old = old
        self.new_layers = new.layers
        self.old_layers = old.layers
        self.compare_content = compare_content
        self.files = files

    def run(self) -> list[Change]:
        out: list[Change] = []
        new_root, old_root = _root(self.new_layers), _root(self.old_layers)
        if new_root is None:
            return out
        frames = [self._frame("/", new_root, old_root, 0, None)]
        append = out.append
        while frames:
            frame = frames[-1]
            step = next(frame.new_children, None)
            if step is None:
                frames.pop()
                out.extend(self.deleted(path, old) for path, old in frame.old_children.items())
                if frame.unchanged is not None and len(out) > frame.start:
                    # A dir with changes inside is reported even if it is unchanged itself.
                    append(self.changed(*frame.unchanged))
                continue
            path, new_child = step
            old_child = frame.old_children.pop(path, None)
            if old_child is None:
                self._added(path, new_child, out)
                continue
            caps = None
            if new_child[1] == old_child[1] + 1:
                changed = False  # the very same entry of the same layer on both sides
            elif _stat_different(old_child[0], new_child[0]):
                changed = True
            else:
                caps = self._capabilities(old_child, new_child)
                changed = caps[0] != caps[1]
            if changed:
                # beneath a dir the top layer made opaque, what the old view shows is cut
                # off: the new entry is no copy of it (`copy_up_kind`)
                hidden = old_child[1] + 1 not in frame.merge
                append(self.changed(path, old_child, new_child, caps, hidden=hidden))
            new_entry, _, new_merge = new_child
            if new_entry.kind in _DIRS and new_merge and new_merge[0] == 0:
                # Only dirs the top layer holds can differ beneath: elsewhere both views
                # merge the very same lower dirs, and Docker finds nothing there either.
                old_dir = old_child if old_child[0].kind in _DIRS else None
                unchanged = None if changed else (path, old_child, new_child)
                frames.append(self._frame(path, new_child, old_dir, len(out), unchanged))
        return out

    def _frame(
        self,
        path: str,
        new: _Node,
        old: _Node | None,
        start: int,
        unchanged: tuple[str, _Node, _Node] | None,
    ) -> _Frame:
        # the old view's layers are the new one's but the top: list each dir once
        listings: dict[int, _Listing | None] = {}
        old_children = _children(self.old_layers, path, old[2], listings) if old is not None else {}
        new_children = iter(_children(self.new_layers, path, new[2], listings).items())
        return _Frame(new_children, old_children, start, unchanged, new[2])

    def deleted(self, path: str, old: _Node) -> Change:
        entry, pos, _ = old
        return Change(
            path, ChangeKind.DELETED, _KIND_NAME[entry.kind], entry.size,
            layer_id=self.old_layers[pos].id, nlink=entry.nlink,
        )  # fmt: skip

    def _added(self, path: str, node: _Node, out: list[Change]) -> None:
        """An added entry and, for a dir, everything beneath it."""
        layers = self.new_layers
        added, kind_name = ChangeKind.ADDED, _KIND_NAME
        append = out.append
        pending = [(path, node)]
        while pending:
            path, (entry, pos, merge) = pending.pop()
            layer_id = layers[pos].id
            moved = pos == 0 and moved_copy_up(entry)  # renamed or hard-linked after copy-up
            append(
                Change(
                    path,
                    added,
                    kind_name[entry.kind],
                    entry.size,
                    moved,
                    layer_id=layer_id,
                    nlink=entry.nlink,
                )
            )
            if not merge:
                continue  # not a dir
            columns = layers[pos].index.columns
            if len(merge) == 1 and columns is not None:
                _added_beneath(columns, path, layer_id, out, top=pos == 0)
            else:
                pending.extend(_children(layers, path, merge).items())

    def _capabilities(self, old: _Node, new: _Node) -> tuple[bytes | None, bytes | None]:
        """Docker compares `security.capability` of both sides."""
        return (
            self._capability(self.old_layers, old),
            self._capability(self.new_layers, new),
        )

    def _capability(self, layers: tuple[StackLayer, ...], node: _Node) -> bytes | None:
        entry, pos, _ = node
        if entry.kind not in _CAPABLE:
            return None
        try:
            return self.files.xattr(layers[pos].content_dir, entry.path, CAPABILITY_XATTR)
        except (OSError, OverlayscopeError):
            # Gone since the scan (a live container), or no tree on disk: no capability.
            return None

    def changed(
        self,
        path: str,
        old: _Node,
        new: _Node,
        caps: tuple[bytes | None, bytes | None] | None = None,
        *,
        hidden: bool = False,
    ) -> Change:
        """A "C"; `hidden`: the old entry is cut off from the new view (an opaque dir of
        the top layer above it), so the new one is not its copy."""
        a, old_pos, _ = old
        b, new_pos, _ = new
        copy_up = new_pos == 0 and copy_up_kind(b, None if hidden else a) is not None
        content: str | None = None
        if new_pos == old_pos + 1:
            caps = (None, None)  # the very same entry: nothing to read
        elif a.kind is Kind.FILE and b.kind is Kind.FILE:
            # both files are opened once: for the capability and, if asked, the bytes
            cap_a, cap_b, content = self._files(old, new, caps)
            caps = (cap_a, cap_b)
        elif caps is None:
            caps = self._capabilities(old, new)
        meta = meta_differences(a, b)
        if caps[0] != caps[1]:
            meta.append("capability")
        return Change(
            path, ChangeKind.CHANGED, _KIND_NAME[b.kind], b.size,
            copy_up, content, tuple(meta), self.new_layers[new_pos].id, nlink=b.nlink,
        )  # fmt: skip

    def _files(
        self, old: _Node, new: _Node, caps: tuple[bytes | None, bytes | None] | None
    ) -> tuple[bytes | None, bytes | None, str | None]:
        """Both files' capabilities (unless known) and, with `compare_content`, whether
        their bytes differ: "changed", "same", or None when a side cannot be read."""
        want_content = self.compare_content
        if not want_content and caps is not None:
            return caps[0], caps[1], None
        fds: list[int | None] = []
        for layers, (entry, pos, _) in ((self.old_layers, old), (self.new_layers, new)):
            try:
                fds.append(self.files.open_fd(layers[pos].content_dir, entry.path))
            except (OSError, OverlayscopeError):
                # Gone or replaced since the scan (a live container), or unreadable.
                fds.append(None)
        fd_a, fd_b = fds
        try:
            if caps is None:
                caps = (_fd_capability(fd_a), _fd_capability(fd_b))
            content: str | None = None
            if want_content:
                if old[0].size != new[0].size:
                    content = "changed"
                elif fd_a is not None and fd_b is not None:
                    try:
                        content = "same" if same_fd_content(fd_a, fd_b, chunk=CHUNK) else "changed"
                    except OSError:
                        content = None
            return caps[0], caps[1], content
        finally:
            for fd in fds:
                if fd is not None:
                    os.close(fd)


def _added_beneath(c: Columns, path: str, layer_id: str, out: list[Change], *, top: bool) -> None:
    """Everything beneath the dir `path` that shows from one layer alone (no other layer
    merges there, so every entry but a whiteout shows as it is), straight from the
    layer's columns: no lookups and no `Entry` objects. `top`: the layer is the
    container's own, whose files may be moved copy-ups (`overlay.origin`)."""
    slot = c.slot_of_path(path)
    if slot is None:
        return
    attrs, attr, sizes, nlinks = c.attrs, c.attr, c.size, c.nlink
    xattrs = c.xattrs if top else {}
    added, kind_name, whiteout, file = ChangeKind.ADDED, _KIND_NAME, Kind.WHITEOUT, Kind.FILE
    append = out.append
    pending = [slot]
    while pending:
        slot = pending.pop()
        for i, child in zip(c.child_range(slot), c.child_paths(slot), strict=True):
            kind = attrs[attr[i]][0]
            if kind is whiteout:
                continue
            x = xattrs.get(i) if xattrs else None
            moved = x is not None and kind is file and x.origin is not None
            append(
                Change(
                    child,
                    added,
                    kind_name[kind],
                    sizes[i],
                    moved,
                    layer_id=layer_id,
                    nlink=nlinks[i],
                )
            )
            if kind in _DIRS and (sub := c.slot_of_entry(i)) is not None:
                pending.append(sub)


def _fd_capability(fd: int | None) -> bytes | None:
    if fd is None:
        return None
    try:
        return fd_xattr(fd, CAPABILITY_XATTR)
    except OSError:
        return None


def _stat_different(a: Entry, b: Entry) -> bool:
    """`statDifferent` without the capability (which the caller reads only if needed)."""
    if a.mode != b.mode or a.uid != b.uid or a.gid != b.gid or a.rdev != b.rdev:
        return True
    # Docker tests the S_IFDIR bit, so block devices and sockets (whose type
    # bits include it) are compared like dirs: mtime and size ignored.
    return a.mode & stat.S_IFDIR != stat.S_IFDIR and (
        not same_fs_time(a.mtime_ns, b.mtime_ns) or a.size != b.size
    )


def _root(layers: tuple[StackLayer, ...]) -> _Node | None:
    """The merged root: every layer's diff root merges (`resolve_root`)."""
    merge = [pos for pos, layer in enumerate(layers) if layer.index.get("/") is not None]
    if not merge:
        return None
    entry = layers[merge[0]].index.get("/")
    assert entry is not None
    return entry, merge[0], tuple(merge)


def _listing(index: LayerIndex, path: str) -> _Listing | None:
    """The children of dir `path` of a scanned index, straight from its columns (no
    lookups); None for an index built by hand."""
    c = index.columns
    if c is None:
        return None
    slot = c.slot_of_path(path)
    if slot is None:
        return []
    entry_at = c.entry_at
    return [
        (p, entry_at(i, p)) for i, p in zip(c.child_range(slot), c.child_paths(slot), strict=True)
    ]


def _children(
    layers: tuple[StackLayer, ...],
    path: str,
    merge: tuple[int, ...],
    listings: dict[int, _Listing | None] | None = None,
) -> dict[str, _Node]:
    """The visible children of the merged dir `path` (`merge`: its merged layers, top
    first), by path: `resolve_child`'s winner and merge for each name. `listings` keeps
    each layer's listing of `path` (by `id` of its index) for another call on `path`."""

    def listed(index: LayerIndex) -> _Listing | None:
        if listings is None:
            return _listing(index, path)
        key = id(index)
        if key not in listings:
            listings[key] = _listing(index, path)
        return listings[key]

    if len(merge) == 1:
        pos = merge[0]
        listing = listed(layers[pos].index)
        if listing is not None:  # one dir: everything but whiteouts shows, as it is
            whiteout, own = Kind.WHITEOUT, (pos,)
            return {
                p: (e, pos, own if e.kind in _DIRS else ())
                for p, e in listing
                if e.kind is not whiteout
            }
    hits: dict[str, list[tuple[int, Entry]]] = {}
    for pos in merge:
        listing = listed(layers[pos].index)
        if listing is None:
            break
        for p, e in listing:
            found = hits.get(p)
            if found is None:
                hits[p] = [(pos, e)]
            else:
                found.append((pos, e))
    else:
        return {p: node for p, found in hits.items() if (node := _resolve(found)) is not None}
    # an index built by hand: every name any merged layer lists, looked up in each
    names: dict[str, None] = {}
    for pos in merge:
        for p in layers[pos].index.children.get(path, ()):
            names[p] = None
    out: dict[str, _Node] = {}
    for p in names:
        entries = [(pos, layers[pos].index.get(p)) for pos in merge]
        node = _resolve([(pos, hit) for pos, hit in entries if hit is not None])
        if node is not None:
            out[p] = node
    return out


def _resolve(found: list[tuple[int, Entry]]) -> _Node | None:
    """The kernel's lookup of one name over its entries in the merged layers, top first
    (`resolve_child`): the winner and the dirs merged, or None if nothing shows."""
    winner: tuple[Entry, int] | None = None
    merge: list[int] = []
    for pos, e in found:
        kind = e.kind
        if kind is Kind.WHITEOUT:
            break  # gone from here down
        if kind in _DIRS:
            if winner is None:
                winner = (e, pos)
            merge.append(pos)
            if kind is Kind.OPAQUE_DIR:
                break
        else:
            if winner is None:
                winner = (e, pos)
            break  # a non-dir ends the lookup (beneath a dir: ignored, and ends the merge)
    if winner is None:
        return None
    return winner[0], winner[1], tuple(merge)


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
