"""Container records that lie or break: two containers with one name, a config with one
bad byte. The container is never dropped, a name is never resolved to one of two, and
nothing in use becomes an orphan.

Each case edits a copy of the captured data root (a real dockerd's) the way a tampered
or half-copied root would look.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from tests.engine import CapturedRoot
from tests.hostile.cli import assert_answered, assert_no_raw_control, check_json, run_inproc

pytestmark = pytest.mark.root


def _copy(captured: CapturedRoot, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(captured.path), str(dest)], check=True)
    return dest


def _ids(captured: CapturedRoot) -> dict[str, str]:
    return {c["name"]: c["id"] for c in captured.answers["containers"]}


def _config(root: Path, cid: str) -> Path:
    return root / "containers" / cid / "config.v2.json"


def _in_use(root: Path) -> set[str]:
    host = load_host(str(root))
    used: set[str] = set()
    for c in host.containers.values():
        used.update(c.stack())
    for image in host.images.values():
        used.update(image.stack())
    return used


def test_two_containers_with_one_name_are_flagged_and_ambiguous(
    captured_root: CapturedRoot, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`stopped` renamed `web` in its config: Docker never allows it. `check` says so for
    both configs; a reference by that name lists both candidates instead of picking one."""
    root = _copy(captured_root, tmp_path / "root")
    ids = _ids(captured_root)
    path = _config(root, ids["stopped"])
    config = json.loads(path.read_bytes())
    config["Name"] = "/web"
    path.write_text(json.dumps(config))
    base = ("--offline", "--root", str(root))

    run = run_inproc(capsysbinary, "--json", *base, "check")
    assert_answered(run, {1})
    check_json("check", run.json())
    flagged = {p["path"] for p in run.json()["problems"] if p["kind"] == "duplicate-name"}
    assert flagged == {str(_config(root, ids["web"])), str(_config(root, ids["stopped"]))}

    for command in (("container", "web"), ("ls", "web", "/"), ("where", "web", "/app")):
        run = run_inproc(capsysbinary, *base, *command)
        assert_answered(run, {3})
        line = run.err.decode()
        assert "ambiguous reference" in line, line
        assert ids["web"][:12] in line and ids["stopped"][:12] in line, line
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, {3})
        assert run.json()["error"]["title"] == "ambiguous reference"
    # by id, each is still reachable
    run = run_inproc(capsysbinary, "--json", *base, "container", ids["stopped"])
    assert_answered(run, {0})

    run = run_inproc(capsysbinary, "--json", *base, "containers")
    assert sorted(c["name"] for c in run.json()).count("web") == 2
    # a name is no record of who uses a layer: the orphans are the pristine root's
    pristine = run_inproc(capsysbinary, "--json", "--offline", "--root", str(captured_root.path),
                          "orphans")  # fmt: skip
    assert run_inproc(capsysbinary, "--json", *base, "orphans").json() == [
        {**o, "path": o["path"].replace(str(captured_root.path), str(root))}
        for o in pristine.json()
    ]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: b"\xff" + data[1:],  # the opening brace, one bad byte
        lambda data: data.replace(b'"State":', b'"State"\x00', 1),
        lambda data: data[: len(data) // 2],  # truncated
    ],
    ids=["first-byte", "nul-in-key", "truncated"],
)
def test_a_config_with_a_bad_byte_keeps_its_container(
    captured_root: CapturedRoot,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    spoil: object,
) -> None:
    """The container stays listed — id from its dir, name and state unknown, its layers
    from its mount record — with a bad-metadata problem naming the config; its changes
    are still shown; no layer it stands on becomes an orphan."""
    root = _copy(captured_root, tmp_path / "root")
    ids = _ids(captured_root)
    cid = ids["stopped"]
    path = _config(root, cid)
    path.write_bytes(spoil(path.read_bytes()))  # type: ignore[operator]
    base = ("--offline", "--root", str(root))

    run = run_inproc(capsysbinary, "--json", *base, "containers")
    assert_answered(run, {0})
    check_json("containers", run.json())
    by_id = {c["id"]: c for c in run.json()}
    assert set(by_id) == set(ids.values())
    damaged = by_id[cid]
    assert (damaged["name"], damaged["state"]) == ("", "unknown")
    pristine = load_host(str(captured_root.path)).containers[cid]
    assert (damaged["layer"], damaged["init_layer"]) == (pristine.layer, pristine.init_layer)

    run = run_inproc(capsysbinary, "--json", *base, "check")
    assert_answered(run, {1})
    assert any(
        p["kind"] == "bad-metadata" and p["path"] == str(path) for p in run.json()["problems"]
    ), run.json()["problems"]
    assert not any(p["kind"] == "mount-without-container" for p in run.json()["problems"])

    run = run_inproc(capsysbinary, "--json", *base, "container", cid)
    assert_answered(run, {0})
    changes = {(c["kind"], c["path"]) for c in run.json()["changes"]}
    want = next(c["diff"] for c in captured_root.answers["containers"] if c["id"] == cid)
    assert changes == {(d["kind"], d["path"]) for d in want}

    human = run_inproc(capsysbinary, *base, "containers")
    assert_answered(human, {0})
    assert cid[:12].encode() in human.out and b"unknown" in human.out
    assert_no_raw_control(human.out, "containers")

    run = run_inproc(capsysbinary, "--json", *base, "orphans")
    assert_answered(run, {0})
    assert not {o["id"] for o in run.json()} & _in_use(captured_root.path)
