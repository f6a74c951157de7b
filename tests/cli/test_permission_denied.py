"""Permission denied is said as such (issue #16): the CLI really run as user nobody.

A copy of the captured dockerd root keeps its real modes (root-owned 0710 layer dirs,
a 0700 `l/`); only the way to the records is opened to others, so that the tool gets past
the first refusal and meets the ones a non-root user meets on a live host. Every refusal
must come out as the one `permission-denied` kind with its "run as root" hint, never as a
missing `diff/`, a dangling link or a `lower` mismatch; `df` must say which layer it could
not read instead of counting it as 0 bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.root.problems import PERMISSION_DETAIL, ProblemKind
from tests.engine import CapturedRoot

REPO = Path(__file__).resolve().parents[2]
NOBODY = "65534"
# The image layer holding the base image's files (busybox): closed to nobody in one case.
CLOSED_LAYER = "4917e0c5ddb95809ab4bfb0af41541ea11f3969405c7cd8474b130dd84bc7c98"


def _as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux) to drop to user nobody")
    cmd = [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        sys.executable, "-m", "overlayscope", "--root", str(root), "--no-cache", *args,
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200", "HOME": "/nonexistent"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, check=False)


def _open_to_others(path: Path) -> None:
    os.chmod(path, os.stat(path).st_mode | 0o005)


@pytest.fixture
def nobody_root(captured_root: CapturedRoot) -> Iterator[Path]:
    """A copy of the captured root with its real modes, its records opened to others."""
    # Not under pytest's tmp dir: that one is root's alone (0700), nobody cannot reach it.
    base = Path(tempfile.mkdtemp(prefix="overlayscope-nobody-", dir="/var/tmp"))
    try:
        os.chmod(base, 0o755)
        root = base / "root"
        subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
        _open_to_others(root)
        for top in ("image", "containers"):
            for dirpath, _dirs, files in os.walk(root / top):
                _open_to_others(Path(dirpath))
                for name in files:
                    os.chmod(Path(dirpath, name), os.lstat(Path(dirpath, name)).st_mode | 0o004)
        _open_to_others(root / "overlay2")  # listable; each layer dir keeps its 0710
        yield root
    finally:
        shutil.rmtree(base)


def test_closed_layer_dirs_are_permission_denied_not_damage(nobody_root: Path) -> None:
    res = _as_nobody(nobody_root, "--json", "check")
    assert res.returncode == 1, res.stderr
    problems = json.loads(res.stdout)["problems"]
    layer_dirs = {p.name for p in (nobody_root / "overlay2").iterdir() if p.name != "l"}
    # One problem per closed layer dir and one for l/: no missing diff/, link or lower.
    assert {p["kind"] for p in problems} == {str(ProblemKind.PERMISSION_DENIED)}
    assert {p["detail"] for p in problems} == {PERMISSION_DETAIL}
    named = {os.path.basename(p["path"]) for p in problems}
    assert named == layer_dirs | {"l"}


def test_df_says_which_layers_it_could_not_read(nobody_root: Path) -> None:
    res = _as_nobody(nobody_root, "--json", "df")
    assert res.returncode == 4, res.stderr  # answered, but part of the evidence unread
    layers = json.loads(res.stdout)["layers"]
    assert layers and all(u["unread"] == PERMISSION_DETAIL for u in layers)
    assert all(u["size"] is None for u in layers)  # unknown, never 0 bytes


def test_one_closed_layer_is_the_only_problem(nobody_root: Path) -> None:
    """Every other layer dir opened as its content is (0755 diff/): only the one closed
    layer is said unread, and nothing else is reported."""
    overlay2 = nobody_root / "overlay2"
    for d in overlay2.iterdir():
        _open_to_others(d)
        for name in ("link", "lower"):
            if (d / name).is_file():
                os.chmod(d / name, 0o644)
    os.chmod(overlay2 / CLOSED_LAYER, 0o710)

    check = _as_nobody(nobody_root, "--json", "check")
    problems = json.loads(check.stdout)["problems"]
    assert problems == [
        {
            "kind": "permission-denied",
            "path": str(overlay2 / CLOSED_LAYER),
            "detail": PERMISSION_DETAIL,
        }
    ]

    df = _as_nobody(nobody_root, "--json", "df")
    assert df.returncode == 4, df.stderr
    unread = {u["id"]: u for u in json.loads(df.stdout)["layers"] if u["unread"] is not None}
    assert list(unread) == [CLOSED_LAYER]
    assert unread[CLOSED_LAYER]["size"] is None
    assert f"layer {CLOSED_LAYER[:12]} (image) unread: {PERMISSION_DETAIL}" in df.stderr

    # The container standing on it: its changes above are listed; the closed layer is
    # said unread, never "missing from overlay2/".
    web = _as_nobody(nobody_root, "--json", "container", "web")
    assert web.returncode == 4, web.stderr
    assert "Traceback" not in web.stderr
    doc = json.loads(web.stdout)
    assert [(p["kind"], p["layer"]) for p in doc["problems"]] == [("unreadable", CLOSED_LAYER)]
    assert "missing" not in json.dumps(doc["problems"])
    # in words: the refusal, and how to get past it
    human = _as_nobody(nobody_root, "container", "web")
    assert human.returncode == 4, human.stderr
    warning = [line for line in human.stderr.splitlines() if CLOSED_LAYER[:12] in line]
    assert warning and "Permission denied" in warning[0], human.stderr
    assert warning[0].endswith("(hint: run as root)"), human.stderr
