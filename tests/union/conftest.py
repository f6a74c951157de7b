"""What the content-read tests share: a small layer, and a kernel that refuses O_NOATIME."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A diff/ with files, a deep one, symlinks out of the layer and a fifo."""
    diff = tmp_path / "diff"
    (diff / "etc").mkdir(parents=True)
    (diff / "etc" / "hostname").write_text("container\n")
    (diff / "bin").mkdir()
    (diff / "bin" / "sh").write_bytes(b"\x7fELF\0binary")
    (diff / "deep" / "a" / "b" / "c").mkdir(parents=True)
    (diff / "deep" / "a" / "b" / "c" / "file").write_bytes(b"deep")
    os.symlink("/etc/passwd", diff / "etc" / "passwd")  # would be the host's if followed
    os.symlink("/etc", diff / "hostetc")  # a dir symlink out of the layer
    os.symlink("../../../../../../etc", diff / "climb")
    os.mkfifo(diff / "fifo")
    return diff


@pytest.fixture
def noatime_refused(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """`os.open` refuses O_NOATIME for "hostname" (EPERM: not the owner); the list
    records each refusal."""
    real_open = os.open
    tried: list[bool] = []

    def fake_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_NOATIME and path == "hostname":
            tried.append(True)
            raise PermissionError(errno.EPERM, "O_NOATIME needs ownership")
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", fake_open)
    return tried
