"""Files the user names (`audit --ioc FILE`, `--storage-conf FILE`, `--root ARCHIVE`) that
are no regular file: one clear line, exit 3, never a hang, never a device read.

A FIFO waits for a writer when opened for reading; `/dev/zero` never ends. Each is found
by `stat` before it is opened (overlayscope/userfiles.py; `--storage-conf` by
root/records.read_bytes), and an open is O_NONBLOCK with `fstat` after it. Each command
runs in a subprocess with a timeout only as a safety net: the assertions are on its exit
code and its one line.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import CapturedRoot
from tests.hostile.cli import Run, assert_answered, run_sub

pytestmark = pytest.mark.root

SAFETY_NET = 120  # seconds; a hang fails the test instead of stalling the suite

# kind → (what the line says it is)
KINDS = {
    "fifo": "a FIFO",
    "dir": "a directory",
    "char-device": "a character device",
    "socket": "a socket",
    "symlink-to-fifo": "a FIFO",
}


@pytest.fixture
def odd_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A path of the kind `request.param`, named like an archive (`*.tar.xz`) so that
    `--root` takes it for one."""
    kind = request.param
    path = tmp_path / f"{kind}.tar.xz"
    sock = None
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "char-device":
        if os.geteuid() != 0:
            pytest.skip("needs root to make a device node")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: never ends
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    else:
        os.mkfifo(tmp_path / "target")
        os.symlink(tmp_path / "target", path)
    try:
        yield path
    finally:
        if sock is not None:
            sock.close()


def _refused(run: Run, path: Path, kind: str) -> None:
    assert_answered(run, {3})
    line = run.err.decode()
    assert f"{path} is {KINDS[kind]}, not a file" in line or (
        f"cannot read {path}: not a regular file" in line  # --storage-conf's record reader
    ), line


@pytest.mark.parametrize("odd_file", sorted(KINDS), indirect=True)
def test_ioc_file_that_is_no_file(captured_root: CapturedRoot, odd_file: Path) -> None:
    run = run_sub(
        "--offline", "--root", str(captured_root.path), "audit", "--ioc", str(odd_file),
        timeout=SAFETY_NET,
    )  # fmt: skip
    _refused(run, odd_file, odd_file.name.removesuffix(".tar.xz"))
    assert "bad IOC list" in run.err.decode()


@pytest.mark.parametrize("odd_file", sorted(KINDS), indirect=True)
def test_root_archive_that_is_no_file(odd_file: Path) -> None:
    kind = odd_file.name.removesuffix(".tar.xz")
    run = run_sub("--offline", "--root", str(odd_file), "layers", timeout=SAFETY_NET)
    if kind == "dir":  # a dir is a data root to look at, whatever its name: not one here
        assert_answered(run, {3})
        assert "not a Docker data root" in run.err.decode()
        return
    _refused(run, odd_file, kind)


@pytest.mark.parametrize("odd_file", sorted(KINDS), indirect=True)
def test_storage_conf_that_is_no_file(odd_file: Path, tmp_path: Path) -> None:
    run = run_sub(
        "--offline", "--storage-conf", str(odd_file), "--root", str(tmp_path), "layers",
        timeout=SAFETY_NET,
    )  # fmt: skip
    assert_answered(run, {3})
    err = run.err.decode()
    # records.read_bytes refuses a symlink itself (it reads evidence that way too)
    expected = "is a symlink" if odd_file.is_symlink() else "not a regular file"
    assert f"cannot read {odd_file}: {expected}" in err, err


def test_a_real_ioc_file_still_works(captured_root: CapturedRoot, tmp_path: Path) -> None:
    """The control: a regular file (through a symlink, as the user may name it) is read."""
    iocs = tmp_path / "iocs.txt"
    iocs.write_text("# planted by the capture's scenario\nbig.txt\n")
    link = tmp_path / "link.txt"
    link.symlink_to(iocs)
    run = run_sub(
        "--json", "--offline", "--root", str(captured_root.path), "audit", "--images",
        "--ioc", str(link), timeout=SAFETY_NET,
    )  # fmt: skip
    assert_answered(run, {0, 1})
    findings = run.json()["findings"]
    assert any(f["kind"] == "ioc-match" and f["path"] == "/app/data/big.txt" for f in findings)
