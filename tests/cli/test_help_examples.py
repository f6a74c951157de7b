"""Every example a command's `--help` shows works as written (issue #16): the parser takes
it, and the examples that pipe into `jq`, `grep` or `patch` give what they promise when run
by a real shell on the captured snapshot (names of images not in it replaced by one that
is). An example with a field, column or pattern the output does not have fails here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from overlayscope.cli.commands import COMMANDS
from overlayscope.cli.main import build_parser
from tests.engine import CapturedRoot

EXAMPLES = [(c.name, e) for c in COMMANDS for e in c.examples]
# image refs the examples name that the captured snapshot does not hold
STAND_INS = {"nginx:latest": "scope/app:1", "myimage": "scope/app:1"}
REPO = Path(__file__).resolve().parents[2]


def _command_words(example: str) -> list[str]:
    """The overlayscope invocation of `example`, up to a pipe, redirection or `&&`."""
    words = []
    for word in shlex.split(example):
        if word in ("|", ">", "&&"):
            break
        words.append(word)
    assert words[0] == "overlayscope", example
    return words[1:]


@pytest.mark.parametrize(("command", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_the_parser_takes_every_example(command: str, example: str) -> None:
    args = build_parser().parse_args(_command_words(example))  # a usage error: SystemExit
    assert args.command == (None if command == "tui" and example == "overlayscope" else command)


def _shell(example: str, root: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    for name, stand_in in STAND_INS.items():
        example = example.replace(f" {name}", f" {stand_in}")
    entry = shlex.join([sys.executable, "-m", "overlayscope", "--offline", "--root", str(root)])
    line = re.sub(r"^overlayscope\b", entry, example)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache")}
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        capture_output=True, text=True, cwd=tmp, env=env, timeout=300, check=False,
    )  # fmt: skip


PIPED = [(c, e) for c, e in EXAMPLES if re.search(r"\| *(jq|grep)\b", e)]


@pytest.mark.root
@pytest.mark.parametrize(("command", "example"), PIPED, ids=[e for _, e in PIPED])
def test_piped_examples_give_what_they_promise(
    command: str, example: str, captured_root: CapturedRoot, tmp_path: Path
) -> None:
    if "jq" in example and shutil.which("jq") is None:
        pytest.skip("no jq")
    root = captured_root.path
    if command == "orphans":  # the snapshot has no orphan: give it one, in a copy
        root = tmp_path / "root"
        subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
        (root / "overlay2" / ("0" * 64) / "diff").mkdir(parents=True)
    done = _shell(example, root, tmp_path)
    # check exits 1 when there are problems: a clean snapshot has none, so jq reads `[]`
    assert done.returncode == 0 or command == "check", (example, done.stderr)
    assert "Traceback" not in done.stderr
    out = done.stdout
    if command != "check":
        assert out.strip(), (example, done.stderr)
    assert "null" not in out, (example, out)  # a jq field the document does not have


@pytest.mark.root
def test_the_diff_example_is_accepted_by_patch(captured_root: CapturedRoot, tmp_path: Path) -> None:
    """`overlayscope diff web PATH | patch FILE`: FILE holding the version beneath becomes
    the container's version."""
    example = next(e for _, e in EXAMPLES if "| patch" in e)
    words = _command_words(example)
    path, target = words[-1], example.rsplit(" ", 1)[-1]
    base = [sys.executable, "-m", "overlayscope", "--offline", "--root", str(captured_root.path)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def cat(ref: str) -> bytes:
        return subprocess.run([*base, "cat", ref, path], capture_output=True, env=env,
                              check=True).stdout  # fmt: skip

    # the version beneath: the image's (web's rw layer holds the top one)
    (tmp_path / target).write_bytes(cat("scope/app:1"))
    done = _shell(example, captured_root.path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / target).read_bytes() == cat("web")
