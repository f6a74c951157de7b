"""A CLI that composes: global options after the command, a --help with a description and
examples for every command, and no TUI drawn into a pipe."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from overlayscope.cli.commands import COMMANDS
from overlayscope.cli.main import _command_name, build_parser, main
from overlayscope.errors import ExitCode
from tests.engine import CapturedRoot

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overlayscope", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], None),
        (["--version"], None),
        (["containers"], "containers"),
        (["containers", "--json"], "containers"),
        (["--root", "/r", "images"], "images"),
        (["--root=/r", "images"], "images"),
        (["--ro", "/r", "layers"], "layers"),  # argparse's unique prefix of --root
        (["--json", "--namespace", "k8s.io", "df", "--top", "3"], "df"),
        (["--offline", "--snapshot", "cat", "web", "/x"], "cat"),
        (["--storage-conf", "c.conf", "--containerd-root", "/c", "tui"], "tui"),
        (["--root", "containers", "orphans"], "orphans"),  # a root dir named like a command
        (["--", "where"], "where"),
    ],
)
def test_the_command_is_found_without_parsing(argv: list[str], command: str | None) -> None:
    """Which command module to import, from the raw arguments."""
    assert _command_name(argv) == command


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_has_a_help_with_description_and_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    spec = next(c for c in COMMANDS if c.name == command)
    assert " ".join(spec.description.split()[:6]) in " ".join(out.split())
    assert "examples:\n" in out
    for example in spec.examples:
        assert f"  {example}\n" in out  # one line each, never re-wrapped
    # the global options, after it too, apart from its own
    assert "global options (before or after the command):\n  --root PATH" in out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for c in COMMANDS:
        assert f"    {c.name} " in out, c.name


def test_the_full_parser_and_the_lazy_one_agree() -> None:
    """build_parser() with every command loaded parses what main's lazy parser parses."""
    argv = ["--offline", "images", "--all", "--columns", "image,tags", "--root", "/r"]
    full = vars(build_parser().parse_args(argv))
    lazy = vars(build_parser("images").parse_args(argv))
    assert full == lazy
    assert full["root"] == "/r" and full["offline"] and full["all"]
    assert full["columns"] == ["image", "tags"]


def test_an_option_after_the_command_wins_over_the_same_before() -> None:
    args = build_parser().parse_args(["--root", "/a", "containers", "--root", "/b"])
    assert args.root == "/b"
    args = build_parser().parse_args(["--root", "/a", "containers"])
    assert args.root == "/a" and args.json is False  # SUPPRESSed: nothing reset


@pytest.mark.root
def test_global_options_after_the_command_give_the_same_answer(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(captured_root.path)
    answers = []
    for argv in (
        ["--json", "--offline", "--root", root, "containers"],
        ["containers", "--json", "--offline", "--root", root],
        ["--offline", "containers", "--root", root, "--json"],
    ):
        capsys.readouterr()
        assert main(argv) == ExitCode.OK
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] == answers[1] == answers[2]
    assert {c["name"] for c in answers[0]} == {
        c["name"] for c in captured_root.answers["containers"]
    }


def test_a_wrong_option_after_the_command_is_a_usage_error() -> None:
    done = _run("containers", "--no-such-option")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.strip().splitlines()[-1].startswith("overlayscope: error:")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [[], ["tui"], ["--offline", "tui"]])
def test_no_tui_without_a_terminal(argv: list[str]) -> None:
    """stdin and stdout not a terminal: one line saying what to run instead, exit 2; the
    TUI is never started (Textual never imported: it would wait for keys in a pipe)."""
    done = _run(*argv)
    assert done.returncode == ExitCode.USAGE
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0], done.stderr
    assert "overlayscope containers" in lines[0]


def test_no_tui_when_only_stdout_is_a_pipe() -> None:
    """stdin a terminal (a pty), stdout a pipe: `overlayscope | less` must not start it."""
    leader, follower = pty.openpty()
    try:
        done = _run(stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == ExitCode.USAGE
    assert "needs a terminal" in done.stderr


@pytest.mark.root
def test_container_tui_into_a_pipe_is_refused_too(captured_root: CapturedRoot) -> None:
    done = _run("--offline", "--root", str(captured_root.path), "container", "web", "--tui")
    assert done.returncode == ExitCode.USAGE
    assert len(done.stderr.splitlines()) == 1 and "needs a terminal" in done.stderr


def test_json_for_the_tui_is_still_a_usage_error() -> None:
    done = _run("--json")
    assert done.returncode == ExitCode.USAGE
    assert "--json is for the commands" in done.stderr


@pytest.mark.root
def test_captured_virtual_sizes_are_the_engines(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline, on the captured snapshot: `size` and `size_root_fs` equal what the engine
    answered when it was captured (`docker inspect --size`: SizeRw, SizeRootFs)."""
    assert main(["--offline", "--root", str(captured_root.path), "--json", "containers"]) == 0
    by_id = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    for answer in captured_root.answers["containers"]:
        ours = by_id[answer["id"]]
        assert (ours["size"], ours["size_root_fs"]) == (
            answer["size_rw"],
            answer["size_root_fs"],
        ), answer["name"]
