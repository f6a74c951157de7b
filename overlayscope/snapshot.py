"""Archives given to `--root` (`*.tar.xz`), and the captured snapshot that ships with the project.

`make run` opens the embedded snapshot when the machine has no readable Docker data
root. An archive is unpacked once into the user's cache (never into the repository, nor
next to the archive), `$XDG_CACHE_HOME/overlayscope/snapshots/<sha256 prefix>/root`, in
a 0700 dir, by `overlayscope.untar`: its bytes, whiteouts and overlay xattrs, never its
privileges (no device node but whiteouts, no setuid/setgid/sticky bit, no owner, no file
capability), and nothing made outside that dir.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING, BinaryIO

from overlayscope.errors import OverlayscopeError
from overlayscope.record import record
from overlayscope.userfiles import open_regular_file

if TYPE_CHECKING:  # pathlib, shutil, tempfile and hashlib load only when an archive is opened
    from pathlib import Path

_ARCHIVE_NAME = "dataroot.tar.xz"
_SUFFIXES = (".tar.xz", ".txz")
# 2: unpacked by overlayscope.untar (1, by GNU tar, kept owners, setuid bits and devices).
_LAYOUT = 2
_RECORD = "unpacked.json"
_LEFT_OUT_NAMED = 20  # the record names this many left-out members, and counts them all


@record(slots=False)
class UnpackedSnapshot:
    archive: str
    root: str
    complete: bool  # False when not root: whiteout devices and trusted.* xattrs are missing
    left_out: int = 0  # device nodes and FIFOs of the archive not made (whiteouts are made)

    @property
    def note(self) -> str:
        """What a reader must know of this unpacked copy, for the CLI's source line."""
        notes = []
        if not self.complete:
            notes.append("unpacked without root: whiteouts and xattrs missing")
        if self.left_out == 1:
            notes.append("1 device node or FIFO left out")
        elif self.left_out:
            notes.append(f"{self.left_out} device nodes or FIFOs left out")
        return f" ({'; '.join(notes)})" if notes else ""


def is_archive(path: str | None) -> bool:
    """True for a path that names an archive (by its suffix) rather than a data root dir.

    Whatever it is on disk but a dir: `unpack` then says in one line if it is no file.
    """
    return path is not None and path.endswith(_SUFFIXES) and not os.path.isdir(path)


def embedded_archive() -> str | None:
    """The archive in this checkout's fixtures/snapshot/, if the package runs from one."""
    from pathlib import Path

    candidate = Path(__file__).resolve().parent.parent / "fixtures" / "snapshot" / _ARCHIVE_NAME
    return str(candidate) if candidate.is_file() else None


def cache_dir() -> Path:
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "overlayscope" / "snapshots"


def unpack(archive: str, dest_base: Path | None = None) -> UnpackedSnapshot:
    """Unpack `archive` once into the cache (keyed by its sha256) and return the data root.

    A FIFO, a device or a dir named as the archive is refused before it is opened; an
    archive with a member that would escape (`untar.ArchiveRefused`) is refused whole.
    """
    import tempfile
    from pathlib import Path

    try:
        fd = open_regular_file(archive, hint="--root takes a data root dir or a *.tar.xz file")
    except OSError as exc:
        raise OverlayscopeError(f"cannot read {archive}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        digest = _sha256(f)[:16]
        base = dest_base or cache_dir()
        os.makedirs(base, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(base, 0o700)  # made by an older version with the umask's mode
        final = base / digest
        done = _unpacked(final, archive)
        if done is not None:
            return done
        f.seek(0)
        work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=base))  # 0700, ours alone
        try:
            (work / "root").mkdir(mode=0o700)
            from overlayscope.untar import unpack_tar  # only when an archive is unpacked

            result = unpack_tar(f, str(work / "root"), os.path.basename(archive))
            record = {
                "layout": _LAYOUT,
                "complete": result.complete,
                "left_out": len(result.left_out),
                "left_out_named": result.left_out[:_LEFT_OUT_NAMED],
            }
            (work / _RECORD).write_text(json.dumps(record, indent=1) + "\n")
            if _unpacked(final, archive) is not None:  # another process finished first
                _remove(work)
            else:
                if final.exists() or final.is_symlink():  # an older layout, or a partial one
                    _remove(final)
                os.rename(work, final)
        except OSError as exc:  # ENOTEMPTY: another process unpacked it meanwhile
            _remove(work)
            if not final.is_dir():
                raise OverlayscopeError(f"cannot unpack {archive}: {exc.strerror or exc}") from None
        except BaseException:
            _remove(work)
            raise
    done = _unpacked(final, archive)
    if done is None:
        raise OverlayscopeError(f"cannot unpack {archive}: {final} holds no complete unpack")
    return done


def _unpacked(final: Path, archive: str) -> UnpackedSnapshot | None:
    """The unpack in `final` if it is of this layout and as complete as this user can make."""
    try:
        record = json.loads((final / _RECORD).read_text())
        if record.get("layout") != _LAYOUT or not (final / "root").is_dir():
            return None
        complete, left_out = bool(record["complete"]), int(record["left_out"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not complete and os.geteuid() == 0:
        return None  # made without root: root can make the whiteouts and xattrs
    return UnpackedSnapshot(archive, str(final / "root"), complete, left_out)


def _remove(path: Path) -> None:
    """Remove a tree we unpacked, its read-only dirs included."""
    if path.is_symlink() or not path.exists():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for dirpath, dirs, _files in os.walk(path):  # never follows a symlink
        for name in dirs:
            child = os.path.join(dirpath, name)
            if not os.path.islink(child):  # chmod would follow it (no lchmod on Linux)
                with contextlib.suppress(OSError):
                    os.chmod(child, 0o700)  # before the walk lists it
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _sha256(f: BinaryIO) -> str:
    import hashlib

    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()
