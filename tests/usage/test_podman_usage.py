"""`df` of a live private podman's graph root, against du and podman's own sizes.

- the total allocated bytes equal `du -sx --block-size=1` of the graph root (the running
  container's mounted `merged/` and `userdata/shm` are not crossed), each container's
  writable dir `du` of its layer dir, its size podman's SizeRw, and the totals and
  reclaimable bytes of podman's `system df` summary;
- the k8s-file logs (`overlay-containers/<id>/userdata/ctr.log`) are the containers' logs;
- image Size equals `podman images`; shared and unique sizes follow the rule overlayscope
  uses for every store, computed here from podman's own layers.json and images.json: a
  layer is shared when more than one image holds it, the rest and the image's big data are
  unique. That is Docker's rule, and Podman's since 5 (go.podman.io/common
  libimage/disk_usage.go at HEAD). Podman 4.3 instead counts an image's whole size as
  shared when it has a child image, and its parent image's size when it has a parent
  (containers/common libimage/disk_usage.go in podman v4.3.1's vendor/); where the two rules
  agree (an image sharing no layer with another), our numbers equal what its
  `system df -v` printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.podman.engine import PrivatePodman
from tests.podman.images import oci_archive
from tests.podman.oracles import human_size
from tests.podman_checks import (
    PodmanStore,
    check_df,
    check_layer_sharing,
    du_allocated,
    ours,
    private_podman,
)
from tests.podman_fixtures import APP, PodmanScenario, image_specs, podman_answers

pytestmark = pytest.mark.engine

ENGINES = {
    "rootful": ("podman", "podman_scenario"),
    "rootless": ("podman_rootless", "podman_rootless_scenario"),
}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def live(request: pytest.FixtureRequest) -> PodmanStore:
    engine, scenario_fixture = ENGINES[request.param]
    scenario: PodmanScenario = request.getfixturevalue(scenario_fixture)
    pm: PrivatePodman = request.getfixturevalue(engine)
    return PodmanStore(pm.graph_root, podman_answers(pm), scenario.graph_root)


def test_df_equals_du_and_podmans_sizes(
    live: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = ours(capsys, live, "df")
    check_df(live, doc)
    if not live.rootless:
        # the running container's root is mounted inside the graph root: not crossed
        web = live.container("web")["inspect"]["GraphDriver"]["Data"]["MergedDir"]
        assert web in doc["skipped_mounts"]


def test_image_sizes_follow_layer_sharing(
    live: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = ours(capsys, live, "images")
    check_layer_sharing(live, listed)
    by_tag = {tag: i for i in listed for tag in i["tags"]}
    # The base layer is under base, app and tool: shared by all three, as layers.json says.
    base = by_tag["localhost/scope/base:1"]["layers"][0]["id"]
    for tag in ("localhost/scope/app:1", "localhost/scope/tool:1"):
        assert by_tag[tag]["layers"][0]["id"] == base
        assert by_tag[tag]["shared_size"] == live.layer_records[base]["diff-size"]
    assert by_tag["localhost/scope/imported:1"]["shared_size"] == 0


@pytest.fixture(scope="module")
def chatty() -> Iterator[PodmanStore]:
    """A rootful private podman of this module's own whose containers wrote to their logs
    (one exited, one running), and two named volumes, one written by a container."""
    with private_podman() as pm:
        pm.load(oci_archive(image_specs()[APP][1]), "app")
        pm.run(APP, ["sh", "-c", "seq 1 5000; echo done >&2"], name="exited-logger")
        assert pm.wait("exited-logger") == 0
        pm.run(APP, ["sh", "-c", "seq 1 300; exec sleep 2147483647"], name="running-logger")
        pm.podman("volume", "create", "data")
        pm.podman("volume", "create", "unused")
        script = "seq 1 3000 > /data/numbers && mkdir /data/d && echo x > /data/d/x"
        pm.run(APP, ["sh", "-c", script], name="writer", extra=["-v", "data:/data"])
        assert pm.wait("writer") == 0
        pm.settle()
        yield PodmanStore(pm.graph_root, podman_answers(pm), pm.graph_root)


def test_k8s_file_logs_are_the_containers_logs(
    chatty: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = ours(capsys, chatty, "df", "--top", "50")
    check_df(chatty, doc)
    categories = {c["name"]: c for c in doc["categories"]}
    logs = {}
    for answer in chatty.containers:
        ins = answer["inspect"]
        path = Path(ins["HostConfig"]["LogConfig"]["Path"])
        assert path == chatty.root / "overlay-containers" / ins["Id"] / "userdata" / "ctr.log"
        logs[ins["Id"]] = (path, ins["State"]["Status"])
    loggers = [c["inspect"]["Id"] for c in chatty.containers if c["name"].endswith("-logger")]
    assert all(os.lstat(logs[cid][0]).st_size > 1000 for cid in loggers)
    assert categories["container_logs"]["count"] == 3
    assert categories["container_logs"]["allocated"] == sum(
        du_allocated(p) for p, _ in logs.values()
    )
    # the logs of a container that does not run are reclaimable (`podman container prune`)
    assert categories["container_logs"]["reclaimable"] == sum(
        du_allocated(p) for p, state in logs.values() if state != "running"
    )
    files = {f["path"]: f for f in doc["top_files"]}
    for cid in loggers:
        path = logs[cid][0]
        assert files[str(path)]["category"] == "container_logs"
        assert files[str(path)]["owner"] == cid
    top = {(t["kind"], t["id"]) for t in doc["top"]}
    exited = next(cid for cid, (_, state) in logs.items() if state == "exited")
    assert ("container_log", exited) in top


def test_named_volumes_in_the_graph_root(
    chatty: PodmanStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Podman keeps named volumes in `<graph root>/volumes` unless told otherwise (the
    private podman is told otherwise): a copy of the store with them where they would be."""
    volumes = chatty.root.parent / "volumes"  # PrivatePodman's --volumepath
    copy = tmp_path / "root"
    try:
        subprocess.run(["cp", "-a", "--one-file-system", str(chatty.root), str(copy)], check=True)
        subprocess.run(["cp", "-a", str(volumes), str(copy / "volumes")], check=True)
        _check_volumes(
            chatty, copy, ours(capsys, PodmanStore(copy, chatty.answers, chatty.capture_root), "df")
        )
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _check_volumes(chatty: PodmanStore, copy: Path, doc: dict[str, Any]) -> None:
    rows = {r["VOLUME NAME"]: r for r in chatty.answers["system_df_v"]["rows"]["Volumes"]}
    writer = next(c["inspect"]["Id"] for c in chatty.containers if c["name"] == "writer")
    found = {v["name"]: v for v in doc["volumes"]}
    assert set(found) == set(rows) == {"data", "unused"}
    for name, v in found.items():
        assert human_size(v["size"]) == rows[name]["SIZE"], name
        assert len(v["containers"]) == int(rows[name]["LINKS"]), name
        assert v["allocated"] == du_allocated(copy / "volumes" / name)
    data = copy / "volumes" / "data" / "_data"
    assert found["data"]["size"] == sum(
        os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(data) for f in files
    )
    assert (found["data"]["containers"], found["data"]["reclaimable"]) == ([writer], False)
    assert (found["unused"]["containers"], found["unused"]["reclaimable"]) == ([], True)
    categories = {c["name"]: c for c in doc["categories"]}
    assert categories["volumes"]["count"] == 2
