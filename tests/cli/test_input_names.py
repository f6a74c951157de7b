"""Names as printed are accepted as input, and what the tool writes itself is not escaped:
a diff that `patch` applies, `created_by` with its own single backslashes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlayscope.names import input_names, printable, unescape
from tests.engine import CapturedRoot
from tests.hostile.cli import run_sub

# -- printable and its inverse --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("plain.txt", "plain.txt"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("back\\slash", "back\\\\slash"),
        ("lit\\x41", "lit\\\\x41"),  # a real backslash: doubled, never read as an escape
        ("tab\tname", "tab\\tname"),
        ("new\nline", "new\\nline"),
        ("raw" + os.fsdecode(b"\xff"), "raw\\xff"),  # an undecodable byte
        ("c1\x85", "c1\\u0085"),  # a C1 control: \u, so \xNN from 0x80 is always a byte
        ("bidi\u202e", "bidi\\u202e"),
        ("emoji \U0001f600", "emoji \U0001f600"),
    ],
)
def test_printable_and_unescape_are_inverse(name: str, shown: str) -> None:
    assert printable(name) == shown
    assert unescape(shown) == name


@given(st.one_of(st.text(), st.binary().map(os.fsdecode)))
def test_unescape_reads_back_every_printed_name(name: str) -> None:
    assert unescape(printable(name)) == name


@pytest.mark.parametrize(
    ("typed", "candidates"),
    [
        ("/app/plain", ["/app/plain"]),
        ("/app/esc\\x1b[31m", ["/app/esc\x1b[31m", "/app/esc\\x1b[31m"]),
        ("/app/back\\slash", ["/app/back\\slash"]),  # `\s` is no escape: as typed
        ("/app/a\\\\b", ["/app/a\\b", "/app/a\\\\b"]),
        ("/app/x\\x4", ["/app/x\\x4"]),  # too few digits: as typed
    ],
)
def test_input_names_printed_form_first(typed: str, candidates: list[str]) -> None:
    assert input_names(typed) == candidates


def test_text_that_is_never_input_keeps_single_backslashes() -> None:
    assert printable("printf '\\t'\x1b", backslash=False) == "printf '\\t'\\x1b"


# -- on a copy of the captured root ---------------------------------------------------------

# name in the container's /app → its content
NAMES: dict[bytes, bytes] = {
    b"esc\x1b[31m": b"the one with an ESC\n",
    b"esc\\x1b[31m": b"the one with a backslash, x, 1, b\n",
    b"back\\slash": b"one real backslash\n",
    b"lit\\x41": b"literally backslash-x-4-1\n",
    b"raw\xff": b"an undecodable byte\n",
    b"nel\xc2\x85": b"a C1 control\n",
    b"tab\tname": b"a tab\n",
}
NEW_TEXT = b"shared\nwith a \\ backslash, a \\x1b and a \\t as text\nand no newline at the end"


@dataclass
class Evidence:
    root: Path
    upper: Path  # the web container's rw layer dir (diff/)


@pytest.fixture(scope="module")
def evidence(
    captured_root: CapturedRoot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Evidence]:
    """A copy of the captured root whose `web` container added hostile names to /app and
    changed /app/lib/a.txt (text with backslashes, no final newline)."""
    dest = tmp_path_factory.mktemp("names") / "docker"
    subprocess.run(["cp", "-a", str(captured_root.path), str(dest)], check=True)
    web = next(c for c in captured_root.answers["containers"] if c["name"] == "web")
    upper = dest / Path(web["graph_driver"]["Data"]["UpperDir"]).relative_to(
        captured_root.capture_data_root
    )
    app = os.fsencode(upper / "app")
    for name, content in NAMES.items():
        with open(os.path.join(app, name), "wb") as f:
            f.write(content)
    (upper / "app" / "lib").mkdir(exist_ok=True)
    (upper / "app" / "lib" / "a.txt").write_bytes(NEW_TEXT)
    try:
        yield Evidence(dest, upper)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _cli(evidence: Evidence, *args: str | bytes) -> bytes:
    run = run_sub("--offline", "--root", str(evidence.root), *args)
    assert run.code == 0, (args, run.err)
    return run.out


@pytest.mark.root
@pytest.mark.parametrize("name", list(NAMES))
def test_cat_finds_the_name_ls_printed(evidence: Evidence, name: bytes) -> None:
    """The name exactly as `ls` printed it (escapes and all) is the argument `cat` takes."""
    listing = _cli(evidence, "ls", "web", "/app").decode()
    shown = printable(os.fsdecode(name))
    assert shown in listing, listing
    assert _cli(evidence, "cat", "web", "/app/" + shown) == NAMES[name]
    assert _cli(evidence, "where", "web", "/app/" + shown).count(b"\n") >= 1


@pytest.mark.root
@pytest.mark.parametrize(
    ("typed", "name"),
    [
        (b"/app/back\\slash", b"back\\slash"),  # typed with its one real backslash
        (b"/app/lit\\x41", b"lit\\x41"),  # no `litA` exists: the text as typed
        (b"/app/raw\xff", b"raw\xff"),  # the raw bytes themselves
        (b"/app/esc\x1b[31m", b"esc\x1b[31m"),
    ],
)
def test_a_real_name_typed_as_it_is_is_found(evidence: Evidence, typed: bytes, name: bytes) -> None:
    assert _cli(evidence, "cat", "web", typed) == NAMES[name]


@pytest.mark.root
def test_diff_into_a_pipe_is_a_patch_that_applies(evidence: Evidence, tmp_path: Path) -> None:
    """The version beneath, patched with `overlayscope diff` by the real patch(1), is the
    version the container holds: the header's tab, one backslash in `\\ No newline at end
    of file`, the content's own backslashes."""
    beneath = _cli(evidence, "cat", "scope/app:1", "/app/lib/a.txt")
    diff = _cli(evidence, "diff", "web", "/app/lib/a.txt")
    lines = diff.decode().splitlines()
    header = [line for line in lines if line.startswith(("--- ", "+++ "))]
    assert len(header) == 2 and all(
        line.startswith(("--- /app/lib/a.txt\t(", "+++ /app/lib/a.txt\t(")) for line in header
    ), lines
    assert "\\ No newline at end of file" in lines
    assert "+with a \\ backslash, a \\x1b and a \\t as text" in lines
    target = tmp_path / "a.txt"
    target.write_bytes(beneath)
    done = subprocess.run(
        ["patch", "--no-backup-if-mismatch", str(target)],
        input=diff,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_bytes() == NEW_TEXT


@pytest.mark.root
def test_history_shows_created_by_with_its_own_backslashes(
    evidence: Evidence, captured_root: CapturedRoot
) -> None:
    """`created_by` is a command as the builder recorded it: shown whole (--no-trunc) with
    single backslashes, the JSON equal to the image config's history."""
    app = next(i for i in captured_root.answers["images"] if "scope/app:1" in i["tags"])
    config = json.loads(
        (evidence.root / "image" / "overlay2" / "imagedb" / "content" / "sha256"
         / app["id"].removeprefix("sha256:")).read_text()
    )  # fmt: skip
    recorded = [h.get("created_by", "") for h in reversed(config["history"])]
    assert any("\\" in step for step in recorded)  # the scenario's printf '\t'
    shown = _cli(evidence, "history", "--no-trunc", "scope/app:1").decode()
    for step in recorded:
        assert printable(step.replace("\t", " "), backslash=False) in shown
    assert "printf '\\t'" in shown and "printf '\\\\t'" not in shown
    rows = json.loads(_cli(evidence, "--json", "history", "scope/app:1"))
    assert [r["created_by"] for r in rows] == recorded
