"""What the audit promises about the evidence, each shown on a copy of the captured root.

- nothing is opened for writing, nothing is mounted (strace of the whole process tree);
- no read leaves the root: symlinks, short links and overlay redirect/metacopy xattrs that
  point outside (at a canary) are reported, never followed;
- file and dir reads use O_NOATIME, so atimes stay as they were where the kernel allows it;
- the audit works on a read-only bind mount, and a manifest of the tree (path, mode, size,
  mtime, ctime of every entry) is identical before and after a full audit with --hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot, mounts_under

pytestmark = pytest.mark.root

TRACED = "open,openat,openat2,mount,umount2,fsopen,fsmount,move_mount,open_tree,mount_setattr"
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
CANARY_DATA = b"canary: the audit must never read this\n"
_OPEN = re.compile(r"^\d+\s+(open|openat|openat2)\((.*)\)\s+=\s+(-?\d+)")


@pytest.fixture
def evidence(captured_root: CapturedRoot, tmp_path: Path) -> dict[str, Path]:
    """A copy of the captured root with traps that point out of it, at a canary."""
    root = tmp_path / "evidence"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    canary = tmp_path / "canary-outside"
    (canary / "dir").mkdir(parents=True)
    (canary / "dir" / "file").write_bytes(CANARY_DATA)
    (canary / "file").write_bytes(CANARY_DATA)
    web = next(c for c in captured_root.answers["containers"] if c["name"] == "web")
    upper = root / Path(web["graph_driver"]["Data"]["UpperDir"]).relative_to(
        captured_root.capture_data_root
    )
    os.symlink(canary / "file", upper / "app" / "abs-link")  # absolute, to the host
    depth = len(upper.parts)
    os.symlink("../" * depth + str(canary / "file").lstrip("/"), upper / "app" / "climb")
    os.symlink(canary / "dir", upper / "app" / "dir-link")
    moved = upper / "app" / "moved"
    moved.mkdir()
    os.setxattr(moved, "trusted.overlay.redirect", str(canary / "dir").encode())
    climbing = upper / "app" / "moved2"
    climbing.mkdir()
    os.setxattr(climbing, "trusted.overlay.redirect", b"../" * depth + b"canary-outside/dir")
    meta = upper / "srv" / "www" / "index.html"
    os.setxattr(meta, "trusted.overlay.metacopy", b"")
    os.setxattr(meta, "trusted.overlay.redirect", str(canary / "file").encode())
    os.symlink(canary / "dir", root / "overlay2" / "l" / ("Z" * 26))  # a short link out
    iocs = tmp_path / "iocs.txt"
    iocs.write_text(hashlib.sha256(CANARY_DATA).hexdigest() + "\n")
    return {"root": root, "canary": canary, "iocs": iocs, "tmp": tmp_path}


def _cli(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "overlayscope.cli.main", "--root", str(root), "--offline", *args]


def _strace(cmd: list[str], out_dir: Path) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    """Run `cmd` under strace, every thread and child in its own file (no split lines)."""
    if shutil.which("strace") is None:
        skip_or_fail("strace not installed (apt-get install strace; `make test` does)")
    out_dir.mkdir()
    proc = subprocess.run(
        ["strace", "-ff", "-y", "-s", "4096", "-qq", "-e", f"trace={TRACED}",
         "-o", str(out_dir / "trace"), *cmd],
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    lines = []
    for file in sorted(out_dir.iterdir()):
        pid = file.name.rsplit(".", 1)[-1]
        lines += [f"{pid} {line}" for line in file.read_text(errors="replace").splitlines()]
    return proc, lines


def _check_trace(lines: list[str], root: Path, canary: Path) -> list[str]:
    """Assert the promises on a trace; return the opens made inside the evidence."""
    assert lines, "strace recorded nothing"
    opened: list[str] = []
    for line in lines:
        assert str(canary) not in line, f"read outside the root: {line}"
        name = line.split(None, 1)[1].split("(", 1)[0]
        assert name not in {"mount", "umount2", "fsopen", "fsmount", "move_mount", "open_tree",
                            "mount_setattr"}, f"mounted something: {line}"  # fmt: skip
        m = _OPEN.match(line)
        if m is None or str(root) not in m.group(2):
            continue
        opened.append(line)
        flags = set(re.findall(r"O_[A-Z]+", m.group(2)))
        assert not flags & set(WRITE_FLAGS), f"opened for writing: {line}"
        inside_diff = re.search(r"/overlay2/[0-9a-f]{64}(-init)?/diff[/>\"]", m.group(2))
        if inside_diff and "O_PATH" not in flags and int(m.group(3)) >= 0:
            assert "O_NOATIME" in flags, f"read without O_NOATIME: {line}"
    return opened


def test_audit_writes_nothing_mounts_nothing_reads_nothing_outside(
    evidence: dict[str, Path],
) -> None:
    root, canary = evidence["root"], evidence["canary"]
    cmd = _cli(root, "--json", "audit", "--images", "--hash", "--ioc", str(evidence["iocs"]))
    proc, lines = _strace(cmd, evidence["tmp"] / "trace-audit")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    opened = _check_trace(lines, root, canary)
    assert any("/diff" in line and "O_NOATIME" in line for line in opened)  # files were read
    report: dict[str, Any] = json.loads(proc.stdout)
    got = {(f["kind"], f["path"]) for f in report["findings"]}
    assert ("symlink-escape", "/app/climb") in got
    assert ("overlay-redirect", "/app/moved") in got
    assert ("overlay-redirect", "/app/moved2") in got
    assert ("overlay-metacopy", "/srv/www/index.html") in got
    assert not [f for f in report["findings"] if f["kind"] == "ioc-match"]  # canary never hashed
    assert hashlib.sha256(CANARY_DATA).hexdigest() not in {h["sha256"] for h in report["hashes"]}
    assert any(p["kind"] == "bad-link" for p in report["problems"])  # the short link out


def test_timeline_writes_nothing_and_reads_nothing_outside(evidence: dict[str, Path]) -> None:
    root, canary = evidence["root"], evidence["canary"]
    cmd = _cli(root, "timeline", "--all", "--images", "--hash")
    proc, lines = _strace(cmd, evidence["tmp"] / "trace-timeline")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    _check_trace(lines, root, canary)
    body = proc.stdout.decode()
    assert f":/app/abs-link -> {canary}/file|" in body  # listed, never followed
    assert hashlib.md5(CANARY_DATA).hexdigest() not in body


def manifest(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """(mode, size, mtime_ns, ctime_ns) of every entry under `root`, by os.walk + lstat."""
    found = {}
    for top, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(top, name))
            st = os.lstat(path)
            found[os.path.relpath(path, root)] = (
                st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            )  # fmt: skip
    return found


@pytest.fixture
def read_only_mount(evidence: dict[str, Path]) -> Iterator[Path]:
    """The evidence bind-mounted read-only (by the test, never by the tool); unmounted after."""
    if shutil.which("mount") is None:
        pytest.skip("no mount(8)")
    target = evidence["tmp"] / "ro"
    target.mkdir()
    subprocess.run(["mount", "--bind", str(evidence["root"]), str(target)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)
        if mounts_under(target):
            subprocess.run(["umount", "-l", str(target)], check=False)
    assert not mounts_under(target)


def test_read_only_bind_mount_audit_changes_nothing(
    evidence: dict[str, Path], read_only_mount: Path
) -> None:
    with pytest.raises(OSError):
        (read_only_mount / "probe").write_text("x")  # really read-only
    before = manifest(read_only_mount)
    mounts_before = [m for m in mounts_under(Path("/")) if "evidence" in str(m.source)]
    audit = subprocess.run(
        _cli(read_only_mount, "--json", "audit", "--images", "--hash"),
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stderr.decode(errors="replace")
    timeline = subprocess.run(
        _cli(read_only_mount, "timeline", "--all", "--images", "--hash"),
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert timeline.returncode == 0, timeline.stderr.decode(errors="replace")
    assert manifest(read_only_mount) == before
    assert manifest(evidence["root"]) == before
    assert [m for m in mounts_under(Path("/")) if "evidence" in str(m.source)] == mounts_before
    # The same answers as on the writable copy.
    writable = subprocess.run(
        _cli(evidence["root"], "--json", "audit", "--images", "--hash"),
        capture_output=True, timeout=600, check=True,
    )  # fmt: skip
    on_ro, on_rw = json.loads(audit.stdout), json.loads(writable.stdout)
    key = lambda f: (f["kind"], f["severity"], f["layer"], f["path"])  # noqa: E731
    assert sorted(map(key, on_ro["findings"])) == sorted(map(key, on_rw["findings"]))
    assert {h["sha256"] for h in on_ro["hashes"]} == {h["sha256"] for h in on_rw["hashes"]}
    assert on_ro["hashes"]


def test_atimes_are_kept_where_the_kernel_allows(evidence: dict[str, Path]) -> None:
    """On a writable (relatime) copy, reading would update atimes that are older than mtime;
    the audit opens files and lists dirs with O_NOATIME, so none changes. Symlinks are left
    out: the kernel updates a symlink's atime on readlink and has no flag against it."""
    root = evidence["root"]
    diffs = sorted((root / "overlay2").glob("*/diff"))
    old: dict[str, int] = {}
    for diff in diffs:
        for top, dirs, files in os.walk(diff):
            for name in [".", *dirs, *files]:
                path = os.path.join(top, name)
                st = os.lstat(path)
                if os.path.islink(path):
                    continue
                stale = st.st_mtime_ns - 10**9  # older than mtime: relatime would update it
                os.utime(path, ns=(stale, st.st_mtime_ns), follow_symlinks=False)
                old[path] = stale
    for args in (
        ("--json", "audit", "--images", "--hash"),
        ("timeline", "--all", "--images", "--hash"),
    ):
        subprocess.run(_cli(root, *args), capture_output=True, timeout=600, check=True)
    changed = [p for p, atime in old.items() if os.lstat(p).st_atime_ns != atime]
    assert changed == []


@pytest.mark.parametrize("command", [("df",), ("container", "web")])
def test_scans_with_readahead_write_nothing_and_read_nothing_outside(
    evidence: dict[str, Path], monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """The scanner's read-ahead threads (forced on here, as on a cold cache) open dirs
    with openat2 beneath each layer, and `container` reads changed files through
    openat2 too: nothing for writing, nothing outside, O_NOATIME."""
    root, canary = evidence["root"], evidence["canary"]
    monkeypatch.setenv("OVERLAYSCOPE_READAHEAD", "1")
    proc, lines = _strace(_cli(root, "--no-cache", *command), evidence["tmp"] / "trace-scan")
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    opened = _check_trace(lines, root, canary)
    if os.environ.get("OVERLAYSCOPE_PURE_PYTHON", "") in ("", "0"):
        ahead = [line for line in opened if " openat2(" in line and "/diff" in line]
        assert ahead, "no read-ahead ran"
        assert all("RESOLVE_BENEATH" in line and "RESOLVE_NO_SYMLINKS" in line for line in ahead)
