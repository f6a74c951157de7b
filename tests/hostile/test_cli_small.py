"""The command line's small promises, each seen broken once (issue #15 item 6, #16):
escaped usage errors, "cannot write" for a full disk, stderr lines never hard-wrapped,
one exit status for a closed pipe, `--json` refused for the TUI and answered with an
error document on failure, and scan workers that end with a terminated command.

Each case runs the real CLI in a subprocess on a copy of the captured data root.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.scan.parallel import default_workers
from tests.engine import CapturedRoot
from tests.hostile.cli import PYTHON, RAW_CONTROL, assert_no_raw_control, cli_env, run_sub

pytestmark = pytest.mark.root

MANY = 3000  # entries in one dir: any listing of it is far more than a pipe holds (64 KiB)
HUGE = 150_000  # entries in each of two containers: a scan that lasts while we look


def _copy(captured: CapturedRoot, parent: Path) -> Path:
    root = parent / "root"
    subprocess.run(["cp", "-a", str(captured.path), str(root)], check=True)
    return root


def _rw_diff(root: Path, name: str) -> Path:
    host = load_host(str(root))
    container = next(c for c in host.containers.values() if c.name == name)
    return Path(host.layers[container.layer or ""].content_dir)


def _fill(directory: Path, count: int, stem: str = "f") -> None:
    directory.mkdir()
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            name = f"{stem}{i:07d}"
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def many_root(captured_root: CapturedRoot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The captured root, with MANY files of long names in web's writable layer (/many)."""
    root = _copy(captured_root, tmp_path_factory.mktemp("many"))
    _fill(_rw_diff(root, "web") / "many", MANY, stem="a-rather-long-file-name-to-fill-lines-")
    return root


def _roomy_tmp() -> Path:
    """tmpfs when it has room: HUGE files there take a second, not half a minute."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return Path("/var/tmp")
    return Path("/dev/shm") if st.f_favail > 4 * HUGE else Path("/var/tmp")


@pytest.fixture(scope="module")
def huge_root(captured_root: CapturedRoot) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="overlayscope-term-", dir=_roomy_tmp()))
    try:
        root = _copy(captured_root, parent)
        for name in ("web", "stopped"):
            _fill(_rw_diff(root, name) / "huge", HUGE)
        yield root
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(parent)], check=True)


# --------------------------------------------------------------------------- usage errors

HOSTILE_ARGS = ["\x1b]0;PWNED\x07", "\x1b[2J", "\u202eevil", "a\x9bb", "\x07bell"]


@pytest.mark.parametrize("bad", HOSTILE_ARGS, ids=["osc", "csi", "bidi", "c1", "bel"])
@pytest.mark.parametrize(
    "where", ["command", "extra-argument", "option-value"], ids=lambda w: str(w)
)
def test_usage_errors_never_echo_raw_control_characters(
    captured_root: CapturedRoot, bad: str, where: str
) -> None:
    """argparse repeats what it was given (`invalid choice: …`, `unrecognized arguments:
    …`): escaped, one usage and one error line, exit 2."""
    args = {
        "command": [bad],
        "extra-argument": ["--offline", "--root", str(captured_root.path), "containers", bad],
        "option-value": ["--offline", "--root", str(captured_root.path), "df", "--top", bad],
    }[where]
    run = run_sub(*args)
    assert run.code == 2, str(run)
    assert run.out == b"" and b"Traceback" not in run.err
    assert_no_raw_control(run.err, f"usage error for {bad!r}")
    assert run.err.decode().splitlines()[-1].startswith("overlayscope: error: ")


def test_a_usage_error_with_json_is_a_json_document(captured_root: CapturedRoot) -> None:
    run = run_sub("--json", "--offline", "--root", str(captured_root.path), "df", "--bogus")
    assert run.code == 2
    error = run.json()["error"]
    assert error["exit_code"] == 2 and "--bogus" in error["message"]


# --------------------------------------------------------------------------- --json


@pytest.mark.parametrize(
    "args",
    [
        ("--json", "--snapshot"),
        ("--snapshot", "--json", "tui"),
        ("--snapshot", "tui", "--json"),
        ("--json", "--snapshot", "container", "web", "--tui"),
    ],
    ids=["bare", "tui", "tui-option-after", "container-tui"],
)
def test_json_with_the_tui_is_a_usage_error(args: tuple[str, ...]) -> None:
    """The TUI writes no JSON: `--json` with it is refused before anything runs, and
    the refusal is itself a JSON document (docs/json.md, "Errors")."""
    run = run_sub(*args)
    assert run.code == 2, str(run)
    assert b"--json" in run.err.splitlines()[-1]
    assert run.json()["error"]["exit_code"] == 2


@pytest.mark.parametrize(
    ("args", "title"),
    [
        (("--offline", "--root", "/nonexistent", "containers"), "not a Docker data root"),
        (("container", "no-such-container"), "unknown reference"),
        (("cat", "web", "/no/such/file"), "no such path"),
    ],
    ids=["bad-root", "bad-reference", "bad-path"],
)
def test_json_on_an_error_is_one_json_document(
    captured_root: CapturedRoot, args: tuple[str, ...], title: str
) -> None:
    """`--json` on a failure still writes one JSON document, the error, so a pipeline
    never reads an empty stdout; stderr has its one line as ever."""
    if args[0] != "--offline":
        args = ("--offline", "--root", str(captured_root.path), *args)
    run = run_sub("--json", *args)
    assert run.code == 3, str(run)
    assert len(run.err.splitlines()) == 1
    doc = run.json()
    assert set(doc) == {"error"}
    assert doc["error"]["title"] == title and doc["error"]["exit_code"] == 3
    assert isinstance(doc["error"]["message"], str) and "hint" in doc["error"]


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: os.mkfifo(p), "a fifo"),
        (lambda p: os.mknod(p, 0o600 | stat.S_IFBLK, os.makedev(7, 0)), "a block device"),
        (lambda p: os.mkdir(p), "a directory"),
    ],
    ids=["fifo", "block-device", "directory"],
)
def test_cat_of_a_special_file_says_its_real_type(
    captured_root: CapturedRoot, tmp_path: Path, make: Any, said: str
) -> None:
    """`cat` of what is no regular file names what it is ("is a fifo"), never the
    scanner's catch-all word ("is a other"); nothing is opened (a fifo would block)."""
    root = _copy(captured_root, tmp_path)
    make(str(_rw_diff(root, "web") / "special"))
    run = run_sub("--offline", "--root", str(root), "cat", "web", "/special")
    assert run.code == 3, str(run)
    [line] = run.err.decode().splitlines()
    assert f"is {said}" in line and "other" not in line, line
    run = run_sub("--json", "--offline", "--root", str(root), "cat", "web", "/special")
    assert run.code == 3 and f"is {said}" in run.json()["error"]["message"], str(run)


# --------------------------------------------------------------------------- writes


@pytest.mark.parametrize(
    "args",
    [("layers",), ("--json", "layers"), ("timeline", "--all"), ("ls", "web", "/many")],
    ids=["table", "json", "bodyfile", "listing"],
)
def test_a_full_disk_is_cannot_write(many_root: Path, args: tuple[str, ...]) -> None:
    """stdout on a full disk (/dev/full: every write is ENOSPC): "cannot write", one line,
    exit 3 — not "cannot read", and no second complaint from the interpreter's exit."""
    with open("/dev/full", "wb") as full:
        res = subprocess.run(
            [PYTHON, "-m", "overlayscope", "--offline", "--root", str(many_root), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            env=cli_env(),
            timeout=300,
            check=False,
        )
    lines = res.stderr.decode().splitlines()
    assert res.returncode == 3, res.stderr
    assert lines == ["overlayscope: cannot write: No space left on device: stdout"], lines


# --------------------------------------------------------------------------- | head


@pytest.mark.parametrize(
    "args",
    [
        ("ls", "web", "/many"),
        ("--json", "ls", "web", "/many"),
        ("timeline", "web"),
        ("container", "web"),
    ],
    ids=["table", "json", "bodyfile", "tree"],
)
def test_a_closed_pipe_is_exit_141_quietly(many_root: Path, args: tuple[str, ...]) -> None:
    """`| head -1` on an output far larger than the pipe: the reader goes away after one
    line. The status is 141 (128 + SIGPIPE, what the shell reports for a tool SIGPIPE
    ended; docs/cli.md), never 1 ("found problems"), and nothing is said on stderr."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [PYTHON, "-m", "overlayscope", "--offline", "--root", str(many_root), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=cli_env(),
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # `head -1` exits
        code = proc.wait(timeout=300)
        err.seek(0)
        said = err.read()
    assert first, said
    assert (code, said) == (141, b"")


# --------------------------------------------------------------------------- stderr


LONG_DIR = ("a-long-directory-name-" * 4).rstrip("-")


@pytest.mark.parametrize(
    "args",
    [
        ("timeline", "web"),
        ("container", "web"),
        ("where", "web", f"/{LONG_DIR}/locked/x"),
        ("containers",),
        ("audit",),
        ("df",),
    ],
    ids=["timeline", "container", "where", "containers", "audit", "df"],
)
def test_stderr_warnings_are_never_wrapped(many_root: Path, args: tuple[str, ...]) -> None:
    """A warning naming a long path, on a 40-column terminal width: one line each,
    the path whole (a path cut in two can neither be copied nor grepped). The warnings are
    each command's own, for a dir of the evidence this process may not read (root without
    CAP_DAC_OVERRIDE, as setpriv runs it, and a dir owned by another user, mode 000); `df`
    names the layer, not the path (docs/cli.md)."""
    long_dir = _rw_diff(many_root, "web") / LONG_DIR
    locked = long_dir / "locked"
    locked.mkdir(parents=True)
    os.chown(locked, 4242, 4242)
    os.chmod(locked, 0)
    try:
        run = run_sub(
            "--offline", "--no-cache", "--root", str(many_root), *args,
            env=cli_env(COLUMNS="40"),
            prefix=["setpriv", "--bounding-set", "-dac_override,-dac_read_search"],
        )  # fmt: skip
    finally:
        os.chmod(locked, 0o755)
        locked.rmdir()
        long_dir.rmdir()
    assert run.code == 4 and b"Traceback" not in run.err, str(run)
    lines = run.err.decode().splitlines()
    named = locked.parent.parent.parent.name[:12] if args == ("df",) else str(locked)
    assert any(line.startswith("overlayscope: warning: ") and named in line for line in lines), (
        lines
    )
    for line in lines:
        assert line.startswith("overlayscope: "), lines  # no continuation lines


# --------------------------------------------------------------------------- SIGTERM


def _live_procs() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every process that
    is not a zombie."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # fields: state, ppid, pgrp, session…
            yield int(name), fields


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid`."""
    return {child for child, fields in _live_procs() if int(fields[1]) == pid}


def _in_session(sid: int) -> set[int]:
    """Live processes of session `sid`: every descendant that did not leave it, whoever
    its parent is now (an orphan is given to init or a subreaper)."""
    return {pid for pid, fields in _live_procs() if int(fields[3]) == sid}


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"overlayscope.scan.worker" in f.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_ends_the_scan_workers_with_the_command(huge_root: Path) -> None:
    """`df` scanning a big root, with a worker process at work, gets SIGTERM: by the time
    the command has exited, no worker of it is left (it kills and reaps them first), and
    it exits 143 (128 + SIGTERM) with one line saying so."""
    if default_workers() < 2:
        pytest.skip("one CPU: the scan starts no worker process")
    proc = subprocess.Popen(
        [PYTHON, "-m", "overlayscope", "--offline", "--no-cache", "--root", str(huge_root), "df"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
        start_new_session=True,  # its own session: any process it leaves behind is found
    )
    workers: set[int] = set()
    while proc.poll() is None and not workers:
        workers = {pid for pid in _children(proc.pid) if _is_worker(pid)}
        time.sleep(0.01)  # a poll, not a deadline
    if not workers:
        pytest.fail("the scan ended before a worker started: make HUGE larger")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert not [pid for pid in workers if _alive(pid)], "a scan worker outlived its command"
    assert _in_session(proc.pid) == set(), "a process of the command outlived it"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.decode().splitlines() == ["overlayscope: terminated (SIGTERM)"], err
    assert not RAW_CONTROL.search(err)


def test_json_documents_stay_one_document(captured_root: CapturedRoot) -> None:
    """A command that succeeds writes its document alone: no error object sneaks in."""
    run = run_sub("--json", "--offline", "--root", str(captured_root.path), "containers")
    assert run.code == 0 and isinstance(json.loads(run.out), list)
