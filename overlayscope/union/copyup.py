"""The one copy-up classification, shared by `container`, `df --containers`, the TUI and
`audit` (docs/union.md, "Copy-up").

overlayfs copies an entry of a lower layer up into the writable layer before the first
write, chmod, chown or touch of it, before a rename and before a hard link to it. What the
writable layer then holds is a **copy-up**:

- *in place*: the entry kept its path, and the layers beneath hold the same kind of entry
  there, not cut off by an opaque dir of the writable layer (a plain dir over a dir is a
  dir copied up to hold a changed child);
- *moved*: a regular file carrying `overlay.origin` (the kernel's handle of the lower
  inode it was copied from) with nothing beneath at its own path: copied up, then
  renamed there (`mv`) or given that name by a hard link (`ln`).

Never a copy-up: a new entry (a `cp` makes a new inode, whatever its bytes), an opaque dir
(re-made after `rm -rf`, over a dir beneath or an opaque one), a whiteout. When a file
copy-up holds the very same bytes as the file beneath, only its metadata changed: **same
bytes** (JSON `content: "same"`), the whole file copied for nothing.
"""

from __future__ import annotations

from enum import StrEnum

from overlayscope.scan.entry import Entry, Kind

# The one term for "a copy-up whose data equals the file beneath" in every front end.
SAME_BYTES = "same bytes"


class CopyUpKind(StrEnum):
    """How an entry of the writable layer came to be a copy-up."""

    IN_PLACE = "in-place"
    MOVED = "moved"


def copy_up_kind(new: Entry, old: Entry | None) -> CopyUpKind | None:
    """Whether the writable layer's entry `new` is a copy-up, and which kind.

    `old` is the entry the layers beneath show at the same path, or None when they show
    nothing there or the writable layer cuts it off (an opaque dir above it).
    """
    if new.kind in (Kind.OPAQUE_DIR, Kind.WHITEOUT):
        return None
    if old is not None and (old.kind == new.kind or (old.kind.is_dir and new.kind is Kind.DIR)):
        return CopyUpKind.IN_PLACE
    return CopyUpKind.MOVED if moved_copy_up(new) else None


def moved_copy_up(new: Entry) -> bool:
    """A file with nothing beneath at its path that still carries `overlay.origin`."""
    return new.kind is Kind.FILE and new.xattrs is not None and new.xattrs.origin is not None
