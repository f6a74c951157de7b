"""A layer that cannot be read in part: every command says so, marks what is unknown,
and exits 4 (issue #15, item 4; docs/hostile.md).

Each case copies the captured snapshot (a real dockerd's root), closes one dir of one
layer (`chmod 000`), and runs the real CLI in a subprocess as root *without*
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (`setpriv`): the records, all root's, stay
readable to their owner, the closed dir is refused with EACCES exactly as it is to a
backup user or on a root-squashed NFS copy, and `trusted.*` xattrs (opaque dirs) are
still read. Answers are compared with the engine's own (`captured_root.answers`:
`docker diff`, the layer dirs of GraphDriver) and with the tool's answer on the same
copy before the dir was closed; nothing is hard-coded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overlayscope.errors import ExitCode
from overlayscope.names import printable
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot
from tests.hostile.cli import PYTHON, Run, assert_answered, check_json, cli_env, run_sub

pytestmark = pytest.mark.root

INCOMPLETE = int(ExitCode.INCOMPLETE)
# Root, minus what lets root read what its modes refuse.
BLIND = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
)


@dataclass(frozen=True)
class Copy:
    root: Path
    answers: dict[str, Any]
    capture_root: Path

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.answers["containers"] if c["name"] == name)

    def upper(self, name: str) -> Path:
        """The container's rw layer dir (its `diff/`), on this copy."""
        return self._here(self.container(name)["graph_driver"]["Data"]["UpperDir"])

    def lowers(self, name: str) -> list[Path]:
        """Its init and image layers' `diff/` dirs, top → bottom, on this copy."""
        lower = self.container(name)["graph_driver"]["Data"]["LowerDir"]
        return [self._here(p) for p in lower.split(":")]

    def lower_holding(self, name: str, path: str) -> Path:
        """The topmost lower layer of container `name` that holds `path` (a dir)."""
        return next(d for d in self.lowers(name) if (d / path.lstrip("/")).is_dir())

    def _here(self, captured: str) -> Path:
        return self.root / Path(captured).relative_to(self.capture_root)

    def run(self, *args: str, blind: bool = True) -> Run:
        """The CLI on this copy, without the scan cache (a cached scan of an image layer
        would not see a dir closed after it)."""
        env = cli_env()
        prefix = BLIND if blind else ()
        return run_sub("--offline", "--no-cache", "--root", str(self.root), *args,
                       env=env, prefix=prefix)  # fmt: skip


def _blind_reason(probe_dir: Path) -> str | None:
    """Why the dropped-capability runs cannot prove anything here, or None."""
    if os.geteuid() != 0:
        return "not root: cannot drop root's capabilities to make a dir unreadable"
    if shutil.which("setpriv") is None:
        return "no setpriv (util-linux)"
    locked = probe_dir / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        res = subprocess.run(
            [*BLIND, PYTHON, "-c", f"import os; os.listdir({str(locked)!r})"],
            capture_output=True,
            check=False,
        )
    finally:
        locked.rmdir()
    if b"PermissionError" not in res.stderr:
        return "dropping CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH did not refuse a mode-000 dir"
    return None


@pytest.fixture
def copy(captured_root: CapturedRoot, tmp_path: Path) -> Iterator[Copy]:
    reason = _blind_reason(tmp_path)
    if reason is not None:
        skip_or_fail(reason)
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    made = Copy(root, captured_root.answers, captured_root.capture_data_root)
    try:
        yield made
    finally:
        # a mode-000 dir would stop pytest's tmp cleanup
        subprocess.run(["chmod", "-R", "u+rwX", str(root)], check=False)


def _lock(path: Path) -> str:
    """Close `path` to everyone but a process with CAP_DAC_*; its host path as printed."""
    path.chmod(0)
    return str(path)


def _engine_diff(copy: Copy, name: str) -> set[tuple[str, str]]:
    return {(d["kind"], d["path"]) for d in copy.container(name)["diff"]}


def _beneath(path: str, top: str) -> bool:
    return path.startswith(top.rstrip("/") + "/")


def _problem_paths(doc: dict[str, Any]) -> set[str]:
    return {p["path"] for p in doc["problems"]}


def _warned(run: Run, host_path: str) -> bool:
    """A warning line on stderr names `host_path`, escaped as human output escapes it."""
    return any(
        line.startswith("overlayscope: warning:") and printable(host_path) in line
        for line in run.err.decode("utf-8", "replace").splitlines()
    )


# -- the baseline: root without those capabilities reads everything readable -------------


def test_without_dac_capabilities_nothing_else_is_lost(copy: Copy) -> None:
    """On the untouched copy, the blind runs give the engine's answer and exit 0: every
    difference below comes from the closed dir, not from the dropped capabilities."""
    for name in ("web", "stopped", "tool-exited"):
        run = copy.run("--json", "container", name)
        assert_answered(run, {0})
        doc = run.json()
        check_json("container", doc)
        assert {(c["kind"], c["path"]) for c in doc["changes"]} == _engine_diff(copy, name)
        assert doc["problems"] == []


# -- container ---------------------------------------------------------------------------


def test_container_with_an_unreadable_dir_in_its_rw_layer(copy: Copy) -> None:
    """`rm`/`echo >>` under /app/conf made changes the closed dir holds: `container` lists
    every change it could read (the engine's, but those beneath the dir), names the dir
    in a warning and in `problems`, and exits 4."""
    closed = "/app/conf"
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))
    engine = _engine_diff(copy, "web")
    assert any(_beneath(p, closed) for _, p in engine)  # the case has something to lose

    run = copy.run("--json", "container", "web")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("container", doc)
    got = {(c["kind"], c["path"]) for c in doc["changes"]}
    assert got == {(k, p) for k, p in engine if not _beneath(p, closed)}
    (problem,) = doc["problems"]
    assert problem["kind"] == "unreadable" and problem["path"] == host_path
    assert problem["layer_path"] == closed and problem["role"] == "rw"
    assert problem["layer"] == copy.upper("web").parent.name

    human = copy.run("container", "web")
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path), human
    assert "app.conf" not in human.text  # beneath the closed dir: not claimed either way


def test_container_whose_deleted_tree_cannot_all_be_read(copy: Copy) -> None:
    """`rm -rf /app/logs` deleted a tree an image layer holds; its subdir 2024 is closed.
    The change list is still the engine's (one D), but the bytes deleted cannot be all
    counted: the part is named and the exit status is 4."""
    image_layer = copy.lower_holding("web", "/app/logs/2024")
    host_path = _lock(image_layer / "app/logs/2024")
    readable = copy.run("--json", "container", "web", blind=False).json()

    run = copy.run("--json", "container", "web")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    assert {(c["kind"], c["path"]) for c in doc["changes"]} == _engine_diff(copy, "web")
    assert _problem_paths(doc) == {host_path}
    assert doc["problems"][0]["role"] == "image"
    assert doc["totals"]["deleted_bytes"] < readable["totals"]["deleted_bytes"]


def test_an_unreadable_dir_no_answer_depends_on(copy: Copy) -> None:
    """A closed image-layer dir the container never touched leaves its change list whole
    (exit 0, no problem); `ls` of that dir and `where` beneath it, which do depend on it,
    say unknown and exit 4."""
    image_layer = copy.lower_holding("stopped", "/app/data/nested")
    host_path = _lock(image_layer / "app/data/nested")

    run = copy.run("--json", "container", "stopped")
    assert_answered(run, {0})
    doc = run.json()
    assert {(c["kind"], c["path"]) for c in doc["changes"]} == _engine_diff(copy, "stopped")
    assert doc["problems"] == []

    listing = copy.run("--json", "ls", "stopped", "/app/data/nested")
    assert_answered(listing, {INCOMPLETE})
    assert _warned(listing, host_path)
    where = copy.run("--json", "where", "stopped", "/app/data/nested/deeper")
    assert_answered(where, {INCOMPLETE})
    assert _problem_paths(where.json()) == {host_path}


def test_the_whole_rw_layer_unreadable(copy: Copy) -> None:
    """The rw layer's `diff/` itself is closed: no change is claimed, the whole layer is
    named (its path inside: `/`), exit 4."""
    host_path = _lock(copy.upper("web"))
    run = copy.run("--json", "container", "web")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    assert doc["changes"] == []
    (problem,) = doc["problems"]
    assert problem["path"] == host_path and problem["layer_path"] == "/"


# -- ls, where, cat, diff ------------------------------------------------------------------


def test_ls_of_a_dir_whose_upper_copy_is_unreadable(copy: Copy) -> None:
    """The container deleted /app/conf/extra.conf and rewrote app.conf in the closed dir.
    `ls` no longer claims either: each entry the image shows is `known: false` (human:
    "unknown"), the dir is named on stderr, exit 4."""
    closed = "/app/conf"
    readable = copy.run("--json", "ls", "web", closed, blind=False).json()
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))
    deleted = {p for k, p in _engine_diff(copy, "web") if k == "D" and _beneath(p, closed)}
    assert deleted  # extra.conf: the file ls showed as present before the fix

    run = copy.run("--json", "ls", "web", closed)
    assert_answered(run, {INCOMPLETE})
    entries = run.json()
    check_json("ls", entries)
    assert _warned(run, host_path)
    assert entries and all(e["known"] is False for e in entries)
    shown = {e["path"] for e in entries}
    assert deleted <= shown  # shown, but as unknown, never as present
    assert shown <= {e["path"] for e in readable} | deleted
    assert all(e["known"] is True for e in readable)

    human = copy.run("ls", "web", closed)
    assert_answered(human, {INCOMPLETE})
    for path in deleted:
        row = next(line for line in human.text.splitlines() if path.rsplit("/", 1)[1] in line)
        assert row.split()[0] == "unknown", human.text


def test_where_says_unknown_not_not_visible(copy: Copy) -> None:
    """A path the container deleted inside the closed dir: on the readable copy `where`
    says not visible (hidden by the whiteout, as the engine's D says); closed, it says
    unknown, names the dir, and every image-layer hit is `unknown`, exit 4."""
    closed = "/app/conf"
    path = next(p for k, p in _engine_diff(copy, "web") if k == "D" and _beneath(p, closed))
    readable = copy.run("--json", "where", "web", path, blind=False).json()
    assert readable["visible"] is False and readable["known"] is True
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))

    run = copy.run("--json", "where", "web", path)
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("where", doc)
    assert doc["known"] is False and doc["winner"] is None
    assert doc["stack"] and {hit["state"] for hit in doc["stack"]} == {"unknown"}
    assert _problem_paths(doc) == {host_path}

    human = copy.run("where", "web", path)
    assert_answered(human, {INCOMPLETE})
    title = human.text.splitlines()[0]
    assert "unknown" in title and "not visible" not in title
    assert _warned(human, host_path)


def test_where_of_a_path_the_closed_dir_does_not_decide(copy: Copy) -> None:
    """Elsewhere in the same container the answers are whole: exit 0, no problem."""
    _lock(copy.upper("web") / "app/conf")
    path = next(p for k, p in _engine_diff(copy, "web") if k == "A" and p.startswith("/srv/"))
    run = copy.run("--json", "where", "web", path)
    assert_answered(run, {0})
    doc = run.json()
    assert doc["visible"] is True and doc["known"] is True and doc["problems"] == []


@pytest.mark.parametrize("command", ["cat", "diff"])
def test_cat_and_diff_through_the_closed_dir(copy: Copy, command: str) -> None:
    """A file the container deleted inside the closed dir: what the image holds is shown
    (all that can be read), with the dir named and exit 4 — never as a plain answer."""
    closed = "/app/conf"
    path = next(p for k, p in _engine_diff(copy, "web") if k == "D" and _beneath(p, closed))
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))
    run = copy.run("--json", command, "web", path)
    assert_answered(run, {INCOMPLETE})
    assert _problem_paths(run.json()) == {host_path}
    human = copy.run(command, "web", path)
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path)


# -- measured sizes, efficiency, timeline -------------------------------------------------


def test_measured_sizes_of_a_layer_not_all_read(copy: Copy) -> None:
    """`containers` and `layers` measure rw layers: the one with a closed dir has no size
    (null, "?"), not a smaller one; the others are still the engine's `SizeRw`; the dir
    is named on stderr (and among the layer's problems), exit 4."""
    host_path = _lock(copy.upper("web") / "app/conf")
    run = copy.run("--json", "containers")
    assert_answered(run, {INCOMPLETE})
    check_json("containers", run.json())
    sizes = {c["name"]: c["size"] for c in run.json()}
    assert sizes.pop("web") is None
    assert sizes == {
        c["name"]: c["size_rw"] for c in copy.answers["containers"] if c["name"] != "web"
    }
    assert _warned(run, host_path)

    layers = copy.run("--json", "layers")
    assert_answered(layers, {INCOMPLETE})
    check_json("layers", layers.json())
    rw = next(lay for lay in layers.json() if lay["id"] == copy.upper("web").parent.name)
    assert rw["size"] is None and host_path in {p["path"] for p in rw["problems"]}
    human = copy.run("containers")
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path)


def test_efficiency_of_an_image_with_an_unreadable_dir(copy: Copy) -> None:
    """Every figure sums what the layers hold: with a dir closed they count less, and
    say why (problems, a warning) with exit 4; `--ci`'s own failures still exit 1."""
    image = copy.container("web")["image_ref"]
    readable = copy.run("--json", "efficiency", image, blind=False).json()
    assert readable["problems"] == []
    image_layer = copy.lower_holding("web", "/app/data/nested")  # the chmod's copy-up
    host_path = _lock(image_layer / "app/data/nested")

    run = copy.run("--json", "efficiency", image)
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("efficiency", doc)
    assert _problem_paths(doc) == {host_path}
    assert doc["user_size"] < readable["user_size"]
    human = copy.run("efficiency", image)
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path)
    # a gate that fails on what could be read fails: 1 comes before 4 (docs/cli.md)
    assert doc["wasted_bytes"] > 0  # the image overwrites files beside the closed dir
    limit = str(doc["wasted_bytes"] - 1)
    gate = copy.run("efficiency", "--ci", "--highest-wasted-bytes", limit, image)
    assert_answered(gate, {int(ExitCode.FINDINGS)})
    rules_off = ("--lowest-efficiency", "off", "--highest-user-wasted-percent", "off")
    passing = copy.run("efficiency", "--ci", *rules_off, image)
    assert_answered(passing, {INCOMPLETE})  # a pass on partial evidence is no pass


def test_timeline_of_a_layer_with_an_unreadable_dir(copy: Copy) -> None:
    """The bodyfile lists what it could read; the closed dir is a problem and exit 4."""
    closed = "/app/conf"
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))
    run = copy.run("--json", "timeline", "web")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("timeline", doc)
    assert host_path in {p["path"] for p in doc["problems"]}
    paths = {e["path"] for e in doc["entries"]}
    assert closed in paths and not any(_beneath(p, closed) for p in paths)
    human = copy.run("timeline", "web")
    assert_answered(human, {INCOMPLETE})


def _findings(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["kind"], f["layer"], f["path"]) for f in doc["findings"]}


def test_audit_of_a_layer_with_an_unreadable_dir(copy: Copy) -> None:
    """`audit` reports the findings it could read, names the closed dir (stderr and
    `problems`) and exits 4: a `--fail-on` gate no finding reaches does not pass on
    partial evidence (it used to exit 0, with only a count on stdout), one that a finding
    reaches still exits 1."""
    closed = "/app/conf"
    readable = copy.run("--json", "audit", blind=False)
    assert_answered(readable, {0})
    host_path = _lock(copy.upper("web") / closed.lstrip("/"))

    run = copy.run("--json", "audit")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("audit", doc)
    assert host_path in _problem_paths(doc)
    rw = copy.upper("web").parent.name
    outside = {f for f in _findings(readable.json()) if not (f[1] == rw and _beneath(f[2], closed))}
    assert _findings(doc) == outside  # nothing lost but what lies beneath the closed dir

    human = copy.run("audit")
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path)
    severities = {f["severity"] for f in doc["findings"]}
    unmet = next(s for s in ("high", "medium", "low") if s not in severities)
    assert_answered(copy.run("audit", "--fail-on", unmet), {INCOMPLETE})
    assert_answered(copy.run("audit", "--fail-on", "info"), {int(ExitCode.FINDINGS)})


def test_audit_hash_of_an_unreadable_file(copy: Copy) -> None:
    """A file of the rw layer that cannot be opened has no digest: it is named, and
    `audit --hash` exits 4, not 0."""
    readable = copy.run("--json", "audit", "--hash", blind=False)
    assert_answered(readable, {0})
    upper = copy.upper("web")
    hashed = [h["path"] for h in readable.json()["hashes"] if h["layer"] == upper.parent.name]
    host_path = _lock(upper / hashed[0].lstrip("/"))
    run = copy.run("--json", "audit", "--hash")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    assert host_path in _problem_paths(doc)
    assert hashed[0] not in {h["path"] for h in doc["hashes"] if h["layer"] == upper.parent.name}
    human = copy.run("audit", "--hash")
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path)
