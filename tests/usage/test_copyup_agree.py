"""One copy-up classification in every front end, and hard links counted once (issue #16).

A real dockerd container makes each case the front ends used to disagree on: `h1` (a hard
link to an image file: the file is copied up, `h1` is its new name), `hardcopy` (a `cp` of
an image file: the same bytes, but a new inode, an addition), `moved.txt` (an image file
renamed: copied up, then moved), a chmod-only copy-up (same bytes), and an opaque dir
re-made over a dir the image already made opaque (never a copy-up). `container` (JSON and
human), `df --containers`, the TUI's change marks and `audit --hash` must say the same of
each. The hard-link totals are checked against the engine's own `SizeRw`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from overlayscope.errors import ExitCode
from overlayscope.union.diff import Change, ChangeKind
from tests.engine import PrivateEngine
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.engine

DOCKERFILE = """\
FROM {base}
COPY orig forlink tomove chm /data/
RUN mkdir /opq && echo a > /opq/a
RUN rm -rf /opq && mkdir /opq && echo b > /opq/b
"""
SCRIPT = (
    "ln /data/forlink /h1; cp /data/orig /hardcopy; mv /data/tomove /moved.txt; "
    "chmod 600 /data/chm; rm -rf /opq && mkdir /opq && echo c > /opq/c"
)
# path -> is it a copy-up (the one answer every front end must give)
EXPECTED = {"/h1": True, "/hardcopy": False, "/moved.txt": True, "/data/chm": True}


@pytest.fixture(scope="module")
def scene(engine: PrivateEngine, base_image: str) -> Iterator[dict[str, Any]]:
    sizes = (("orig", 30_000), ("forlink", 40_000), ("tomove", 50_000), ("chm", 20_000))
    files = {name: os.urandom(size) for name, size in sizes}
    engine.build("agree/img:1", DOCKERFILE.format(base=base_image), files)
    cid = engine.run("agree/img:1", ["sh", "-c", SCRIPT], name="agree-copyups")
    assert engine.docker("wait", cid).strip() == "0", engine.docker("logs", cid)
    links = engine.run(
        base_image, ["sh", "-c", "cp /bin/busybox /bb && ln /bb /bb2"], name="agree-links"
    )
    assert engine.docker("wait", links).strip() == "0", engine.docker("logs", links)
    yield {"cid": cid, "links": links, "root": str(engine.data_root)}


def test_the_image_layer_already_made_opq_opaque(
    scene: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, where = run_json(capsys, "--root", scene["root"], "where", "agree/img:1", "/opq")
    assert code == ExitCode.OK
    assert where["stack"][0]["entry"] == "opaque-dir"  # the case below re-makes it over this


def test_container_json_and_tui_agree(
    scene: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from overlayscope.tui.widgets.files.change_tree import change_marks

    code, doc = run_json(capsys, "--root", scene["root"], "container", "agree-copyups")
    assert code == ExitCode.OK
    found = {c["path"]: c for c in doc["changes"]}
    for path, copy_up in EXPECTED.items():
        assert found[path]["copy_up"] is copy_up, path
        change = Change(
            path, ChangeKind(found[path]["kind"]), found[path]["entry"], found[path]["size"],
            found[path]["copy_up"], found[path]["content"],
        )  # fmt: skip
        marks = [m.plain for m in change_marks(change)]
        assert ("copy-up" in marks) is copy_up, (path, marks)
    # the opaque dir re-made over an opaque one: a change, never a copy-up
    assert found["/opq"]["entry"] == "opaque-dir" and found["/opq"]["copy_up"] is False
    assert found["/data/chm"]["content"] == "same" and found["/data/chm"]["meta"] == ["mode"]
    assert "(same bytes)" in [m.plain for m in change_marks(_change(found["/data/chm"]))]
    assert found["/moved.txt"]["kind"] == "A" and found["/data/tomove"]["kind"] == "D"
    totals = doc["totals"]
    assert totals["copied_up"] == sum(
        1 for c in doc["changes"] if c["copy_up"] and c["entry"] == "file"
    )
    assert totals["metadata_only"] == 1  # /data/chm: the one copy-up with the same bytes


def _change(c: dict[str, Any]) -> Change:
    return Change(
        c["path"], ChangeKind(c["kind"]), c["entry"], c["size"], c["copy_up"], c["content"]
    )


def test_container_human_says_same_bytes(
    scene: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_text(capsys, "--root", scene["root"], "container", "agree-copyups")
    assert code == ExitCode.OK
    chm = next(line for line in out.splitlines() if "chm" in line)
    assert "copy-up (same bytes)" in chm
    assert "metadata only" not in out and "same content" not in out


def test_df_containers_agrees(scene: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "--root", scene["root"], "df", "--containers", "--top", "50")
    assert code == ExitCode.OK
    c = next(c for c in doc["containers"] if c["name"] == "agree-copyups")
    ups = {u["path"]: u for u in c["copy_ups"]["largest_copy_ups"]}
    adds = {a["path"] for a in c["copy_ups"]["largest_additions"]}
    for path, copy_up in EXPECTED.items():
        assert (path in ups) is copy_up and (path in adds) is not copy_up, path
    assert ups["/data/chm"]["content"] == "same"
    assert "/opq/c" in adds and "/opq" not in ups
    # /data/forlink was copied up by the link and shares its inode with /h1: bytes once
    assert "/data/forlink" in ups
    code, out, _ = run_text(capsys, "--root", scene["root"], "df", "--containers")
    assert "same bytes" in out and "same content" not in out


def test_audit_agrees(scene: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "--root", scene["root"], "audit", "--hash")
    assert code in (ExitCode.OK, ExitCode.FINDINGS)
    mine = {h["path"]: h for h in doc["hashes"] if h["container"] == scene["cid"]}
    for path, copy_up in EXPECTED.items():
        assert mine[path]["copy_up"] is copy_up, path


def test_hard_links_count_once_as_the_engine_counts(
    engine: PrivateEngine, scene: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    size_rw = engine.inspect(scene["links"], size=True)[0]["SizeRw"]
    code, doc = run_json(capsys, "--root", scene["root"], "container", "agree-links")
    assert code == ExitCode.OK
    added = {c["path"]: c for c in doc["changes"] if c["kind"] == "A"}
    assert {"/bb", "/bb2"} <= set(added)
    busybox = added["/bb"]["size"]
    assert size_rw == busybox  # the engine counts the inode once
    assert doc["totals"]["added_bytes"] == size_rw  # and so do we, not twice
    # each name is marked as a hard link, in JSON and in the tree
    assert added["/bb"]["hardlink"] is True and added["/bb"]["nlink"] == 2
    assert added["/bb2"]["hardlink"] is True
    code, out, _ = run_text(capsys, "--root", scene["root"], "container", "agree-links")
    marked = [line for line in out.splitlines() if re.search(r"\bA bb2? ", line)]
    assert len(marked) == 2, out
    assert all(line.endswith("[hard link: 2 names]") for line in marked), out
    code, listing = run_json(capsys, "--root", scene["root"], "ls", "agree-links", "/")
    by_name = {e["name"]: e for e in listing}
    assert by_name["bb"]["hardlink"] is True and by_name["bb"]["nlink"] == 2
    assert by_name["bin"]["hardlink"] is False
