"""A hard link is marked as one wherever a file is listed, and counted once (issue #16):
the captured container `web` hard-linked an image file (`ln /app/bin/tool.sh
/app/bin/tool-link`), which copied `tool.sh` up and gave its inode a second name."""

from __future__ import annotations

import pytest

from overlayscope.errors import ExitCode
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.root


def test_container_marks_the_hard_link(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--offline", "--root", str(captured_root.path), "container", "web")
    code, doc = run_json(capsys, *args)
    assert code == ExitCode.OK
    by_path = {c["path"]: c for c in doc["changes"]}
    link = by_path["/app/bin/tool-link"]
    assert (link["kind"], link["nlink"], link["hardlink"]) == ("A", 2, True)
    assert by_path["/srv/www/big.bin"]["hardlink"] is False
    assert by_path["/app/bin"]["hardlink"] is False  # a dir is never one, whatever its nlink
    assert all(c["hardlink"] == (c["nlink"] > 1 and c["entry"] not in ("dir", "opaque-dir"))
               for c in doc["changes"])  # fmt: skip

    code, out, _ = run_text(capsys, *args)
    assert code == ExitCode.OK
    line = next(line for line in out.splitlines() if "tool-link" in line)
    assert line.endswith("copy-up  [hard link: 2 names]"), line
    assert sum("[hard link" in line for line in out.splitlines()) == 1, out


def test_ls_marks_both_names(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--offline", "--root", str(captured_root.path), "ls", "web", "/app/bin")
    code, listing = run_json(capsys, *args)
    assert code == ExitCode.OK
    assert {(e["name"], e["nlink"], e["hardlink"]) for e in listing} == {
        ("tool.sh", 2, True),
        ("tool-link", 2, True),
    }


def test_df_containers_marks_both_names_and_counts_the_inode_once(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tool.sh` was copied up by the link (same bytes) and `tool-link` is its new name
    (moved): two copy-ups of one inode, its 20 bytes once."""
    args = ("--offline", "--root", str(captured_root.path), "df", "--containers")
    code, doc = run_json(capsys, *args, "--top", "50")
    assert code == ExitCode.OK
    web = next(c for c in doc["containers"] if c["name"] == "web")["copy_ups"]
    ups = {u["path"]: u for u in web["largest_copy_ups"]}
    link, source = ups["/app/bin/tool-link"], ups["/app/bin/tool.sh"]
    assert (link["moved"], link["content"], link["hardlink"], link["nlink"]) == (
        True, None, True, 2,
    )  # fmt: skip
    assert (source["moved"], source["content"], source["hardlink"]) == (False, "same", True)
    assert ups["/app/conf/app.conf"]["hardlink"] is False
    assert not any(a["hardlink"] for a in web["largest_additions"])
    # bytes: each inode once
    inodes = {
        u["path"]: u["size"] for u in web["largest_copy_ups"] if u["path"] != "/app/bin/tool.sh"
    }
    assert web["copied_up_bytes"] == sum(inodes.values())
    assert web["copied_up_files"] == len(ups)  # names

    code, out, _ = run_text(capsys, *args)
    assert code == ExitCode.OK
    line = next(line for line in out.splitlines() if "/app/bin/tool-link" in line)
    assert "renamed or linked here [hard link: 2 names]" in line
    line = next(line for line in out.splitlines() if "/app/bin/tool.sh" in line)
    assert "same bytes [hard link: 2 names]" in line
