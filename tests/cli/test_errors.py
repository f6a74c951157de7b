"""Bad input: one clear line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from overlayscope.errors import ExitCode


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overlayscope", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def _vfs_root(tmp: Path) -> Path:
    (tmp / "image" / "vfs").mkdir(parents=True)
    (tmp / "vfs").mkdir()
    return tmp


def _containerd_root(tmp: Path) -> Path:
    (tmp / "containerd").mkdir()
    (tmp / "containers").mkdir()
    return tmp


def _plain_dir(tmp: Path) -> Path:
    (tmp / "something").write_text("x")
    return tmp


def _a_file(tmp: Path) -> Path:
    path = tmp / "file"
    path.write_text("x")
    return path


def _a_symlink(tmp: Path) -> Path:
    (tmp / "real" / "image" / "overlay2").mkdir(parents=True)
    (tmp / "link").symlink_to(tmp / "real")
    return tmp / "link"


@pytest.mark.parametrize(
    ("make_root", "needles"),
    [
        (lambda tmp: tmp / "missing", ("does not exist", "hint:")),
        (_plain_dir, ("not a Docker data root", "hint:")),
        (_a_file, ("not a directory",)),
        (_a_symlink, ("symlink",)),
        (_vfs_root, ("unsupported storage driver", "vfs")),
        (_containerd_root, ("containerd image store",)),
    ],
    ids=["missing", "not-a-root", "file", "symlink", "vfs", "containerd-store"],
)
@pytest.mark.parametrize("command", ["containers", "images", "layers", "orphans", "check"])
def test_bad_root(tmp_path: Path, make_root, needles: tuple[str, ...], command: str) -> None:  # type: ignore[no-untyped-def]
    root = make_root(tmp_path)
    result = _run("--offline", "--root", str(root), "--json", command)
    assert result.returncode == ExitCode.ERROR
    _one_error_line(result, *needles)


def test_unknown_option_is_a_usage_error() -> None:
    result = _run("--no-such-option")
    assert result.returncode == ExitCode.USAGE
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("overlayscope ")
