"""Content reads resolve symlinks inside the container root; loops and long chains end in
one clear line (exit 3).

The container of tests/hostile/scenario.py planted in /s: a two-link loop, a link to
itself, a chain of 41 links (one more than the kernel's MAXSYMLINKS) and one of 40,
absolute and climbing links to /etc/passwd, a link to /etc and one to `../../../..`.
The container's /etc/passwd (busybox's two lines) differs from the host's, so reading
the right one proves the resolution stayed inside the container.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.hostile.cli import assert_answered, run_sub
from tests.hostile.scenario import CONTENT, HostileRoot

pytestmark = pytest.mark.engine


def _passwd(h: HostileRoot) -> bytes:
    """The container's /etc/passwd: the base image's, at the bottom of the stack."""
    return (h.image_diffs[-1] / "etc" / "passwd").read_bytes()


@pytest.mark.parametrize("path", ["/s/loop1", "/s/self", "/s/long0", "/s/loop1/x"])
def test_loops_and_long_chains_are_one_line_errors(hostile: HostileRoot, path: str) -> None:
    for json_flag in ((), ("--json",)):
        run = run_sub(*json_flag, *hostile.args("cat", hostile.container_id, path))
        assert_answered(run, {3})
        assert "more than 40 symlinks" in run.err.decode(), run.err


def test_forty_symlinks_still_resolve(hostile: HostileRoot) -> None:
    run = run_sub(*hostile.args("cat", hostile.container_id, "/s/ok0"))
    assert_answered(run, {0})
    assert run.out == CONTENT


@pytest.mark.parametrize(
    "path", ["/s/abs-passwd", "/s/climb-passwd", "/s/etc/passwd", "/s/up/etc/passwd"]
)
def test_symlinks_resolve_inside_the_container(hostile: HostileRoot, path: str) -> None:
    run = run_sub(*hostile.args("cat", hostile.container_id, path))
    assert_answered(run, {0})
    assert run.out == _passwd(hostile)
    assert run.out != Path("/etc/passwd").read_bytes()
    run = run_sub("--json", *hostile.args("cat", hostile.container_id, path))
    assert_answered(run, {0})
    doc = run.json()
    assert doc["resolved"] == "/etc/passwd"
    assert base64.b64decode(doc["data"]) == _passwd(hostile)
    assert doc["layer"] == hostile.image_diffs[-1].parent.name


def test_a_dangling_symlink_is_a_one_line_error(hostile: HostileRoot) -> None:
    run = run_sub(*hostile.args("cat", hostile.container_id, "/s/dangling"))
    assert_answered(run, {3})
    assert "/s/dangling: /no does not exist" in run.err.decode()


def test_diff_resolves_symlinked_dirs_inside_the_container(hostile: HostileRoot) -> None:
    """`diff C /s/etc/passwd` diffs the container's /etc/passwd (the last component is
    taken literally, its dirs are resolved like `cat` does)."""
    run = run_sub("--json", *hostile.args("diff", hostile.container_id, "/s/etc/passwd"))
    assert_answered(run, {0})
    doc = run.json()
    assert doc["path"] == "/etc/passwd" and doc["identical"] is True
    assert doc["new"]["layer"] == hostile.image_diffs[-1].parent.name


def test_diff_compares_a_symlink_by_its_target(hostile: HostileRoot) -> None:
    run = run_sub("--json", *hostile.args("diff", hostile.container_id, "/s/loop1"))
    assert_answered(run, {0})
    doc = run.json()
    assert doc["old"] is None and doc["new"]["entry"] == "symlink"
    assert doc["new"]["target"] == "loop2"


def test_diff_through_a_loop_is_a_one_line_error(hostile: HostileRoot) -> None:
    run = run_sub(*hostile.args("diff", hostile.container_id, "/s/loop1/passwd"))
    assert_answered(run, {3})
    assert "more than 40 symlinks" in run.err.decode()


def test_hashing_never_follows_a_symlink(hostile: HostileRoot) -> None:
    """`audit --hash` hashes the regular files each layer holds; a symlink is not hashed,
    so a link to /etc/passwd never brings in a digest of any passwd file."""
    run = run_sub("--json", *hostile.args("audit", "--hash"))
    assert_answered(run, {0})
    hashes = run.json()["hashes"]
    mine = [h for h in hashes if h["container"] == hostile.container_id]
    assert mine and not any(h["path"].startswith("/s/") for h in mine)
    assert all(h["role"] in ("rw", "init") for h in mine)
