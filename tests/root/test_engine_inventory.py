"""containers / images / layers / orphans / check against a real private engine.

Every expected value comes from the engine itself: `inspect --size`, GraphDriver
data, image Size and `docker system df -v` (the SDK's `df()`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engine import PrivateEngine
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine


def _dir_id(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


@pytest.fixture(scope="module")
def scenario(engine: PrivateEngine, base_image: str) -> dict[str, str]:
    """Images sharing a base, a dangling image, running/stopped/created containers."""
    app = engine.build(
        "inv/app:1",
        f"FROM {base_image}\nRUN mkdir -p /srv/a && echo hello > /srv/a/f\n"
        "RUN dd if=/dev/zero of=/srv/blob bs=1k count=300 2>/dev/null\n",
    )
    tool = engine.build("inv/tool:1", f"FROM {base_image}\nRUN echo tool > /tool\n")
    old = engine.build("inv/moving:1", f"FROM {base_image}\nRUN echo one > /v\n")
    engine.build("inv/moving:1", f"FROM {base_image}\nRUN echo two > /v\n")  # `old` dangles
    running = engine.run(
        "inv/app:1", ["sh", "-c", "echo x >> /srv/a/f; rm /bin/cp; sleep 3600"], name="inv-running"
    )
    stopped = engine.run(
        "inv/tool:1", ["sh", "-c", "echo out > /out; mkdir -p /d/e"], name="inv-stopped"
    )
    engine.docker("wait", stopped)
    created = engine.docker("create", "--network=none", "--name=inv-created", "inv/app:1").strip()
    _wait_for(engine, running, "/srv/a/f")
    return {
        "app": app,
        "tool": tool,
        "old": old,
        "running": running,
        "stopped": stopped,
        "created": created,
    }


def _wait_for(engine: PrivateEngine, container: str, path: str) -> None:
    for _ in range(50):
        if any(ch["Path"] == path for ch in engine.client.api.diff(container) or []):
            return
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(f"{container} never changed {path}")


def _containers_by_id(engine: PrivateEngine) -> dict[str, dict[str, Any]]:
    out = {}
    for summary in engine.client.api.containers(all=True):
        out[summary["Id"]] = engine.inspect(summary["Id"], size=True)[0]
    return out


def _assert_containers(result: list[dict[str, Any]], engine: PrivateEngine) -> None:
    truth = _containers_by_id(engine)
    assert {c["id"] for c in result} == set(truth)
    for c in result:
        t = truth[c["id"]]
        assert c["name"] == t["Name"].lstrip("/")
        assert c["state"] == t["State"]["Status"]
        assert c["image"] == t["Image"]
        data = t["GraphDriver"]["Data"]
        assert c["layer"] == _dir_id(data["UpperDir"])
        assert c["init_layer"] == _dir_id(data["LowerDir"].split(":")[0])
        assert c["size"] == t["SizeRw"], c["name"]


def _assert_images(result: list[dict[str, Any]], engine: PrivateEngine) -> None:
    api = engine.client.api
    everything = {i["Id"]: i for i in api.images(all=True)}
    assert {i["id"] for i in result} == set(everything)
    df = {i["Id"]: i for i in engine.client.df()["Images"]}
    for image in result:
        truth = api.inspect_image(image["id"])
        assert image["size"] == truth["Size"]
        assert sorted(image["tags"]) == sorted(truth["RepoTags"] or [])
        assert [layer["diff_id"] for layer in image["layers"]] == truth["RootFS"]["Layers"]
        data = truth["GraphDriver"]["Data"]
        stack = [_dir_id(data["UpperDir"])] + [
            _dir_id(p) for p in (data.get("LowerDir") or "").split(":") if p
        ]
        assert [layer["id"] for layer in reversed(image["layers"])] == stack
        if image["id"] in df:
            assert image["shared_size"] == df[image["id"]]["SharedSize"]
            assert image["unique_size"] == truth["Size"] - df[image["id"]]["SharedSize"]
            assert not image["intermediate"]
        else:
            assert image["intermediate"], "only intermediate images are left out of system df"


def test_live_daemon_is_found_and_agrees(
    engine: PrivateEngine,
    scenario: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    code, containers = run_json(capsys, "containers")
    assert code == 0
    _assert_containers(containers, engine)
    code, images = run_json(capsys, "images")
    assert code == 0
    _assert_images(images, engine)
    by_id = {i["id"]: i for i in images}
    assert by_id[scenario["old"]]["dangling"] and not by_id[scenario["old"]]["tags"]
    assert "inv/app:1" in by_id[scenario["app"]]["tags"]
    assert by_id[scenario["app"]]["layers"][0]["id"] == by_id[scenario["tool"]]["layers"][0]["id"]
    code, report = run_json(capsys, "check")
    assert (code, report) == (0, {"ok": True, "store": "docker-overlay2", "problems": []})


def test_layers_roles_and_owners(
    engine: PrivateEngine, scenario: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, layers = run_json(capsys, "--root", str(engine.data_root), "layers")
    assert code == 0
    by_id = {layer["id"]: layer for layer in layers}
    assert set(by_id) == {
        n for n in os.listdir(engine.data_root / "overlay2") if n not in ("l", "backingFsBlockDev")
    }
    for cid, truth in _containers_by_id(engine).items():
        data = truth["GraphDriver"]["Data"]
        rw = by_id[_dir_id(data["UpperDir"])]
        assert (rw["role"], rw["owners"], rw["size"]) == ("rw", [cid], truth["SizeRw"])
        lowers = [_dir_id(p) for p in data["LowerDir"].split(":")]
        assert rw["lower"] == lowers
        init = by_id[lowers[0]]
        assert (init["role"], init["owners"]) == ("init", [cid])
        for lid in lowers[1:]:
            assert by_id[lid]["role"] == "image"
            assert truth["Image"] in by_id[lid]["owners"]
    for layer in layers:
        assert layer["problems"] == []
        link = engine.data_root / "overlay2" / layer["id"] / "link"
        assert layer["link"] == link.read_text().strip()


def _copy_root(src: Path, dest: Path) -> Path:
    """Copy a live data root, xattrs and devices kept, skipping the mounted merged/ dirs."""
    dest.mkdir()
    tar = subprocess.Popen(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "--one-file-system",
            "--numeric-owner",
            "-cf",
            "-",
            "-C",
            str(src),
            ".",
        ],
        stdout=subprocess.PIPE,
    )
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", "-", "-C", str(dest)],
        stdin=tar.stdout,
        check=True,
    )
    assert tar.wait() in (0, 1)  # 1: files changed while read (a live daemon's logs)
    return dest


def test_copy_at_another_path_reads_the_same_without_the_daemon(
    engine: PrivateEngine,
    scenario: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The daemon is reachable, but its DockerRootDir is not this copy: it must not be consulted.
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    copy = _copy_root(engine.data_root, tmp_path / "copy")
    code, containers = run_json(capsys, "--root", str(copy), "containers")
    assert code == 0
    _assert_containers(containers, engine)
    code, images = run_json(capsys, "--root", str(copy), "images")
    _assert_images(images, engine)
    code, report = run_json(capsys, "--root", str(copy), "check")
    assert (code, report["problems"]) == (0, [])


def test_orphans_of_a_removed_container_record(
    engine: PrivateEngine,
    scenario: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Drop the stopped container's records from a copy: its rw and init dirs are orphans."""
    truth = engine.inspect(scenario["stopped"], size=True)[0]
    copy = _copy_root(engine.data_root, tmp_path / "copy")
    shutil.rmtree(copy / "image/overlay2/layerdb/mounts" / scenario["stopped"])
    shutil.rmtree(copy / "containers" / scenario["stopped"])
    rw = _dir_id(truth["GraphDriver"]["Data"]["UpperDir"])
    code, orphans = run_json(capsys, "--offline", "--root", str(copy), "orphans")
    assert code == 0
    assert {o["id"] for o in orphans} == {rw, rw + "-init"}
    assert next(o["size"] for o in orphans if o["id"] == rw) == truth["SizeRw"]
    assert all(o["path"] == str(copy / "overlay2" / o["id"]) for o in orphans)
    code, report = run_json(capsys, "--offline", "--root", str(copy), "check")
    assert (code, report["ok"]) == (0, True)  # an orphan wastes space; it is not damage
