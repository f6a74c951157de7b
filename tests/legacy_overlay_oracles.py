"""Oracles for the legacy `overlay` tests: the engine's own layer tarballs and the kernel.

`saved_layers` lists every layer tarball of `docker save` (what the engine says each layer
holds); `tar_winners` is the topmost tarball holding each visible path; `dive_figures` is
dive's efficiency read from those tarballs (docs/usage.md); `kernel_tree`/`kernel_view` walk
a tree the kernel shows (an overlay mount). Shared by the engine tests, the capture script
(fixtures/legacy-overlay/capture.py) and the captured-root tests, which read the same
listings back from answers.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.engine import EngineError, PrivateEngine

# --------------------------------------------------------------------------- kernel views


def kernel_tree(merged: Path) -> dict[str, tuple[str, int]]:
    """A mounted (or plain) tree as the kernel shows it: path → (kind, lstat size)."""
    tree: dict[str, tuple[str, int]] = {}
    dev = merged.lstat().st_dev
    for dirpath, dirnames, filenames in os.walk(merged):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = full.lstat()
            if st.st_dev != dev and stat.S_ISDIR(st.st_mode):
                dirnames.remove(name)  # a mount inside: not part of the tree
            kind = kind_of(st.st_mode)
            tree["/" + str(full.relative_to(merged))] = (kind, 0 if kind == "dir" else st.st_size)
    return tree


def kind_of(mode: int) -> str:
    """`dir`, `symlink`, `file` or `other`, as the merged-view comparisons name them."""
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "other"


def kernel_view(merged: Path) -> dict[str, list[Any]]:
    """`kernel_tree` with what each entry holds: path → [kind, size, the sha256 of a
    file's bytes or a symlink's target]."""
    out: dict[str, list[Any]] = {}
    for path, (kind, size) in kernel_tree(merged).items():
        full = merged / path.lstrip("/")
        held = (
            hashlib.sha256(full.read_bytes()).hexdigest() if kind == "file"
            else os.readlink(full) if kind == "symlink" else None
        )  # fmt: skip
        out[path] = [kind, size, held]
    return out


# --------------------------------------------------------------------------- layer tarballs


@dataclass(frozen=True)
class SavedLayer:
    """One layer of `docker save`: the tarball the engine itself gives for it."""

    diff_id: str
    entries: dict[str, str]  # path → file, dir, symlink, hardlink, other
    whiteouts: frozenset[str]  # paths a `.wh.` entry deletes
    sizes: dict[str, int]  # regular files (a hard link entry: 0, as the tar stores it)

    def as_json(self) -> dict[str, Any]:
        return {
            "diff_id": self.diff_id,
            "entries": dict(sorted(self.entries.items())),
            "whiteouts": sorted(self.whiteouts),
            "sizes": dict(sorted(self.sizes.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SavedLayer:
        return cls(
            data["diff_id"], dict(data["entries"]), frozenset(data["whiteouts"]),
            dict(data["sizes"]),
        )  # fmt: skip


def saved_layers(eng: PrivateEngine, image: str, scratch: Path) -> list[SavedLayer]:
    """`docker save IMAGE`, its layers bottom → top."""
    archive = scratch / "saved.tar"
    eng.docker("save", "--output", str(archive), image)
    out = []
    with tarfile.open(archive) as outer:
        manifest = json.load(_member(outer, "manifest.json"))
        config = json.load(_member(outer, manifest[0]["Config"]))
        for name, diff_id in zip(manifest[0]["Layers"], config["rootfs"]["diff_ids"], strict=True):
            with tarfile.open(fileobj=_member(outer, name)) as layer:
                out.append(_saved(diff_id, layer))
    archive.unlink()
    return out


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    f = tar.extractfile(name)
    if f is None:
        raise EngineError(f"{name} is not a file in the saved image")
    return f


def _saved(diff_id: str, layer: tarfile.TarFile) -> SavedLayer:
    entries: dict[str, str] = {}
    whiteouts: set[str] = set()
    sizes: dict[str, int] = {}
    for m in layer.getmembers():
        path = os.path.normpath("/" + m.name)
        if path == "/":
            continue
        parent, _, name = path.rpartition("/")
        if name.startswith(".wh."):
            if name == ".wh..wh..opq":
                raise EngineError("the naive diff never writes opaque markers")
            whiteouts.add(f"{parent}/{name.removeprefix('.wh.')}")
            continue
        kind = (
            "dir" if m.isdir() else "symlink" if m.issym() else "hardlink" if m.islnk()
            else "file" if m.isreg() else "other"
        )  # fmt: skip
        entries[path] = kind
        if m.isreg() or m.islnk():
            sizes[path] = m.size
    # A dir the tarball does not list but needs (`usr/` for `usr/bin/`) is made by applying
    # it: the layer holds it all the same.
    for path in list(entries) + list(whiteouts):
        while (path := os.path.dirname(path)) != "/":
            entries.setdefault(path, "dir")
    return SavedLayer(diff_id, entries, frozenset(whiteouts), sizes)


# --------------------------------------------------------------------------- what they imply


def tar_winners(layers: list[tuple[str, SavedLayer]]) -> dict[str, str]:
    """path → the topmost layer whose tarball holds it, for what stays visible."""
    visible: dict[str, str] = {}
    for lid, layer in layers:  # bottom → top
        for gone in layer.whiteouts:
            for path in [p for p in visible if p == gone or p.startswith(gone + "/")]:
                del visible[path]
        for path in layer.entries:
            visible[path] = lid
    return visible


def dive_figures(layers: list[SavedLayer]) -> dict[str, Any]:
    """dive's figures from the layer tarballs (docs/usage.md): every leaf of a layer, or
    whiteout, is a sighting; a dir's whiteout counts what lies beneath it."""
    sightings: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        parents = {os.path.dirname(p) for p in [*layer.entries, *layer.whiteouts]}
        for path in layer.entries:
            if path not in parents:
                sightings.setdefault(path, []).append(layer.sizes.get(path, 0))
        for path in layer.whiteouts:
            beneath = _under(path, layers[:i])
            sightings.setdefault(path, []).append(sum(beneath) if _was_dir(path, layers[:i]) else 0)
    paths = {p: (len(s), sum(s)) for p, s in sightings.items() if len(s) > 1}
    every = sum(sum(s) for s in sightings.values())
    smallest = sum(min(s) for s in sightings.values())
    return {
        "paths": paths,
        "wasted": sum(total for _, total in paths.values()),
        "score": smallest / every if every else 1.0,
        "content": [sum(layer.sizes.values()) for layer in layers],
        "hidden": _hidden(layers),
    }


def _under(path: str, layers: Iterable[SavedLayer]) -> list[int]:
    return [s for la in layers for p, s in la.sizes.items() if p.startswith(path + "/")]


def _was_dir(path: str, layers: Iterable[SavedLayer]) -> bool:
    return any(la.entries.get(path) == "dir" for la in layers)


def _hidden(layers: list[SavedLayer]) -> list[int]:
    """Per layer, regular-file bytes a later layer replaces or deletes (overlayfs's rules)."""
    out = []
    for i, layer in enumerate(layers):
        hidden = 0
        for path, size in layer.sizes.items():
            ancestors = [path, *_ancestors(path)]
            if any(
                (p in la.whiteouts)
                or (p == path and p in la.entries)
                or (p != path and la.entries.get(p, "dir") != "dir")
                for la in layers[i + 1 :]
                for p in ancestors
            ):
                hidden += size
        out.append(hidden)
    return out


def _ancestors(path: str) -> list[str]:
    out = []
    while (path := os.path.dirname(path)) != "/":
        out.append(path)
    return out
