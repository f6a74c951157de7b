"""Bad input: one clear line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
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
    if "--json" in result.args:  # one JSON document still: the error (docs/json.md)
        assert json.loads(result.stdout)["error"]["exit_code"] == result.returncode
    else:
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


@pytest.mark.parametrize(
    ("code", "needles"),
    [
        (5, ("cannot read: Input/output error: /evidence/etc/passwd",)),  # EIO
        (13, ("cannot read: Permission denied: /evidence/etc/passwd", "run as root")),  # EACCES
    ],
)
def test_an_unexpected_os_error_is_one_line_naming_the_file(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    needles: tuple[str, ...],
) -> None:
    """What the filesystem refuses where no command expected it (a disk error mid-read):
    one line that says what and where, exit 3; not an 'internal error'."""
    from overlayscope.cli import inventory
    from overlayscope.cli.main import main

    def refuse(ctx: object) -> int:
        raise OSError(code, os.strerror(code), "/evidence/etc/passwd")

    monkeypatch.setattr(inventory, "cmd_check", refuse)
    assert main(["--offline", "--root", "/nonexistent", "check"]) == ExitCode.ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], captured.err
    for needle in needles:
        assert needle in lines[0]
