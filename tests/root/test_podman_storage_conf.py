"""`--storage-conf`: a store found through containers/storage's own config, and its run root."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from tests.podman_fixtures import PodmanScenario
from tests.root.cli_helpers import run_json, run_text


def _conf(path: Path, graph_root: Path, run_root: Path) -> Path:
    path.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graph_root}"\nrunroot = "{run_root}"\n'
    )
    return path


@pytest.mark.engine
def test_the_conf_names_the_store(
    podman_scenario: PodmanScenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _conf(tmp_path / "storage.conf", podman_scenario.graph_root, podman_scenario.run_root)
    code, by_conf = run_json(capsys, "--offline", "--storage-conf", str(conf), "containers")
    assert code == 0
    code, by_root = run_json(
        capsys, "--offline", "--root", str(podman_scenario.graph_root), "containers"
    )
    assert by_conf == by_root
    assert {c["name"] for c in by_conf} == set(podman_scenario.containers)


@pytest.mark.engine
def test_the_run_roots_mounts_say_what_runs_without_podmans_db(
    podman_scenario: PodmanScenario, tmp_path: Path
) -> None:
    """A copy without Podman's state DB (what CRI-O leaves: no libpod/) knows a container
    runs only from the run root's mountpoints.json, which --storage-conf points at."""
    copy = tmp_path / "storage"
    subprocess.run(
        ["cp", "-a", "--one-file-system", str(podman_scenario.graph_root), str(copy)], check=True
    )
    shutil.rmtree(copy / "libpod")
    mounts = json.loads(
        (podman_scenario.run_root / "overlay-layers" / "mountpoints.json").read_text()
    )
    mounted = {m["id"] for m in mounts}
    assert mounted  # `web` runs
    blind = load_host(str(copy))
    seeing = load_host(str(copy), run_root=str(podman_scenario.run_root))
    for key, c in seeing.containers.items():
        expected = "running" if c.layer in mounted else "unknown"
        assert c.state == expected, c
        assert blind.containers[key].state == "unknown"
    assert any(c.state == "running" for c in seeing.containers.values())


def test_a_conf_without_storage_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "storage.conf"
    conf.write_text("[engine]\nx = 1\n")
    code, out, err = run_text(capsys, "--offline", "--storage-conf", str(conf), "containers")
    assert (code, out) == (3, "") and len(err.strip().splitlines()) == 1
    assert "no [storage] table" in err
    conf.write_text("[storage\n")
    code, out, err = run_text(capsys, "--offline", "--storage-conf", str(conf), "containers")
    assert (code, out) == (3, "") and "not valid TOML" in err
