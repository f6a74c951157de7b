"""Every store reader says "permission denied", not damage (issue #16), run as user nobody.

For each captured store (Docker's legacy `overlay` driver, a containerd root, a podman
graph root), a copy is opened to others throughout, then one layer dir is closed again
(root's, 0700): its records and content are what a non-root user cannot see on a live
host. `check` run as nobody must report what it reports as root plus exactly one
`permission-denied` problem at that dir — no missing diff, dangling link, lower mismatch
or missing snapshot in its place — and `layers --json` must not call the layer orphaned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlayscope.root.problems import PERMISSION_DETAIL
from tests.containerd_fixtures import CapturedContainerd
from tests.engine import CapturedRoot, unpack_snapshot
from tests.legacy_overlay_engine import legacy_captured  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[2]
PODMAN_ARCHIVE = REPO / "fixtures" / "podman" / "rootful.tar.xz"


def _run(root: Path, *args: str, nobody: bool) -> subprocess.CompletedProcess[str]:
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if nobody else []
    cmd = [*drop, sys.executable, "-m", "overlayscope", "--offline", "--no-cache"]
    env = {**os.environ, "COLUMNS": "200", "HOME": "/nonexistent"}
    return subprocess.run(
        [*cmd, "--root", str(root), "--json", *args],
        capture_output=True, text=True, cwd=REPO, env=env, check=False,
    )  # fmt: skip


def _problems(root: Path, *, nobody: bool) -> set[tuple[str, str, str]]:
    res = _run(root, "check", nobody=nobody)
    assert res.returncode in (0, 1), res.stderr
    return {(p["kind"], p["path"], p["detail"]) for p in json.loads(res.stdout)["problems"]}


@pytest.fixture
def open_copy() -> Iterator[Callable[[Path], Path]]:
    """Copies of a tree, opened to others, in a dir nobody can reach (not pytest's)."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux) to drop to user nobody")
    base = Path(tempfile.mkdtemp(prefix="overlayscope-stores-", dir="/var/tmp"))
    os.chmod(base, 0o755)

    def copy(src: Path) -> Path:
        dest = base / f"c{len(list(base.iterdir()))}"
        subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
        for dirpath, _dirs, files in os.walk(dest):
            os.chmod(dirpath, os.stat(dirpath).st_mode | 0o005)
            for name in files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                if not os.path.islink(p) and st.st_mode & 0o170000 == 0o100000:
                    os.chmod(p, st.st_mode | 0o004)
        return dest

    try:
        yield copy
    finally:
        shutil.rmtree(base)


def _closed_is_the_only_news(root: Path, closed: Path) -> None:
    as_root = _problems(root, nobody=False)
    os.chmod(closed, 0o700)
    as_nobody = _problems(root, nobody=True)
    assert as_nobody - as_root == {("permission-denied", str(closed), PERMISSION_DETAIL)}
    assert as_root - as_nobody == set()  # nothing real is hidden by the refusal either
    layers = _run(root, "layers", nobody=True)
    assert "Traceback" not in layers.stderr
    mine = [la for la in json.loads(layers.stdout) if la["id"] == closed.name]
    assert mine and all(la["role"] != "orphan" for la in mine)


def test_legacy_overlay(legacy_captured: CapturedRoot, open_copy: Callable[[Path], Path]) -> None:  # noqa: F811
    root = open_copy(legacy_captured.path)
    layer = next(d for d in sorted((root / "overlay").iterdir()) if (d / "root").is_dir())
    _closed_is_the_only_news(root, layer)


def test_containerd(
    captured_containerd: CapturedContainerd, open_copy: Callable[[Path], Path]
) -> None:
    root = open_copy(captured_containerd.root)
    snapshots = root / "io.containerd.snapshotter.v1.overlayfs" / "snapshots"
    layer = min((d for d in snapshots.iterdir() if d.name.isdigit()), key=lambda d: int(d.name))
    _closed_is_the_only_news(root, layer)


def test_podman(tmp_path: Path, open_copy: Callable[[Path], Path]) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: whiteout device nodes and overlay xattrs need root to unpack")
    unpack_snapshot(PODMAN_ARCHIVE, tmp_path / "store")
    root = open_copy(tmp_path / "store")
    overlay = root / "overlay"
    layer = next(d for d in sorted(overlay.iterdir()) if (d / "diff").is_dir())
    _closed_is_the_only_news(root, layer)
