"""container / where / ls / cat / diff end to end, against a private engine.

The oracle is the engine: `docker diff`, GraphDriver data, and what a container
of the same image sees when it runs `ls`, `cat` or `test -e`.
"""

from __future__ import annotations

import base64
import os

import pytest

from overlayscope.errors import ExitCode
from tests.engine import PrivateEngine
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.engine

KINDS = {0: "C", 1: "A", 2: "D"}

DOCKERFILE = """\
FROM {base}
RUN mkdir -p /d/sub /keep && echo a > /d/a && echo b > /d/sub/b && echo gone > /f \\
 && echo keep > /keep/k && echo old > /notes && ln -s /keep/k /abs-link \\
 && ln -s ../../../../../../keep/k /climbing-link && ln -s /loop2 /loop1 && ln -s /loop1 /loop2
RUN rm /f && rm -rf /d && mkdir /d && echo c > /d/c && echo new > /notes
"""


@pytest.fixture(scope="module")
def image(engine: PrivateEngine, base_image: str) -> str:
    engine.build("files/img:1", DOCKERFILE.format(base=base_image))
    return "files/img:1"


@pytest.fixture(scope="module")
def container(engine: PrivateEngine, image: str) -> str:
    cid = engine.run(
        image,
        [
            "sh",
            "-c",
            "echo more >> /notes; chmod 600 /keep/k; rm /d/c; mkdir -p /n/e; "
            "dd if=/dev/zero of=/n/e/big bs=1k count=200 2>/dev/null; sleep 3600",
        ],
        name="files-web",
    )
    for _ in range(100):
        if any(c["Path"] == "/n/e/big" for c in engine.client.api.diff(cid) or []):
            break
        os.system("sleep 0.1")
    return cid


def _sees(engine: PrivateEngine, image: str, script: str) -> str:
    return engine.run(image, ["sh", "-c", script], detach=False, extra=["--rm"])


def test_container_changes_equal_docker_diff(
    engine: PrivateEngine,
    container: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    code, report = run_json(capsys, "container", "files-web")
    assert code == ExitCode.OK
    truth = engine.inspect(container, size=True)[0]
    assert report["id"] == container and report["name"] == "files-web"
    assert report["state"] == truth["State"]["Status"]
    data = truth["GraphDriver"]["Data"]
    stack = [
        os.path.basename(os.path.dirname(p))
        for p in [data["UpperDir"], *data["LowerDir"].split(":")]
    ]
    assert [layer["id"] for layer in report["layers"]] == stack
    assert [layer["role"] for layer in report["layers"]][:2] == ["rw", "init"]
    diff = {(KINDS[c["Kind"]], c["Path"]) for c in engine.client.api.diff(container)}
    assert {(c["kind"], c["path"]) for c in report["changes"]} == diff
    by_path = {c["path"]: c for c in report["changes"]}
    notes = by_path["/notes"]
    assert (notes["copy_up"], notes["content"]) == (True, "changed")
    assert "size" in notes["meta"]
    k = by_path["/keep/k"]
    assert (k["copy_up"], k["content"], k["meta"]) == (True, "same", ["mode"])
    totals = report["totals"]
    assert totals["deleted"] == sum(1 for kind, _ in diff if kind == "D")
    assert totals["metadata_only_bytes"] == k["size"]
    # SizeRw counts the same files the A/C lines do (each inode once).
    non_dirs = [c for c in report["changes"] if c["kind"] != "D" and c["entry"] != "dir"]
    assert sum(c["size"] for c in non_dirs) == truth["SizeRw"]


def test_where_shows_whiteout_and_opaque(
    engine: PrivateEngine, image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(engine.data_root)
    assert _sees(engine, image, "test -e /f && echo yes || echo no").strip() == "no"
    code, where = run_json(capsys, "--root", root, "where", image, "/f")
    assert code == 0
    assert where["visible"] is False and where["winner"] is None
    assert [(h["entry"], h["state"]) for h in where["stack"]] == [
        ("whiteout", "whiteout"),
        ("file", "hidden-by-whiteout"),
    ]
    code, where = run_json(capsys, "--root", root, "where", image, "/d/a")
    assert where["visible"] is False
    # /d/a lives in the lower layer only; the opaque /d above hides it as an ancestor.
    assert where["stack"][0]["state"] == "hidden-by-parent"
    assert where["stack"][0]["hidden_by"]["path"] == "/d"
    assert where["stack"][0]["hidden_by"]["kind"] == "opaque-dir"
    code, where = run_json(capsys, "--root", root, "where", image, "/d")
    assert [h["entry"] for h in where["stack"]] == ["opaque-dir", "dir"]
    assert where["visible"] and where["winner"] == where["stack"][0]["layer"]


def test_ls_equals_what_a_container_sees(
    engine: PrivateEngine, image: str, container: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(engine.data_root)
    for path in ("/d", "/keep"):  # nothing the init layer adds: the image alone answers
        seen = set(_sees(engine, image, f"ls -A {path}").split())
        code, listing = run_json(capsys, "--root", root, "ls", image, path)
        assert code == 0
        assert {e["name"] for e in listing} == seen, path
    for path in ("/", "/d", "/n", "/etc"):  # the running container: rw over init over image
        seen = set(engine.docker("exec", container, "ls", "-A", path).split())
        code, listing = run_json(capsys, "--root", root, "ls", container, path)
        assert code == 0
        assert {e["name"] for e in listing} == seen, path


def test_cat_reroots_symlinks_and_matches_the_container(
    engine: PrivateEngine, image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(engine.data_root)
    for path in ("/d/c", "/notes", "/abs-link", "/climbing-link"):
        expected = _sees(engine, image, f"cat {path}")
        code, out = run_json(capsys, "--root", root, "cat", image, path)
        assert code == 0
        assert base64.b64decode(out["data"]).decode() == expected, path
    code, out = run_json(capsys, "--root", root, "cat", image, "/climbing-link")
    assert out["resolved"] == "/keep/k" and out["symlinks"] == ["/climbing-link"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/f", "no such path"),
        ("/d/a", "does not exist"),
        ("/loop1", "symlinks"),
        ("/d", "not a regular file"),
    ],
)
def test_cat_errors_are_one_line(
    engine: PrivateEngine,
    image: str,
    capsys: pytest.CaptureFixture[str],
    path: str,
    message: str,
) -> None:
    code, out, err = run_text(capsys, "--root", str(engine.data_root), "cat", image, path)
    assert code == ExitCode.ERROR and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_diff_against_the_version_beneath(
    engine: PrivateEngine, container: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(engine.data_root)
    code, d = run_json(capsys, "--root", root, "diff", container, "/notes")
    assert code == 0 and not d["identical"] and not d["binary"]
    assert d["old"]["role"] == "image" and d["new"]["role"] == "rw"
    now = engine.docker("exec", container, "cat", "/notes")
    assert "+more" in d["diff"].splitlines()
    assert d["new"]["size"] == len(now.encode())
    code, d = run_json(capsys, "--root", root, "diff", container, "/n/e/big")
    assert d["old"] is None and d["binary"] and d["diff"] is None
    assert d["new"]["size"] == 200 * 1024


def _human(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_text(capsys, *args)
    assert code == 0, err
    return out


def test_human_output(
    engine: PrivateEngine, container: str, image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(engine.data_root)
    out = _human(capsys, "--root", root, "container", container)
    assert "copy-up (same bytes)" in out and "opaque" not in out.split("\n")[0]
    assert "deleted" in out.splitlines()[-1] or "deleted" in out
    out = _human(capsys, "--root", root, "where", image, "/f")
    assert "hidden-by-whiteout" in out and "not visible" in out
    out = _human(capsys, "--root", root, "ls", image, "/")
    assert "abs-link -> /keep/k" in out
