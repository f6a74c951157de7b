"""A cache of scanned committed image layers, outside the inspected root.

A committed image layer's `diff/` never changes while the layer exists: Docker never
writes to it again, and removing the layer removes the dir. So its scan is kept,
keyed by the layer id and the identity of its `diff/` dir (`st_dev`, `st_ino`,
`st_ctime_ns`): a layer removed and re-created, restored from a backup, or touched
in any way gets a new identity, and the entry is simply not used. An entry also records
which overlay xattrs its scan took for metadata (`trusted`, `user`, or either): it serves
only a scan that asks for the same. The caller says which layers qualify
(`scan_layers(..., cacheable=...)`); a container's rw or init layer never does.

Entries live in `$XDG_CACHE_HOME/overlayscope/scan-cache/` (default `~/.cache`), one
file per layer in a data-only format (no pickle: a file is parsed, never executed): a
JSON header, then the raw bytes of each column (`columns.py`), then the SHA-256 of all
that. Writes are atomic (a temporary file renamed into place); a file that is missing,
truncated, garbage, fails its checksum, is no regular file (a FIFO is never waited on: it
is opened non-blocking and checked by `fstat` before any read), is written by another user
or for another identity is a miss. Nothing is ever written into the inspected tree:
`cache_for(root)` gives no cache (None, which `scan_layers` keeps: no cache) when the cache
dir lies inside the root — by its real path, symlinks of the dir and its existing ancestors
resolved, or by identity (a bind mount of the root) — and its cache checks again before it
reads or writes; `store` writes nothing for a layer on a read-only mount (forensic evidence) —
nor when the cache dir cannot be written, silently.

`set_enabled(False)` (the CLI's `--no-cache`) turns the default cache off for the process.
`set_read_only_mounts(True)` lets it keep layers on read-only mounts too: for a long-lived
exporter given a live host's root read-only (a DaemonSet's `hostPath`), whose identities
stay those of the host's filesystem. Mounted evidence keeps the rule: a loop device's
`st_dev` is reused by the next image mounted on it, so its identities prove nothing.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import re
import stat
import struct
import time
from array import array
from collections.abc import Iterable
from enum import Enum
from typing import Any

from overlayscope.digest import LARGE, large_sha256, sha256
from overlayscope.record import record
from overlayscope.scan.columns import COLUMNS, Columns
from overlayscope.scan.entry import Kind, LayerIndex, OverlayXattrs
from overlayscope.scan.sizes import LayerSums, layer_sums
from overlayscope.userfiles import read_at_most

MAGIC = b"OVSCAN\x00\x01"
FORMAT = 5  # 4: the header records `overlay_xattrs`; 5: a SHA-256 of the file ends it
_HEADER = struct.Struct("<I")
_CHECKSUM = 32  # bytes of a SHA-256
# Opening an entry never blocks (a FIFO planted in its place) nor follows a symlink.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_MAX_AGE = 30 * 86400  # entries not used for this long are removed when one is written
_SAFE_KEY = re.compile(r"^[0-9a-f]{64}(-init)?$")
_enabled = True
_read_only_mounts = False


def set_enabled(enabled: bool) -> None:
    """Turn the default cache on or off for this process (`--no-cache`)."""
    global _enabled
    _enabled = enabled


def set_read_only_mounts(allowed: bool) -> None:
    """Let `store` keep layers that lie on a read-only mount (module docstring: `serve`)."""
    global _read_only_mounts
    _read_only_mounts = allowed


def default_dir() -> str:
    """`$XDG_CACHE_HOME/overlayscope/scan-cache`, `~/.cache/...` when that is unset."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "overlayscope", "scan-cache")


class DefaultCache(Enum):
    """`scan_layers(cache=DefaultCache.DEFAULT)`: the default cache, as the caller gave none.
    Distinct from None, which is no cache at all (a refusal stays one)."""

    DEFAULT = "the default cache"


def default_cache() -> ScanCache | None:
    """The cache in `default_dir()`, or None when caching is off."""
    return ScanCache(default_dir()) if _enabled else None


def cache_for(*roots: str) -> ScanCache | None:
    """The default cache for scanning layers of a host stored in `roots`.

    None when caching is off, or when the cache dir would lie inside any of `roots`
    (`lies_inside`): the inspected tree is never written to. The cache returned checks
    that again before each read and write, should the dir have become a symlink since.
    """
    if not _enabled:
        return None
    directory = default_dir()
    if lies_inside(directory, roots):
        return None
    return ScanCache(directory, outside=roots)


def lies_inside(path: str, roots: Iterable[str]) -> bool:
    """True when the dir `path` (which need not exist yet) is, or would be made, inside
    one of `roots`: its real path (every symlink of it and of its existing ancestors
    resolved, a dangling one to where it points) under a root's real path, or one of its
    existing ancestors the very dir a root is (same device and inode: a bind mount of it).
    """
    real = os.path.realpath(path)
    identities = set()
    for root in roots:
        top = os.path.realpath(root)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
        with contextlib.suppress(OSError):
            st = os.stat(root)
            identities.add((st.st_dev, st.st_ino))
    at = real
    while identities:
        with contextlib.suppress(OSError):
            st = os.stat(at)
            if (st.st_dev, st.st_ino) in identities:
                return True
        up = os.path.dirname(at)
        if up == at:
            break
        at = up
    return False


@record
class Identity:
    """What makes a `diff/` dir the same one: device, inode and inode change time."""

    dev: int
    ino: int
    ctime_ns: int


def identity_of(content_dir: str) -> Identity | None:
    try:
        st = os.stat(content_dir)
    except OSError:
        return None
    return Identity(st.st_dev, st.st_ino, st.st_ctime_ns)


class ScanCache:
    """Scans of committed layers, one file per layer id in `directory`.

    `outside`: roots the cache must never lie in (`cache_for`); checked before every read
    and write, so a cache dir made a symlink into one of them mid-run is neither written
    nor believed (evidence could plant an entry there).
    """

    def __init__(self, directory: str | os.PathLike[str], outside: Iterable[str] = ()) -> None:
        self.directory = os.fspath(directory)
        self.outside = tuple(outside)

    def _usable(self) -> bool:
        return not self.outside or not lies_inside(self.directory, self.outside)

    def path_for(self, key: str) -> str:
        name = key if _SAFE_KEY.match(key) else _sha256([key.encode()]).hex()
        return os.path.join(self.directory, name + ".scan")

    def load(
        self, key: str, content_dir: str, *, xattrs: bool = True, overlay_xattrs: str | None = None
    ) -> LayerIndex | None:
        """The cached scan of layer `key` at `content_dir`, or None (a miss, whatever the reason).

        A scan made without xattrs serves only callers that do not need them; a scan serves
        only callers reading the same overlay xattr namespace (`scan_layers`' `overlay_xattrs`).
        """
        identity = identity_of(content_dir)
        if identity is None or not self._usable():
            return None
        try:
            fd = os.open(self.path_for(key), _OPEN_FLAGS)
        except OSError:
            return None
        try:
            data = _read_own_file(fd)
            columns = None if data is None else _decode(data, key, identity, xattrs, overlay_xattrs)
            if columns is not None:
                with contextlib.suppress(OSError):
                    os.utime(fd)  # marks it used, so pruning spares it (the fd: no path race)
        except Exception:  # a damaged file can fail in any way: it is just a miss
            return None
        finally:
            os.close(fd)
        if columns is None:
            return None
        return LayerIndex.from_columns(content_dir, columns, [])

    def store(
        self,
        key: str,
        index: LayerIndex,
        identity: Identity,
        *,
        xattrs: bool,
        overlay_xattrs: str | None = None,
    ) -> bool:
        """Keep `index` for layer `key`, whose `diff/` had `identity` before it was scanned
        (with `xattrs` and `overlay_xattrs` as `scan_layers` was given them).

        Writes nothing for a layer on a read-only mount (unless `set_read_only_mounts`), an
        index not in the compact layout, or into a dir that lies inside a root it must stay
        out of; any failure to write is silent (returns False): a cache is optional.
        """
        if index.columns is None or identity_of(index.content_dir) != identity:
            return False  # changed while we scanned it: not a committed layer after all
        try:
            if not _read_only_mounts and os.statvfs(index.content_dir).f_flag & os.ST_RDONLY:
                return False
            if not self._usable():
                return False
            data = _encode(index.columns, key, identity, xattrs, overlay_xattrs)
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            import tempfile  # (and random) only when a scan is kept

            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".scan", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, self.path_for(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return False
        self._prune()
        return True

    def _prune(self) -> None:
        """Remove entries unused for `_MAX_AGE` (layers long gone) and stale temp files."""
        now = time.time()
        with contextlib.suppress(OSError), os.scandir(self.directory) as it:
            for de in it:
                try:
                    old = now - de.stat(follow_symlinks=False).st_mtime
                    if de.name.endswith(".scan") and (
                        old > _MAX_AGE or (de.name.startswith(".tmp-") and old > 3600)
                    ):
                        os.unlink(de.path)
                except OSError:
                    continue


def _read_own_file(fd: int) -> bytes | None:
    """The bytes of the regular file `fd` if this user owns it, else None (a FIFO, a
    device, a dir, or a file another user could have written: never read)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        return None
    # one byte more: a file that grew is seen (and fails its sum)
    return read_at_most(fd, st.st_size + 1, chunk=1 << 24)


# -- the file format ----------------------------------------------------------------------


def _encode(c: Columns, key: str, identity: Identity, xattrs: bool, namespace: str | None) -> bytes:
    blobs: list[bytes | bytearray | array[int]] = []
    columns = []
    for name in COLUMNS:
        col: array[int] = getattr(c, name)
        columns.append([name, col.typecode, len(col)])
        blobs.append(col)
    header = {
        "format": FORMAT,
        "key": key,
        "identity": [identity.dev, identity.ino, identity.ctime_ns],
        "xattrs": xattrs,
        "overlay_xattrs": namespace,
        "entries": len(c),
        "columns": columns,
        "names": len(c.names),
        "targets": len(c.targets),
        "attrs": [[str(kind), mode, uid, gid] for kind, mode, uid, gid in c.attrs],
        "rdev": [[i, v] for i, v in c.rdev.items()],
        "wide_times": [[i, m, t] for i, (m, t) in c.wide_times.items()],
        "sums": _sums_out(layer_sums(c)),
        "xattr": [_xattrs_out(i, x) for i, x in c.xattrs.items()],
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    parts: list[bytes | bytearray | memoryview] = [MAGIC, _HEADER.pack(len(raw)), raw]
    parts += [c.names, c.targets]
    parts += [memoryview(b).cast("B") for b in blobs if isinstance(b, array)]
    return b"".join([*parts, _sha256(parts)])


def _sha256(parts: list[bytes | bytearray | memoryview]) -> bytes:
    """The SHA-256 of `parts` joined (overlayscope/digest.py: OpenSSL's for a large file)."""
    size = sum(memoryview(p).nbytes for p in parts)
    checksum = large_sha256() if size >= LARGE else sha256()
    for part in parts:
        checksum.update(part)
    digest: bytes = checksum.digest()
    return digest


def _decode(
    data: bytes, key: str, identity: Identity, xattrs: bool, namespace: str | None
) -> Columns | None:
    if data[: len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + _CHECKSUM:
        return None
    # Checked before anything is parsed: one flipped bit anywhere is a miss, not a value.
    # (A checksum, not a signature: the owner check above keeps out other users' files.)
    view = memoryview(data)[:-_CHECKSUM]  # the header and columns, as `_encode` summed them
    if _sha256([view]) != data[-_CHECKSUM:]:
        return None
    at = len(MAGIC)
    (length,) = _HEADER.unpack_from(view, at)
    at += _HEADER.size
    header: dict[str, Any] = json.loads(bytes(view[at : at + length]))
    at += length
    if (
        header["format"] != FORMAT
        or header["key"] != key
        or header["identity"] != [identity.dev, identity.ino, identity.ctime_ns]
        or (xattrs and not header["xattrs"])
        or header["overlay_xattrs"] != namespace
    ):
        return None
    c = Columns()
    n_names, n_targets = int(header["names"]), int(header["targets"])
    c.names = bytes(view[at : at + n_names])
    at += n_names
    c.targets = bytes(view[at : at + n_targets])
    at += n_targets
    for name, typecode, count in header["columns"]:
        if name not in COLUMNS:
            return None
        col = array(typecode)
        size = col.itemsize * int(count)
        col.frombytes(view[at : at + size])
        if len(col) != count:
            return None
        at += size
        setattr(c, name, col)
    if at != len(view):
        return None
    c.attrs = [
        (Kind(kind), int(mode), int(uid), int(gid)) for kind, mode, uid, gid in header["attrs"]
    ]
    c.rdev = {int(i): int(v) for i, v in header["rdev"]}
    c.wide_times = {int(i): (int(m), int(t)) for i, m, t in header["wide_times"]}
    c.sums = _sums_in(header["sums"], int(header["entries"]))
    c.xattrs = dict(_xattrs_in(item) for item in header["xattr"])
    return c if _consistent(c, int(header["entries"])) else None


def _sums_out(sums: LayerSums) -> dict[str, Any]:
    return {
        "blocks": sums.blocks, "apparent": sums.apparent, "docker": sums.docker,
        "linked": list(sums.linked), "largest": list(sums.largest),
    }  # fmt: skip


def _sums_in(raw: dict[str, Any], n: int) -> LayerSums:
    """The stored sums; a damaged file raises (a miss), it is never trusted blindly."""
    linked = tuple(int(i) for i in raw["linked"])
    largest = tuple(int(i) for i in raw["largest"])
    if any(not 0 < i < n for i in (*linked, *largest)):
        raise ValueError("entry out of range")
    return LayerSums(int(raw["blocks"]), int(raw["apparent"]), int(raw["docker"]), linked, largest)


def _consistent(c: Columns, n: int) -> bool:
    """Cheap checks that the columns fit together (a file can be damaged in any way)."""
    same = all(len(getattr(c, name)) == n for name in ("attr", "size", "blocks", "mtime",
                                                        "ctime", "ino", "nlink"))  # fmt: skip
    dirs = len(c.dir_entry)
    return (
        same
        and len(c.name_at) == n + 1
        and c.name_at[-1] == len(c.names)
        and len(c.link_at) == len(c.link_entry) + 1
        and c.link_at[-1] == len(c.targets)
        and len(c.dir_start) == len(c.dir_count) == len(c.dir_parent) == dirs
        and max(c.attr, default=0) < max(len(c.attrs), 1)
        and max(map(operator.add, c.dir_start, c.dir_count), default=0) <= n
        and max(c.dir_parent, default=0) < max(dirs, 1)
        and max(c.dir_entry, default=0) < max(n, 1)
        and max(c.link_entry, default=0) < max(n, 1)
    )


def _xattrs_out(i: int, x: OverlayXattrs) -> list[Any]:
    return [i, x.namespace, x.opaque, x.whiteout, x.impure,
            None if x.origin is None else x.origin.hex(),
            None if x.redirect is None else os.fsencode(x.redirect).hex(),
            x.metacopy, x.xwhiteouts]  # fmt: skip


def _xattrs_in(item: list[Any]) -> tuple[int, OverlayXattrs]:
    i, namespace, opaque, whiteout, impure, origin, redirect, metacopy, xwhiteouts = item
    return int(i), OverlayXattrs(
        namespace=str(namespace),
        opaque=bool(opaque),
        whiteout=bool(whiteout),
        impure=bool(impure),
        origin=None if origin is None else bytes.fromhex(origin),
        redirect=None if redirect is None else os.fsdecode(bytes.fromhex(redirect)),
        metacopy=bool(metacopy),
        xwhiteouts=bool(xwhiteouts),
    )
