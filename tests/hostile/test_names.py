"""Hostile names in every human output, exact bytes in every JSON document.

The evidence is real (tests/hostile/scenario.py): an image built and a container run on
the private engine write file names, symlink targets, contents and a build step holding
ESC sequences (window title, clear screen, OSC 8 hyperlinks), BEL, newlines, C1 controls,
bytes that are not UTF-8, bidi overrides, zero-width characters and Rich/Textual markup;
a copy of that root adds a hostile tag, container name, orphaned dir and volume.

- Piped (NO_COLOR, TERM=dumb): no raw control byte at all on stdout or stderr, and each
  name shows in its escaped form (`\\x1b`, `\\n`, `\\xff`, `\\u202e`), markup literally.
- On a pseudo-terminal (colour on): every ESC on stdout starts one of Rich's own SGR
  styling sequences; no BEL, no OSC (title, hyperlink), no C1 control.
- JSON: `os.fsencode(value)` gives back the exact bytes on disk.
"""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest

from overlayscope.names import printable
from tests.hostile.cli import (
    Run,
    assert_answered,
    assert_no_raw_control,
    assert_terminal_safe,
    check_json,
    run_pty,
    run_sub,
)
from tests.hostile.scenario import (
    CONTAINER_NAME,
    CONTENT,
    HOSTILE_STEP,
    IMAGE_TAG,
    MARKUP_PATH,
    NAMES,
    ORPHAN,
    TAG,
    TARGETS,
    VOLUME,
    HostileRoot,
)

pytestmark = pytest.mark.engine

NAME = CONTAINER_NAME.lstrip("/")


def shown(value: str | bytes) -> str:
    """How human output must show a name from the evidence."""
    return printable(os.fsdecode(value))


def _h(label: str) -> bytes:
    return b"/h/" + NAMES[label]


def human_commands(h: HostileRoot) -> dict[str, tuple[tuple[str | bytes, ...], list[str]]]:
    """id → (arguments, what the output must show, escaped)."""
    c = h.container_id
    added = [shown(name) for name in NAMES.values()]
    return {
        "containers": (("containers",), [shown(NAME), shown(TAG)]),
        "images": (("images",), [shown(TAG)]),
        "layers": (("layers",), [shown(NAME), shown(TAG), shown(os.fsdecode(ORPHAN)[:12])]),
        "orphans": (("orphans",), [shown(ORPHAN), "rm -rf -- $'"]),
        "check": (("check",), [shown(ORPHAN)]),
        "container": (("container", c), added),
        "where": (("where", c, _h("osc-title")), [shown(_h("osc-title"))]),
        "where-markup": (("where", c, MARKUP_PATH), [MARKUP_PATH.decode()]),
        "where-image": (("where", IMAGE_TAG, "/nonexistent"), [shown(TAG)]),
        "ls": (
            ("ls", c, "/h"),
            [shown(n) for k, n in NAMES.items() if k != "bidi"]
            + [shown(t) for t in TARGETS.values()],
        ),
        "diff": (
            ("diff", c, _h("clear")),
            [r"title\x1b]0;pwned\x07", "[bold]markup[/bold]", "[link=file:///etc/passwd]x[/link]"],
        ),
        "diff-symlink": (("diff", c, "/h/t-osc"), [shown(TARGETS["t-osc"])]),
        "df": (
            ("df", "--top", "50", "--containers"),
            [shown(b"/c/big-" + NAMES["osc-title"]), shown(VOLUME), shown(NAME)],
        ),
        "efficiency": (
            ("efficiency", IMAGE_TAG),
            [shown(_h("osc-title")), r"\x1b]0;pwned\x07", "[bold]b[/bold]", shown(TAG)],
        ),
        "audit": (
            ("audit", "--images", "--hash", "--ungrouped"),
            [shown(NAME), shown(b"/c/" + NAMES["controls"]), shown(b"/c/" + NAMES["bidi"])],
        ),
    }


@pytest.fixture(scope="module")
def outputs(hostile: HostileRoot) -> dict[str, tuple[Run, list[str]]]:
    return {
        key: (run_sub(*hostile.args(*args)), markers)
        for key, (args, markers) in human_commands(hostile).items()
    }


KEYS = [
    "containers", "images", "layers", "orphans", "check", "container", "where", "where-markup",
    "where-image", "ls", "diff", "diff-symlink", "df", "efficiency", "audit",
]  # fmt: skip


@pytest.mark.parametrize("key", KEYS)
def test_piped_output_shows_names_escaped(
    outputs: dict[str, tuple[Run, list[str]]], key: str
) -> None:
    run, markers = outputs[key]
    assert_answered(run, {1} if key == "check" else {0})
    assert_no_raw_control(run.out, key)
    assert_no_raw_control(run.err, key)
    for marker in markers:
        assert marker in run.text, f"{key}: {marker!r} not shown in\n{run.text[:3000]}"
    # Nothing was taken for markup: the literal brackets are there, and a newline in a
    # name never splits a line.
    assert "new\nline" not in run.text


@pytest.mark.parametrize("key", KEYS)
def test_terminal_output_holds_only_rich_styling(hostile: HostileRoot, key: str) -> None:
    args, markers = human_commands(hostile)[key]
    run = run_pty(*hostile.args(*args), columns=1000)
    assert_answered(run, {1} if key == "check" else {0})
    assert_terminal_safe(run.out, key)
    assert b"\x1b]" not in run.out  # no OSC: no title, no hyperlink (Rich's [link=])
    assert_no_raw_control(run.err, key)
    plain = re.sub(rb"\x1b\[[0-9;]*m", b"", run.out).decode("utf-8", "surrogateescape")
    for marker in markers:
        assert marker in plain, f"{key}: {marker!r} not shown on the terminal"


def test_cat_on_a_terminal_escapes_the_content(hostile: HostileRoot) -> None:
    run = run_pty(*hostile.args("cat", hostile.container_id, "/h/content.txt"))
    assert_answered(run, {0})
    assert_terminal_safe(run.out, "cat")
    expected = [printable(line) for line in os.fsdecode(CONTENT).splitlines()]
    assert run.out.decode().splitlines() == expected


def test_cat_on_a_terminal_refuses_a_binary(hostile: HostileRoot) -> None:
    run = run_pty(*hostile.args("cat", hostile.container_id, "/bin/busybox"))
    assert_answered(run, {0})
    assert run.out == b""
    assert b"binary" in run.err and len(run.err.splitlines()) == 1


def test_cat_into_a_pipe_gives_the_exact_bytes(hostile: HostileRoot) -> None:
    run = run_sub(*hostile.args("cat", hostile.container_id, "/h/content.txt"))
    assert_answered(run, {0})
    assert run.out == CONTENT


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("cat", "{c}", b"/h/missing\x1b]0;pwned\x07\xff[bold]"), "no such path"),
        (("ls", "{c}", _h("osc-title")), "not a directory"),
        (("container", "[bold]\x1b]0;pwned\x07\u202e"), "unknown reference"),
        (("where", "evil\x1b[2J:[link=file:///etc/passwd]x[/link]", "/"), "unknown reference"),
    ],
    ids=["cat-missing", "ls-file", "container-ref", "where-ref"],
)
def test_errors_name_the_evidence_escaped(
    hostile: HostileRoot, args: tuple[str | bytes, ...], what: str
) -> None:
    argv = [a.replace("{c}", hostile.container_id) if isinstance(a, str) else a for a in args]
    for run in (run_sub(*hostile.args(*argv)), run_pty(*hostile.args(*argv))):
        assert_answered(run, {3})
        assert_no_raw_control(run.err, " ".join(map(os.fsdecode, argv)))
        assert what in run.err.decode()
        assert "\\x1b" in run.err.decode()


def test_bodyfile_and_csv_escape_names(hostile: HostileRoot) -> None:
    run = run_sub(*hostile.args("timeline", hostile.container_id))
    assert_answered(run, {0})
    lines = run.out.split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert line.count(b"|") == 10, line  # a name never adds a field or a line
        assert_no_raw_control(line, "bodyfile")
    body = run.text
    assert r"title\x1b]0;pwned\x07end" in body and r"new\x0aline" in body
    assert r"bad\xff\xfeutf8" in body and r"\u202e" in body and "[bold]loud" in body
    run = run_sub(*hostile.args("timeline", hostile.container_id, "--csv"))
    assert_answered(run, {0})
    assert_no_raw_control(run.out, "csv")
    assert r"new\x0aline" in run.text


# -- JSON: exact bytes --------------------------------------------------------------------


def _json(h: HostileRoot, *args: str | bytes) -> object:
    run = run_sub("--json", *h.args(*args))
    assert_answered(run, {1} if args[0] == "check" else {0})
    assert run.out.isascii()  # ensure_ascii: surrogates and controls are JSON escapes
    doc = run.json()
    check_json(str(args[0]), doc)
    return doc


def _names(directory: Path) -> set[bytes]:
    return set(os.listdir(os.fsencode(directory)))


def _whiteouts(directory: Path) -> set[bytes]:
    out = set()
    for name in os.listdir(os.fsencode(directory)):
        st = os.lstat(os.path.join(os.fsencode(directory), name))
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out.add(name)
    return out


def test_json_container_changes_round_trip(hostile: HostileRoot) -> None:
    doc = _json(hostile, "container", hostile.container_id)
    assert isinstance(doc, dict)
    assert doc["name"] == NAME
    changes = {os.fsencode(c["path"]): c for c in doc["changes"]}
    added = {p for p in changes if p.startswith(b"/c/")}
    assert added == {b"/c/" + n for n in _names(hostile.rw_diff / "c")}
    assert changes[_h("clear")]["kind"] == "C"
    assert changes[_h("bidi")]["kind"] == "D"
    assert changes[b"/h/d/" + NAMES["textual-click"]]["kind"] == "D"


def test_json_ls_round_trip(hostile: HostileRoot) -> None:
    doc = _json(hostile, "ls", hostile.container_id, "/h")
    assert isinstance(doc, list)
    on_disk = set().union(*(_names(d / "h") for d in (hostile.rw_diff, *hostile.image_diffs)
                            if (d / "h").is_dir()))  # fmt: skip
    visible = on_disk - _whiteouts(hostile.rw_diff / "h")
    assert {os.fsencode(e["name"]) for e in doc} == visible
    assert all(os.fsencode(e["path"]) == b"/h/" + os.fsencode(e["name"]) for e in doc)


def test_json_where_and_diff_round_trip(hostile: HostileRoot) -> None:
    path = _h("not-utf8")
    doc = _json(hostile, "where", hostile.container_id, path)
    assert isinstance(doc, dict)
    assert os.fsencode(doc["path"]) == path and doc["visible"] is True
    assert len(doc["stack"]) == 2  # written in the first layer, rewritten in the second
    doc = _json(hostile, "diff", hostile.container_id, "/h/t-bell")
    assert isinstance(doc, dict)
    assert os.fsencode(doc["new"]["target"]) == TARGETS["t-bell"]
    assert os.fsencode(doc["new"]["target"]) == os.readlink(
        os.fsencode(hostile.image_diffs[1] / "h" / "t-bell")
    )


def test_json_cat_round_trip(hostile: HostileRoot) -> None:
    doc = _json(hostile, "cat", hostile.container_id, "/s/to-content")
    assert isinstance(doc, dict)
    assert base64.b64decode(doc["data"]) == CONTENT
    assert doc["resolved"] == "/h/content.txt" and doc["symlinks"] == ["/s/to-content"]


def test_json_records_round_trip(hostile: HostileRoot) -> None:
    images = _json(hostile, "images")
    assert isinstance(images, list)
    image = next(i for i in images if i["id"] == hostile.image_id)
    assert TAG in image["tags"]
    assert any(HOSTILE_STEP in layer["created_by"] for layer in image["layers"])
    orphans = _json(hostile, "orphans")
    assert isinstance(orphans, list)
    assert [os.fsencode(o["id"]) for o in orphans] == [ORPHAN]
    df = _json(hostile, "df", "--top", "50")
    assert isinstance(df, dict)
    assert VOLUME in {os.fsencode(v["name"]) for v in df["volumes"]}
    big = os.fsencode(hostile.rw_diff / "c") + b"/big-" + NAMES["osc-title"]
    assert big in {os.fsencode(f["path"]) for f in df["top_files"]}


def test_json_audit_and_timeline_round_trip(hostile: HostileRoot) -> None:
    audit = _json(hostile, "audit")
    assert isinstance(audit, dict)
    flagged = {os.fsencode(f["path"]) for f in audit["findings"] if f["kind"] == "name-control"}
    assert {b"/c/" + NAMES[k] for k in ("osc-title", "newline", "controls")} <= flagged
    for finding in audit["findings"]:
        assert finding["detail"].isprintable(), finding  # details show evidence escaped
    timeline = _json(hostile, "timeline", hostile.container_id)
    assert isinstance(timeline, dict)
    paths = {os.fsencode(e["path"]) for e in timeline["entries"]}
    assert {b"/c/" + n for n in _names(hostile.rw_diff / "c")} <= paths
    targets = {os.fsencode(e["path"]): e["target"] for e in timeline["entries"]}
    assert targets[b"/s/loop1"] == "loop2"
