"""Timeline entries as Sleuth Kit 3 bodyfile lines (mactime, plaso) and as CSV rows.

Bodyfile: `MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`.

- MD5: `0`, or with `--hash` the file's real MD5 (plaso refuses anything but 32 hex
  digits there; the SHA-256 is in the CSV and JSON forms).
- name: `OWNER:ROLE:LAYER:PATH`: OWNER the container's name (`@image` for an image layer),
  ROLE `rw`, `init` or `image`, LAYER the first 12 hex digits of the overlay2 dir id, then
  the path inside the container. A symlink is `NAME -> TARGET`. Escapes: `\\` for a
  backslash, `\\xNN` for control characters (newline included, as plaso expects), for a
  pipe (`\\x7c`: mactime splits on every `|`, escaped or not) and for bytes that are not
  UTF-8; `\\uNNNN` for invisible format characters.
- mode_as_string: as `fls -m` writes it, `r/rrw-r--r--`; a whiteout is `w/c---------`
  (TSK's whiteout name type over the char device overlayfs uses).
- times: whole seconds since the epoch (mactime reads integers); crtime is 0 (not read).
"""

from __future__ import annotations

import stat

from overlayscope.audit.timeline import TimelineEntry, TimelineLayer
from overlayscope.audit.times import iso_ns

IMAGE_OWNER = "@image"
_TYPE_LETTER = {
    "file": "r",
    "dir": "d",
    "symlink": "l",
    "char": "c",
    "block": "b",
    "fifo": "p",
    "socket": "s",
    "whiteout": "w",
    "other": "-",
}
_OWNER_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def escape(text: str, *, pipe: bool = True) -> str:
    """Escape a name for a bodyfile line (`pipe`) or a CSV cell (pipe kept)."""
    if text.isprintable() and "\\" not in text and (not pipe or "|" not in text):
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "|" and pipe:
            out.append("\\x7c")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def owner(layer: TimelineLayer) -> str:
    """The OWNER field: `@image`, or a container name as Docker allows them
    (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`); any other character (from a crafted config) as \\xNN."""
    if layer.role == "image":
        return IMAGE_OWNER
    name = layer.container_name or (layer.container or "unknown")[:12]
    return "".join(
        ch
        if ch in _OWNER_OK and (i or ch.isalnum())
        else "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
        for i, ch in enumerate(name)
    )


def label(layer: TimelineLayer) -> str:
    """`OWNER:ROLE:LAYER:`, the prefix of every name of this layer."""
    return f"{owner(layer)}:{layer.role}:{layer.layer_id[:12]}:"


def mode_string(entry: TimelineEntry) -> str:
    """`fls -m` style: the name's type, `/`, the inode's type and permission bits."""
    letter = _TYPE_LETTER.get(entry.type, "-")
    meta = letter
    if entry.type == "whiteout":  # a char device 0/0, or (xattr whiteout) an empty file
        meta = "c" if stat.S_ISCHR(entry.mode) else "r"
    return f"{letter}/{meta}{stat.filemode(entry.mode)[1:]}"


def bodyfile_name(entry: TimelineEntry) -> str:
    name = label(entry.layer) + escape(entry.path)
    if entry.type == "symlink" and entry.target is not None:
        name += " -> " + escape(entry.target).replace(" -> ", " -\\x3e ")
    return name


def bodyfile_line(entry: TimelineEntry) -> str:
    """One bodyfile line, without the newline."""
    return "|".join(
        (
            entry.md5 or "0",
            bodyfile_name(entry),
            str(entry.inode),
            mode_string(entry),
            str(entry.uid),
            str(entry.gid),
            str(entry.size),
            str(entry.atime_ns // 1_000_000_000),
            str(entry.mtime_ns // 1_000_000_000),
            str(entry.ctime_ns // 1_000_000_000),
            "0",
        )
    )


CSV_HEADER = (
    "owner",
    "container",
    "role",
    "layer",
    "path",
    "type",
    "mode",
    "uid",
    "gid",
    "size",
    "inode",
    "nlink",
    "atime",
    "mtime",
    "ctime",
    "target",
    "md5",
    "sha256",
)


def csv_row(entry: TimelineEntry) -> list[str]:
    """One CSV row (times ISO 8601 UTC with nanoseconds; names escaped, formulas defused)."""
    layer = entry.layer
    return [
        owner(layer),
        layer.container or "",
        layer.role,
        layer.layer_id,
        _cell(escape(entry.path, pipe=False)),
        entry.type,
        mode_string(entry),
        str(entry.uid),
        str(entry.gid),
        str(entry.size),
        str(entry.inode),
        str(entry.nlink),
        iso_ns(entry.atime_ns),
        iso_ns(entry.mtime_ns),
        iso_ns(entry.ctime_ns),
        _cell(escape(entry.target, pipe=False)) if entry.target is not None else "",
        entry.md5 or "",
        entry.sha256 or "",
    ]


def _cell(text: str) -> str:
    # A cell starting like a formula would run in a spreadsheet: names are evidence.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
