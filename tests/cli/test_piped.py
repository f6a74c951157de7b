"""Output into a pipe is never folded: whole ids and paths, one removal command a line
that pastes and runs; on a terminal too, a removal command is never broken in two."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlayscope.usage.advice import orphan_advice
from tests.engine import CapturedRoot
from tests.hostile.cli import cli_env, run_pty, run_sub

pytestmark = pytest.mark.root

ORPHANS = ("ab" * 32, "cd" * 32)
LINKS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ZYXWVUTSRQPONMLKJIHGFEDCBA")


@dataclass
class OrphanRoot:
    root: Path  # a copy of the captured root, at a path longer than any terminal line

    def orphan(self, i: int) -> Path:
        return self.root / "overlay2" / ORPHANS[i]

    def link(self, i: int) -> Path:
        return self.root / "overlay2" / "l" / LINKS[i]


def _add_orphan(root: Path, i: int) -> None:
    """A layer dir with its content, its `link` and its `l/` symlink, and no record."""
    layer = root / "overlay2" / ORPHANS[i]
    (layer / "diff" / "etc").mkdir(parents=True)
    (layer / "diff" / "etc" / "left-behind").write_text("x" * 100)
    (layer / "link").write_text(LINKS[i])
    os.symlink(f"../{ORPHANS[i]}/diff", root / "overlay2" / "l" / LINKS[i])


@pytest.fixture
def orphan_root(captured_root: CapturedRoot, tmp_path: Path) -> Iterator[OrphanRoot]:
    deep = tmp_path / ("evidence-of-a-host-with-a-long-name-" * 3) / "var" / "lib" / "docker"
    deep.parent.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(captured_root.path), str(deep)], check=True)
    try:
        yield OrphanRoot(deep)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _rm_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("rm -rf -- ")]


@pytest.mark.parametrize("count", [1, 2])
def test_orphans_into_a_pipe_whole_and_runnable(orphan_root: OrphanRoot, count: int) -> None:
    """`orphans | cat` on a 40-column COLUMNS: every path whole on one line, the advice
    in the right number, and each removal line, run by bash, removes exactly its orphan
    and its l/ link (in this test's own copy of the root)."""
    for i in range(count):
        _add_orphan(orphan_root.root, i)
    run = run_sub(
        "--offline", "--root", str(orphan_root.root), "orphans", env=cli_env(COLUMNS="40")
    )
    assert run.code == 0, run.err
    text = run.text
    for i in range(count):
        assert str(orphan_root.orphan(i)) in text.splitlines()[1 + i]  # the table row, whole
    noun = "1 orphaned dir," if count == 1 else f"{count} orphaned dirs,"
    assert noun in text
    assert orphan_advice(count) in text.splitlines()  # word for word, as the TUI says it
    lines = _rm_lines(text)
    assert len(lines) == count
    assert all(len(line) > 150 for line in lines)  # far wider than COLUMNS: not folded
    for i, line in enumerate(lines):
        assert orphan_root.orphan(i).is_dir() and orphan_root.link(i).is_symlink()
        subprocess.run(["bash", "-c", line], check=True)
        assert not orphan_root.orphan(i).exists() and not orphan_root.link(i).is_symlink()
    # what is left is the captured root, orphan-free again
    again = run_sub("--offline", "--root", str(orphan_root.root), "orphans")
    assert "No orphaned layer dirs." in again.text


def test_removal_commands_stay_whole_on_a_narrow_terminal(orphan_root: OrphanRoot) -> None:
    """On a 60-column terminal the table may fold, but a removal command never: the
    terminal wraps it on screen, and a copy of it pastes as one command."""
    _add_orphan(orphan_root.root, 0)
    run = run_pty("--offline", "--root", str(orphan_root.root), "orphans", columns=60)
    assert run.code == 0, run.err
    plain = re.sub(r"\x1b\[[0-9;]*m", "", run.text).replace("\r\n", "\n")
    lines = _rm_lines(plain)
    assert lines == [f"rm -rf -- {orphan_root.orphan(0)} {orphan_root.link(0)}"]


def test_tables_into_a_pipe_keep_whole_cells(captured_root: CapturedRoot) -> None:
    """`containers`, `images`, `layers` piped with COLUMNS=30: one line per row, every
    id in full length and every name whole."""
    root = str(captured_root.path)
    run = run_sub("--offline", "--root", root, "containers", env=cli_env(COLUMNS="30"))
    rows = run.text.splitlines()
    assert len(rows) == 1 + len(captured_root.answers["containers"])
    for answer in captured_root.answers["containers"]:
        line = next(r for r in rows if r.startswith(answer["id"][:12]))
        assert f" {answer['name']} " in line
    run = run_sub("--offline", "--root", root, "images", "--all", env=cli_env(COLUMNS="30"))
    assert len(run.text.splitlines()) == 1 + len(captured_root.answers["images"])
