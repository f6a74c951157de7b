"""Helpers to build small diff/ trees on disk, the way overlayfs leaves them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="needs root: trusted.* xattrs and device nodes (whiteouts)"
)


def add(root: Path, rel: str, what: str, value: bytes | str = b"") -> Path:
    """Create one entry at `root/rel` (parents made as plain dirs).

    `what`: "file" (content `value`), "dir", "symlink" (target `value`),
    "fifo", "socket", "chardev00" (a whiteout), "chardev13" (/dev/null's 1,3),
    "hardlink" (to `root/value`).
    """
    path = Path(os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(rel))))
    path.parent.mkdir(parents=True, exist_ok=True)
    if what == "file":
        path.write_bytes(value if isinstance(value, bytes) else value.encode())
    elif what == "dir":
        path.mkdir(exist_ok=True)
    elif what == "symlink":
        os.symlink(value, path)
    elif what == "hardlink":
        os.link(root / os.fsdecode(value), path)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "socket":
        os.mknod(path, stat.S_IFSOCK | 0o644)
    elif what == "chardev00":
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    elif what == "chardev13":
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    else:
        raise ValueError(what)
    return path


def setx(path: Path, name: str, value: bytes = b"y") -> None:
    os.setxattr(path, name, value, follow_symlinks=False)


@pytest.fixture
def world_tmp() -> Iterator[Path]:
    """A scratch dir that other users can reach (pytest's tmp_path is root-only)."""
    base = Path("/var/tmp")
    path = Path(__import__("tempfile").mkdtemp(prefix="overlayscope-test-", dir=base))
    path.chmod(0o755)
    try:
        yield path
    finally:
        # rm copes with any depth and with dirs we made unreadable
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", "--", str(path)], check=False)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["native", "python"])
def each_walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test under each directory listing: the C helper and the pure-Python one.

    Worker processes read OVERLAYSCOPE_PURE_PYTHON at import, this process through
    `native.listdir`; both are set. The C helper must be built under CI.
    """
    from overlayscope.scan import native
    from tests.conftest import skip_or_fail

    if request.param == "native":
        if native.listdir is None:
            skip_or_fail("the scanner's C helper (overlayscope/scan/_listdir.c) is not built")
        monkeypatch.delenv("OVERLAYSCOPE_PURE_PYTHON", raising=False)
    else:
        monkeypatch.setattr(native, "listdir", None)
        monkeypatch.setenv("OVERLAYSCOPE_PURE_PYTHON", "1")
    return str(request.param)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh XDG_CACHE_HOME (this process and its children), caching on."""
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    from overlayscope.scan import cache as scan_cache

    scan_cache.set_enabled(True)
    yield home
    scan_cache.set_enabled(True)
