"""Writing one synthetic `diff/` tree, entry by entry, the way overlay2 leaves it on disk.

`DiffWriter` makes the entries (regular files with real bytes, sparse files, symlinks,
hard links, whiteouts as 0/0 char devices, opaque dirs with `trusted.overlay.opaque=y`,
copy-ups with `trusted.overlay.origin`), counts them, and sums the layer's size the way the
daemon does (moby `directory.Size`: every non-directory, each inode once, `st_size`).
`grow_packages` fills a layer with package-like subtrees; `Mix` holds the file-size mix.
"""

from __future__ import annotations

import os
import random
import stat
from dataclasses import dataclass

_DATA_BYTES = 16 << 20
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_SYLLABLES = ("lib", "ssl", "core", "util", "net", "http", "json", "xml", "py", "gtk", "qt",
              "mod", "data", "base", "conf", "log", "app", "web", "db", "cache", "rt", "io",
              "fs", "crypto", "zip", "img", "font", "icu", "sys", "proc", "auth", "tls", "std",
              "test", "doc", "man", "share", "gen")  # fmt: skip
_EXTS = ("so", "py", "pyc", "h", "js", "ts", "json", "txt", "conf", "gz", "mo", "png", "md", "")
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Mix:
    """What a tree is made of: shares of entries, and the regular-file size distribution.

    Sizes are log-normal (median `e**mu` bytes) capped at `cap`, with `empty` of the files
    zero-length: the long tail of a real image (many small files, a few big binaries).
    """

    symlinks: float = 0.07
    hardlinks: float = 0.01
    dirs: float = 0.11
    sparse: float = 0.0002
    empty: float = 0.06
    executable: float = 0.05
    mu: float = 7.2  # median ~1.3 KiB
    sigma: float = 1.5
    cap: int = 8 * MIB


class DiffWriter:
    """Creates entries under one `diff/` dir; paths are relative to it, with no leading "/".

    Tracks what it made (`kinds`: path → "d", "f", "l", "w"), the regular files and dirs
    (for later layers to copy up, overwrite or delete), the entry count (the diff root
    included) and `size`, the layer size as the daemon records it.
    """

    def __init__(self, content_dir: str, rng: random.Random, data: bytes, mtime_ns: int) -> None:
        self.root = content_dir
        self.rng = rng
        self.data = memoryview(data)
        self.mtime_ns = mtime_ns
        self.kinds: dict[str, str] = {"": "d"}
        self.files: list[str] = []
        self.dirs: list[str] = []
        self.count = 1
        self.size = 0
        os.makedirs(content_dir, mode=0o755, exist_ok=False)

    def _abs(self, rel: str) -> str:
        return self.root + "/" + rel

    def free(self, rel: str) -> bool:
        """Can `rel` be created here: not yet used, and no parent is a non-directory?"""
        if rel in self.kinds:
            return False
        parent = rel.rpartition("/")[0]
        while parent:
            kind = self.kinds.get(parent)
            if kind is not None:
                return kind == "d"
            parent = parent.rpartition("/")[0]
        return True

    def ensure_dir(self, rel: str, mode: int = 0o755) -> bool:
        """Make `rel` and its missing parents as plain dirs; False if a non-dir is in the way."""
        if not rel:
            return True
        kind = self.kinds.get(rel)
        if kind is not None:
            return kind == "d"
        if not self.ensure_dir(rel.rpartition("/")[0]):
            return False
        os.mkdir(self._abs(rel), mode)
        self.kinds[rel] = "d"
        self.dirs.append(rel)
        self.count += 1
        return True

    def _slot(self, rel: str) -> bool:
        return self.free(rel) and self.ensure_dir(rel.rpartition("/")[0])

    def file(
        self,
        rel: str,
        size: int,
        *,
        mode: int = 0o644,
        uid: int = 0,
        content: bytes | None = None,
        mtime_ns: int | None = None,
    ) -> bool:
        """A regular file of `size` bytes (random, or `content`)."""
        if not self._slot(rel):
            return False
        fd = os.open(self._abs(rel), _FLAGS, mode)
        try:
            if content is not None:
                size = len(content)
                os.write(fd, content)
            elif size:
                start = self.rng.randrange(0, _DATA_BYTES - size) if size < _DATA_BYTES else 0
                view, left = self.data[start : start + size], size
                while left:
                    written = os.write(fd, view[size - left :])
                    left -= written
            if uid:
                os.fchown(fd, uid, uid)
            when = self.mtime_ns if mtime_ns is None else mtime_ns
            os.utime(fd, ns=(when, when))
        finally:
            os.close(fd)
        self.kinds[rel] = "f"
        self.files.append(rel)
        self.count += 1
        self.size += size
        return True

    def sparse(self, rel: str, apparent: int) -> bool:
        """A sparse file: `apparent` bytes long, a few 4 KiB blocks written."""
        if not self._slot(rel):
            return False
        fd = os.open(self._abs(rel), _FLAGS, 0o644)
        try:
            for offset in (0, apparent // 2, apparent - 4 * KIB):
                os.pwrite(fd, self.data[: 4 * KIB], offset)
        finally:
            os.close(fd)
        self.kinds[rel] = "f"
        self.files.append(rel)
        self.count += 1
        self.size += apparent
        return True

    def symlink(self, rel: str, target: str) -> bool:
        if not self._slot(rel):
            return False
        os.symlink(target, self._abs(rel))
        self.kinds[rel] = "l"
        self.count += 1
        self.size += len(os.fsencode(target))
        return True

    def hardlink(self, rel: str, existing: str) -> bool:
        """A second name for a file of this layer: one more entry, no more bytes."""
        if self.kinds.get(existing) != "f" or not self._slot(rel):
            return False
        os.link(self._abs(existing), self._abs(rel))
        self.kinds[rel] = "h"
        self.count += 1
        return True

    def whiteout(self, rel: str) -> bool:
        """Delete `rel` of a lower layer: a 0/0 character device."""
        if not self._slot(rel):
            return False
        os.mknod(self._abs(rel), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        self.kinds[rel] = "w"
        self.count += 1
        return True

    def opaque_dir(self, rel: str) -> bool:
        """A dir that hides everything beneath it (`rm -rf d; mkdir d` in a later layer)."""
        if not self._slot(rel):
            return False
        os.mkdir(self._abs(rel), 0o755)
        os.setxattr(self._abs(rel), "trusted.overlay.opaque", b"y")
        self.kinds[rel] = "d"
        self.dirs.append(rel)
        self.count += 1
        return True

    def set_xattr(self, rel: str, name: str, value: bytes) -> None:
        os.setxattr(self._abs(rel), name, value, follow_symlinks=False)

    def random_size(self, mix: Mix) -> int:
        if self.rng.random() < mix.empty:
            return 0
        return min(int(self.rng.lognormvariate(mix.mu, mix.sigma)), mix.cap)


def random_name(rng: random.Random, ext: bool = True) -> str:
    """A plausible file or dir name: syllables, sometimes a version, sometimes an extension."""
    name = rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES)
    if rng.random() < 0.5:
        name += "_" + rng.choice(_SYLLABLES)
    if rng.random() < 0.3:
        name += str(rng.randrange(100))
    if ext:
        suffix = rng.choice(_EXTS)
        if suffix:
            name += "." + suffix
    return name


def grow_packages(
    w: DiffWriter,
    roots: list[str],
    budget: int,
    mix: Mix,
    *,
    package_size: tuple[int, int] = (20, 600),
    shared: tuple[str, ...] = ("usr/bin", "usr/lib/x86_64-linux-gnu"),
    uid: int = 0,
) -> None:
    """Fill `w` with `budget` more entries as package trees under `roots`.

    A package is a subtree under one of `roots` (`usr/lib/<pkg>/…`), whose files go to
    recently made dirs (so depth grows like real trees: a few levels, sometimes ten), plus
    a few entries in the `shared` dirs every package adds to (binaries, `.so` files and
    their version symlinks), which become wide.
    """
    rng = w.rng
    goal = w.count + budget
    while w.count < goal:
        base = rng.choice(roots) + "/" + random_name(rng, ext=False)
        if not w.free(base) or not w.ensure_dir(base):
            continue
        n = min(rng.randint(*package_size), goal - w.count)
        dirs = [base]
        made_files: list[str] = []
        for _ in range(n):
            parent = dirs[max(0, len(dirs) - 1 - int(rng.expovariate(0.7)))]
            r = rng.random()
            if r < mix.dirs:
                child = parent + "/" + random_name(rng, ext=False)
                if w.ensure_dir(child):
                    dirs.append(child)
            elif r < mix.dirs + mix.symlinks and made_files:
                target = os.path.relpath(rng.choice(made_files), parent)
                w.symlink(parent + "/" + random_name(rng), target)
            elif r < mix.dirs + mix.symlinks + mix.hardlinks and made_files:
                w.hardlink(parent + "/" + random_name(rng), rng.choice(made_files))
            elif rng.random() < mix.sparse:
                w.sparse(parent + "/" + random_name(rng, ext=False) + ".img", rng.choice(
                    (64 * MIB, 256 * MIB, 1024 * MIB)
                ))  # fmt: skip
            else:
                rel = parent + "/" + random_name(rng)
                mode = 0o755 if rng.random() < mix.executable else 0o644
                if w.file(rel, w.random_size(mix), mode=mode, uid=uid):
                    made_files.append(rel)
        if shared and w.count < goal and rng.random() < 0.5:
            lib = rng.choice(shared) + "/lib" + random_name(rng, ext=False)
            if w.file(lib + ".so.1.2", w.random_size(mix), mode=0o755):
                w.symlink(lib + ".so.1", lib.rpartition("/")[2] + ".so.1.2")


def wide_dir(w: DiffWriter, rel: str, entries: int, mix: Mix) -> None:
    """One directory holding `entries` files (a zoneinfo, a cache, a mail spool)."""
    w.ensure_dir(rel)
    for i in range(entries):
        w.file(f"{rel}/entry-{i:07d}.dat", w.random_size(mix))


def deep_chain(w: DiffWriter, rel: str, depth: int) -> None:
    """A `depth`-level chain of dirs with a file at each level (nested vendored deps)."""
    path = rel
    for level in range(depth):
        path += f"/node_modules/dep{level}"
        w.ensure_dir(path)
        w.file(path + "/package.json", 300 + level)
