"""The test harness itself: the private engine, its cleanup, and the captured snapshot.

Everything expected here is what the engine (or the snapshot's answers.json) says, checked
against what lies on disk.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import host_docker_state, skip_or_fail
from tests.engine import (
    CapturedRoot,
    PrivateEngine,
    engine_unavailable_reason,
    mounts_under,
    read_mounts,
)


def _is_whiteout(path: Path) -> bool:
    st = path.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


# --------------------------------------------------------------------------- private engine


@pytest.mark.engine
def test_container_diff_shows_added_file(engine: PrivateEngine, base_image: str) -> None:
    engine.run(base_image, ["sh", "-c", "echo hi > /x"], name="harness-diff", detach=False)
    assert {"Kind": 1, "Path": "/x"} in engine.client.api.diff("harness-diff")
    assert "A /x" in engine.docker("diff", "harness-diff").splitlines()


@pytest.mark.engine
def test_data_root_is_ours_and_holds_overlay2(engine: PrivateEngine, base_image: str) -> None:
    info = engine.client.info()
    assert info["DockerRootDir"] == str(engine.data_root)
    assert info["Driver"] == "overlay2"
    assert (engine.data_root / "overlay2").is_dir()
    engine.run(base_image, ["true"], name="harness-layout", detach=False)
    [inspected] = engine.inspect("harness-layout", size=True)
    upper = Path(inspected["GraphDriver"]["Data"]["UpperDir"])
    assert upper.is_relative_to(engine.data_root / "overlay2")
    assert upper.is_dir()
    assert inspected["SizeRw"] == 0


@pytest.mark.engine
def test_build_puts_whiteouts_and_opaque_dirs_in_the_layer(
    engine: PrivateEngine, base_image: str
) -> None:
    image = engine.build(
        "harness/whiteout:1",
        f"FROM {base_image}\nCOPY f /srv/d/f\nRUN rm /etc/group && rm -rf /srv/d && mkdir /srv/d\n",
        {"f": b"payload"},
    )
    [inspected] = engine.inspect(image)
    assert inspected["Id"] == image
    assert len(inspected["RootFS"]["Layers"]) == 3
    upper = Path(inspected["GraphDriver"]["Data"]["UpperDir"])
    assert _is_whiteout(upper / "etc" / "group")
    assert _is_opaque(upper / "srv" / "d")


@pytest.mark.engine
def test_engine_never_touches_the_host_daemon(
    engine: PrivateEngine, host_docker_state_before: dict[str, Any]
) -> None:
    assert engine.tmp_dir is not None
    assert engine.env["DOCKER_HOST"] == engine.host
    assert engine.host == f"unix://{engine.tmp_dir}/docker.sock"
    assert engine.env["DOCKER_BUILDKIT"] == "0"
    cmdline = Path(f"/proc/{engine.pid}/cmdline").read_bytes().split(b"\0")
    assert f"--data-root={engine.data_root}".encode() in cmdline
    assert f"--exec-root={engine.exec_root}".encode() in cmdline
    # Every mount the engine made lies under its own directory.
    ours = [m for m in read_mounts() if str(engine.tmp_dir) in m.source + str(m.mount_point)]
    assert ours and all(m.mount_point.is_relative_to(engine.tmp_dir) for m in ours)
    assert not any(str(m.mount_point).startswith("/var/lib/docker") for m in read_mounts())
    assert host_docker_state() == host_docker_state_before


@pytest.mark.engine
def test_stop_kills_processes_unmounts_and_removes_its_dir() -> None:
    reason = engine_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    # A second engine of its own, so stopping it does not disturb the session's.
    with PrivateEngine() as eng:
        eng.import_base("harness/base:1")
        eng.run("harness/base:1", ["sleep", "3600"], name="running")
        tmp_dir, pid, containerd_pid = eng.tmp_dir, eng.pid, eng.containerd_pid
        assert tmp_dir is not None and pid is not None and containerd_pid is not None
        assert any(m.fstype == "overlay" for m in mounts_under(tmp_dir))
    assert not Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{containerd_pid}").exists()
    assert mounts_under(tmp_dir) == []
    assert not tmp_dir.exists()
    left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, str(tmp_dir))]
    assert left == []


def _cmdline_has(pid: str, needle: str) -> bool:
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --------------------------------------------------------------------------- captured snapshot


@pytest.mark.root
def test_snapshot_unpacks_with_every_container_layer(captured_root: CapturedRoot) -> None:
    root, answers = captured_root.path, captured_root.answers
    assert (root / "overlay2").is_dir()
    assert {c["name"] for c in answers["containers"]} >= {"web", "stopped", "fresh"}
    for c in answers["containers"]:
        upper = captured_root.here(c["graph_driver"]["Data"]["UpperDir"])
        assert upper.is_dir(), c["name"]
        assert upper.parent.parent == root / "overlay2"
        mount_id = (root / "image/overlay2/layerdb/mounts" / c["id"] / "mount-id").read_text()
        assert mount_id == upper.parent.name
    for image in answers["images"]:
        assert captured_root.here(image["graph_driver"]["Data"]["UpperDir"]).is_dir()


@pytest.mark.root
def test_snapshot_deletions_are_whiteouts_or_opaque_dirs(captured_root: CapturedRoot) -> None:
    found_whiteout = found_opaque = False
    for c in captured_root.answers["containers"]:
        upper = captured_root.here(c["graph_driver"]["Data"]["UpperDir"])
        for change in c["diff"]:
            if change["kind"] != "D":
                continue
            path = upper / change["path"].lstrip("/")
            if path.is_symlink() or path.exists():
                assert _is_whiteout(path), (c["name"], change)
                found_whiteout = True
            else:
                # docker diff lists each lower child of a dir that was removed and recreated;
                # on disk that is one opaque dir above, not a whiteout per child.
                opaque = [p for p in path.parents if p.is_relative_to(upper) and _is_opaque(p)]
                assert opaque, (c["name"], change)
                found_opaque = True
    assert found_whiteout and found_opaque


@pytest.mark.root
def test_snapshot_keeps_the_running_container_running(captured_root: CapturedRoot) -> None:
    [web] = [c for c in captured_root.answers["containers"] if c["name"] == "web"]
    assert web["state"] == "running"
    config = (captured_root.path / "containers" / web["id"] / "config.v2.json").read_text()
    assert '"Running":true' in config
    merged = captured_root.here(web["graph_driver"]["Data"]["MergedDir"])
    assert merged.is_dir() and not any(merged.iterdir())
