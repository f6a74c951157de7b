"""The captured snapshot that ships with the project: a real engine's data root, archived.

`make run` opens it when the machine has no readable Docker data root. It is
unpacked once into the user's cache (never into the repository), with GNU tar
so that whiteout device nodes and overlay xattrs survive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from overlayscope.errors import OverlayscopeError

_ARCHIVE_NAME = "dataroot.tar.xz"


@dataclass(frozen=True)
class UnpackedSnapshot:
    archive: str
    root: str
    complete: bool  # False when not root: whiteout devices and trusted.* xattrs are missing


def is_archive(path: str | None) -> bool:
    """True for a path that names a snapshot archive file rather than a data root dir."""
    return path is not None and path.endswith((".tar.xz", ".txz")) and os.path.isfile(path)


def embedded_archive() -> str | None:
    """The archive in this checkout's fixtures/snapshot/, if the package runs from one."""
    candidate = Path(__file__).resolve().parent.parent / "fixtures" / "snapshot" / _ARCHIVE_NAME
    return str(candidate) if candidate.is_file() else None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "overlayscope" / "snapshots"


def unpack(archive: str, dest_base: Path | None = None) -> UnpackedSnapshot:
    """Unpack `archive` once into the cache (keyed by its sha256) and return the data root."""
    if not os.path.isfile(archive):
        raise OverlayscopeError(f"no snapshot archive at {archive}")
    if shutil.which("tar") is None:
        raise OverlayscopeError(
            "GNU tar is needed to unpack the snapshot", hint="apt-get install tar"
        )
    digest = _sha256(archive)[:16]
    base = (dest_base or cache_dir()) / digest
    root = base / "root"
    marker = base / ("complete" if os.geteuid() == 0 else "partial")
    if marker.exists():
        return UnpackedSnapshot(archive, str(root), marker.name == "complete")
    if base.exists():
        shutil.rmtree(base)
    root.mkdir(parents=True)
    cmd = [
        "tar",
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
        "-xpJf",
        archive,
        "-C",
        str(root),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 and os.geteuid() == 0:
        shutil.rmtree(base, ignore_errors=True)
        raise OverlayscopeError(f"could not unpack {archive}: {result.stderr.strip()[:200]}")
    marker.touch()
    return UnpackedSnapshot(archive, str(root), marker.name == "complete")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
