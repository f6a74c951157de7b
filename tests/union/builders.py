"""Small layer stacks for the union tests, by hand or as real trees on disk.

A layer is described by lines, one entry each:

    f /etc/passwd                 a regular file
    f /etc/shadow mode=600 uid=0 size=12 mtime=5 data=secret
    d /etc                        a directory (parents are added as plain dirs)
    o /opt                        an opaque directory (overlay.opaque=y)
    w /etc/old                    a whiteout (char device 0/0)
    l /bin -> usr/bin             a symlink
    x /dev/null                   something else (a char device in memory, a fifo on disk);
                                  type=blk|sock|fifo|chr sets the in-memory file type

`index()` builds a `LayerIndex` in memory; `materialize()` writes the same
lines as a real diff tree (whiteouts and opaque dirs need root), where each
file's default content is "<layer>:<path>".
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from overlayscope.scan.entry import Entry, Kind, LayerIndex, OverlayXattrs, parent_of
from overlayscope.union import LayerStack, StackLayer

_KINDS = {
    "f": Kind.FILE,
    "d": Kind.DIR,
    "o": Kind.OPAQUE_DIR,
    "w": Kind.WHITEOUT,
    "l": Kind.SYMLINK,
    "x": Kind.OTHER,
}
_FMT = {
    Kind.FILE: stat.S_IFREG,
    Kind.DIR: stat.S_IFDIR,
    Kind.OPAQUE_DIR: stat.S_IFDIR,
    Kind.WHITEOUT: stat.S_IFCHR,
    Kind.SYMLINK: stat.S_IFLNK,
    Kind.OTHER: stat.S_IFCHR,
}
_DEFAULT_PERM = {Kind.DIR: 0o755, Kind.OPAQUE_DIR: 0o755, Kind.SYMLINK: 0o777}


@dataclass
class Spec:
    """One parsed line."""

    kind: Kind
    path: str
    target: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def perm(self) -> int:
        if "mode" in self.attrs:
            return int(self.attrs["mode"], 8)
        return _DEFAULT_PERM.get(self.kind, 0o644)


def parse(lines: Iterable[str] | str) -> list[Spec]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    specs: list[Spec] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        letter, rest = line.split(None, 1)
        target = None
        if " -> " in rest:
            rest, target_and_attrs = rest.split(" -> ", 1)
            target, *more = target_and_attrs.split()
            rest = " ".join([rest, *more])
        path, *attr_words = rest.split()
        attrs = dict(word.split("=", 1) for word in attr_words)
        specs.append(Spec(_KINDS[letter], path, target, attrs))
    return specs


_ino = [1000]


_TYPES = {"blk": stat.S_IFBLK, "sock": stat.S_IFSOCK, "fifo": stat.S_IFIFO, "chr": stat.S_IFCHR}


def _entry(spec: Spec) -> Entry:
    _ino[0] += 1
    kind = spec.kind
    fmt = _TYPES[spec.attrs["type"]] if "type" in spec.attrs else _FMT[kind]
    xattrs = OverlayXattrs(opaque=True) if kind is Kind.OPAQUE_DIR else None
    size = int(spec.attrs.get("size", len(spec.target or "") if kind is Kind.SYMLINK else 0))
    if kind is Kind.FILE and "size" not in spec.attrs and "data" in spec.attrs:
        size = len(spec.attrs["data"])
    return Entry(
        path=spec.path,
        kind=kind,
        mode=fmt | spec.perm,
        uid=int(spec.attrs.get("uid", 0)),
        gid=int(spec.attrs.get("gid", 0)),
        size=size,
        blocks=0,
        mtime_ns=int(spec.attrs.get("mtime", 0)),
        ctime_ns=0,
        ino=_ino[0],
        nlink=1,
        rdev=int(spec.attrs.get("rdev", 1 if kind is Kind.OTHER else 0)),
        target=spec.target,
        xattrs=xattrs,
    )


def _dir_spec(path: str) -> Spec:
    return Spec(Kind.DIR, path)


def index(lines: Iterable[str] | str, content_dir: str = "/nonexistent/diff") -> LayerIndex:
    """A `LayerIndex` from spec lines; missing parents become plain dirs."""
    idx = LayerIndex(content_dir=content_dir)

    def add(spec: Spec) -> None:
        if spec.path in idx.entries:
            return
        if spec.path != "/":
            add(_dir_spec(parent_of(spec.path)))
            idx.children.setdefault(parent_of(spec.path), []).append(spec.path)
        idx.entries[spec.path] = _entry(spec)
        if spec.kind.is_dir:
            idx.children.setdefault(spec.path, [])

    specs = parse(lines)
    explicit = {spec.path: spec for spec in specs}
    add(explicit.get("/", _dir_spec("/")))
    for spec in specs:
        # Explicit specs win over implied parents: add deeper ones after their parents.
        for ancestor in _ancestors(spec.path):
            if ancestor in explicit:
                add(explicit[ancestor])
        add(spec)
    return idx


def _ancestors(path: str) -> list[str]:
    out: list[str] = []
    while path != "/":
        path = parent_of(path)
        out.append(path)
    return list(reversed(out))


def stack(*layers: tuple[str, Iterable[str] | str]) -> LayerStack:
    """A stack from `(id, lines)` pairs, top first; an id "name:role" sets the role."""
    built = []
    for layer_id, lines in layers:
        name, _, role = layer_id.partition(":")
        built.append(StackLayer(name, role or "image", index(lines)))
    return LayerStack(tuple(built))


# -- real trees ----------------------------------------------------------------


def materialize(root: Path, lines: Iterable[str] | str, layer_id: str = "") -> Path:
    """Write spec lines as a real diff tree under `root`; return `root`."""
    root.mkdir(parents=True, exist_ok=True)
    specs = parse(lines)
    times: list[tuple[Path, int]] = []
    for spec in specs:
        path = root / spec.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = spec.kind
        if kind in (Kind.DIR, Kind.OPAQUE_DIR):
            path.mkdir(exist_ok=True)
            if kind is Kind.OPAQUE_DIR:
                os.setxattr(path, "trusted.overlay.opaque", b"y")
        elif kind is Kind.FILE:
            data = spec.attrs.get("data", f"{layer_id}:{spec.path}")
            path.write_bytes(data.encode())
        elif kind is Kind.SYMLINK:
            assert spec.target is not None
            os.symlink(spec.target, path)
        elif kind is Kind.WHITEOUT:
            os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(0, 0))
        else:
            os.mkfifo(path)
        if kind is not Kind.SYMLINK:
            os.chmod(path, spec.perm)
            if "uid" in spec.attrs or "gid" in spec.attrs:
                os.chown(path, int(spec.attrs.get("uid", 0)), int(spec.attrs.get("gid", 0)))
        if "mtime" in spec.attrs:
            times.append((path, int(spec.attrs["mtime"])))
    for path, mtime in times:  # after every child exists, so dir mtimes stick
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
    return root
