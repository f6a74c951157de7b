"""Races and permissions: a live container churning files while the tool reads its layers,
entries vanishing between the scan and the read, and a user who is not root.

- While a running container creates and deletes a tree in a loop, `container`, `df` and
  `audit` run again and again on the engine's live data root: every run exits 0 with a
  well-formed document (what vanished mid-scan is a `scan_problems` entry or simply absent).
- A file removed after the scan: `cat`/`diff` say "no such path" in one line, `docker
  diff`'s content comparison says unknown (null) instead of failing the whole command.
- As nobody (setpriv), on a copy with Docker's own modes: one line saying it needs root,
  exit 3, never a traceback and never exit 0 with empty lists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.errors import ExitCode, PathNotFound
from overlayscope.root.load import load_host
from overlayscope.root.model import Container, Host
from overlayscope.union import LayerStack, changes, read_merged, unified_diff
from overlayscope.union.host_stacks import build_stack
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot, PrivateEngine
from tests.hostile.cli import (
    PYTHON,
    assert_answered,
    check_json,
    cli_env,
    run_inproc,
    run_sub,
)

CHURN = "while :; do mkdir -p /t/a/b; touch /t/a/b/f$RANDOM; rm -rf /t/a; done"
CHURN_SECONDS = 20.0  # how long the in-process loop reads while the container churns


@pytest.fixture
def churning(engine: PrivateEngine, base_image: str) -> Iterator[str]:
    cid = engine.run(base_image, ["sh", "-c", CHURN])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the loop has written something
            if engine.client.api.diff(cid):
                break
            time.sleep(0.1)
        yield cid
    finally:
        engine.docker("rm", "-f", cid)


@pytest.mark.engine
def test_reading_a_churning_container(
    engine: PrivateEngine, churning: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    base = ("--offline", "--root", str(engine.data_root))
    commands = [
        ("container", churning),
        ("df", "--containers"),
        ("audit", "--hash"),
        ("ls", churning, "/t"),
        ("where", churning, "/t/a/b"),
        ("timeline", churning),
    ]
    runs = 0
    vanished = 0
    deadline = time.monotonic() + CHURN_SECONDS
    while time.monotonic() < deadline or runs < 2 * len(commands):
        command = commands[runs % len(commands)]
        run = run_inproc(capsysbinary, "--json", *base, *command)
        runs += 1
        if command[0] in ("ls", "where") and run.code == 3:
            # /t itself may be gone at the moment of the scan: a clear one-line error.
            assert_answered(run, {3})
            assert b"no such" in run.err or b"not a directory" in run.err
            continue
        assert_answered(run, {0})
        doc = run.json()
        check_json(command[0], doc)
        if command[0] == "container":
            assert all(c["path"] == "/t" or c["path"].startswith("/t/") for c in doc["changes"])
        if command[0] == "df":
            vanished += sum(p["kind"] == "vanished" for p in doc["scan_problems"])
            assert {p["kind"] for p in doc["scan_problems"]} <= {"vanished", "error"}
    assert runs >= 2 * len(commands)
    # And in subprocesses, human output too: the real entry point under the same churn.
    for command in commands[:3]:
        for json_flag in ((), ("--json",)):
            run = run_sub(*json_flag, *base, *command)
            assert_answered(run, {0})


def _stack_of(root: Path, name: str) -> tuple[Host, Container, LayerStack]:
    host = load_host(str(root))
    container = next(c for c in host.containers.values() if c.name == name)
    return host, container, build_stack(host, container)


@pytest.mark.root
def test_a_file_vanishing_after_the_scan(captured_root: CapturedRoot, tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    host, container, stack = _stack_of(root, "stopped")
    big = Path(host.layers[container.layer or ""].content_dir) / "app/data/big.txt"
    beneath = {c.path: c for c in changes(stack)}["/app/data/big.txt"]
    assert beneath.content == "changed"
    # Make the copy-up the same size as beneath, so the bytes must be read, then remove it.
    lower = next(
        Path(host.layers[lid].content_dir) / "app/data/big.txt"
        for lid in container.image_layers
        if (Path(host.layers[lid].content_dir) / "app/data/big.txt").is_file()
    )
    os.truncate(big, lower.stat().st_size)
    _, _, stack = _stack_of(root, "stopped")
    big.unlink()
    found = {c.path: c for c in changes(stack)}
    assert found["/app/data/big.txt"].content is None  # unknown, not a crash
    with pytest.raises(PathNotFound):
        read_merged(stack, "/app/data/big.txt")
    with pytest.raises(PathNotFound):
        unified_diff(stack, "/app/data/big.txt")


@pytest.mark.root
def test_a_layer_removed_after_loading(
    captured_root: CapturedRoot, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """The rw layer's diff dir goes between loading and reading (a `docker rm` on a live
    host): every command still answers, those about the container in one line."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    host = load_host(str(root))
    container = next(c for c in host.containers.values() if c.name == "stopped")
    diff = Path(host.layers[container.layer or ""].content_dir)
    _, _, stack = _stack_of(root, "stopped")
    shutil.rmtree(diff)
    with pytest.raises(PathNotFound):
        read_merged(stack, "/app/stopped.txt")
    assert changes(stack)  # computed from the scan; content reads degrade to unknown
    for command in (("container", container.id), ("df",), ("audit",), ("timeline", "--all")):
        run = run_inproc(capsysbinary, "--json", "--offline", "--root", str(root), *command)
        assert_answered(run, {0, 3})


# -- not root ------------------------------------------------------------------------------


def _setpriv_reason() -> str | None:
    if os.geteuid() != 0:
        return "not root: cannot switch to another user"
    if shutil.which("setpriv") is None:
        return "no setpriv (util-linux)"
    probe = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PYTHON, "-c", "0"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return "nobody cannot run this venv's python: " + probe.stderr.decode()[-200:]
    return None


@pytest.fixture
def world_copy(captured_root: CapturedRoot) -> Iterator[Path]:
    """A copy of the captured root with Docker's own modes, in a dir anyone can reach."""
    reason = _setpriv_reason()
    if reason is not None:
        skip_or_fail(reason)
    outer = Path(tempfile.mkdtemp(prefix="overlayscope-nobody-", dir="/var/tmp"))
    outer.chmod(0o755)
    try:
        subprocess.run(["cp", "-a", str(captured_root.path), str(outer / "root")], check=True)
        yield outer / "root"
    finally:
        shutil.rmtree(outer)


AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.mark.root
@pytest.mark.parametrize(
    "opened",
    [(), (".", "image", "image/overlay2"), (".", "image", "image/overlay2", "overlay2")],
    ids=["docker-modes", "records-closed", "layerdb-closed"],
)
@pytest.mark.parametrize("command", [("containers",), ("images",), ("check",), ("df",), ("audit",)])
def test_not_root_is_one_clear_line(
    world_copy: Path, opened: tuple[str, ...], command: tuple[str, ...]
) -> None:
    for rel in opened:  # open some dirs to others: the first closed one must be named
        (world_copy / rel).chmod(0o755)
    env = cli_env(HOME="/nonexistent", XDG_CACHE_HOME="/nonexistent")
    for json_flag in ((), ("--json",)):
        run = run_sub(
            *json_flag, "--offline", "--root", str(world_copy), *command, env=env, prefix=AS_NOBODY
        )
        assert_answered(run, {3})
        err = run.err.decode()
        assert "permission denied" in err and "run as root" in err, err
        if json_flag:  # one JSON document still: the error, with the same exit code
            error = json.loads(run.out)["error"]
            assert error["title"] == "permission denied" and error["exit_code"] == 3, error
        else:
            assert run.out == b""


@pytest.mark.root
@pytest.mark.parametrize(
    "command", [("cat", "web", "/srv/www/index.html"), ("diff", "web", "/srv/www/index.html")]
)
def test_a_file_it_may_not_read_is_one_line_naming_it(
    world_copy: Path, captured_root: CapturedRoot, command: tuple[str, ...]
) -> None:
    """Everything readable but one file of a layer (EACCES mid-tree, as on a root squashed
    NFS copy): the command says which file and why, in one line; no 'internal error'."""
    subprocess.run(["chmod", "-R", "a+rX", str(world_copy)], check=True)
    web = next(c for c in captured_root.answers["containers"] if c["name"] == "web")
    upper = world_copy / Path(web["graph_driver"]["Data"]["UpperDir"]).relative_to(
        captured_root.capture_data_root
    )
    locked = upper / "srv" / "www" / "index.html"
    locked.chmod(0o000)
    env = cli_env(HOME="/nonexistent", XDG_CACHE_HOME="/nonexistent")
    run = run_sub("--offline", "--root", str(world_copy), *command, env=env, prefix=AS_NOBODY)
    err = run.err.decode()
    assert "internal error" not in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "permission denied" in err.lower() and "index.html" in err, err
    assert run.code == int(ExitCode.ERROR), err
