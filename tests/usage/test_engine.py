"""`df`, copy-ups and `efficiency` against a real private engine.

Where the engine has a figure (`system df`: LayersSize, image Size and SharedSize,
SizeRw, volume sizes and reference counts; `inspect --size`) ours must equal it.
Where it has none (allocated bytes, copy-ups, dive's efficiency) the expectation is
computed from the bytes the test itself wrote, and from `du` on the same dirs.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine import PrivateEngine, busybox_rootfs_tar
from tests.root.cli_helpers import run_json, run_text
from tests.usage.measure import apparent_as_du_counts, du_allocated

pytestmark = pytest.mark.engine

SPARSE_SIZE = 10 * 1024 * 1024  # the sparse file's apparent size: one byte written at the end


def _wait(engine: PrivateEngine, container: str) -> None:
    code = engine.docker("wait", container).strip()
    assert code == "0", f"{container} exited {code}: {engine.docker('logs', container)}"


@pytest.fixture(scope="module")
def scenario(engine: PrivateEngine, base_image: str) -> Iterator[dict[str, Any]]:
    files = {
        "blob1": os.urandom(300_000), "blob2": os.urandom(200_000),
        "j1": os.urandom(10_000), "j2": os.urandom(20_000), "j3": os.urandom(30_000),
        "keep": os.urandom(50_000),
        "big": os.urandom(200_000), "small": b"small\n", "other": os.urandom(30_000),
    }  # fmt: skip
    waste = engine.build(
        "usage/waste:1",
        f"FROM {base_image}\n"
        "COPY blob1 /data/blob\n"  # 300 KB
        "COPY blob2 /data/blob\n"  # overwritten by 200 KB
        "RUN chmod 600 /data/blob\n"  # copied up whole for a chmod
        "COPY j1 j2 j3 /junk/\n"
        "RUN rm -rf /junk\n"  # a dir of files deleted
        "COPY keep /keep\n",
        files,
    )
    clean = engine.build("usage/clean:1", f"FROM {base_image}\nCOPY keep /keep\n", files)
    engine.build("usage/copy:1", f"FROM {base_image}\nCOPY big small other /data/\n", files)
    copier = engine.run(
        "usage/copy:1",
        ["sh", "-c", "chmod 600 /data/big; echo more >> /data/small; touch /data/other; "
         "dd if=/dev/zero of=/new.bin bs=1024 count=64 2>/dev/null"],
        name="usage-copier",
    )  # fmt: skip
    sparse = engine.run(
        base_image,
        ["sh", "-c", f"dd if=/dev/zero of=/sparse bs=1 count=1 seek={SPARSE_SIZE - 1} "
         "2>/dev/null; echo data > /h1; ln /h1 /h2; echo logged; echo twice"],
        name="usage-sparse",
    )  # fmt: skip
    engine.docker("volume", "create", "usage-unused")
    vol = engine.run(
        base_image,
        ["sh", "-c", "dd if=/dev/zero of=/vol/data bs=1024 count=100 2>/dev/null"],
        name="usage-vol",
        extra=["-v", "usage-vol:/vol"],
    )
    for c in (copier, sparse, vol):
        _wait(engine, c)
    running = engine.run(base_image, ["sleep", "3600"], name="usage-running")
    waste_ctr = engine.docker("create", "--network=none", "--name=usage-waste", waste).strip()
    yield {
        "files": files, "waste": waste, "clean": clean, "copier": copier, "sparse": sparse,
        "vol": vol, "running": running, "waste_ctr": waste_ctr,
    }  # fmt: skip
    engine.docker("rm", "-f", copier, sparse, vol, running, waste_ctr)
    engine.docker("volume", "rm", "usage-vol", "usage-unused")
    engine.docker("rmi", "usage/waste:1", "usage/clean:1", "usage/copy:1")


@pytest.fixture
def df(
    engine: PrivateEngine, scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    code, result = run_json(capsys, "--root", str(engine.data_root), "df", "--top", "1000")
    assert code == 0
    assert isinstance(result, dict)
    return result


def test_df_equals_system_df(engine: PrivateEngine, df: dict[str, Any]) -> None:
    truth = engine.client.df()
    assert df["layers_size"] == truth["LayersSize"]
    images = {i["id"]: i for i in df["images"]}
    for image in truth["Images"]:
        mine = images[image["Id"]]
        assert (mine["size"], mine["shared_size"]) == (image["Size"], image["SharedSize"])
        assert mine["unique_size"] == image["Size"] - image["SharedSize"]
    containers = {c["id"]: c for c in df["containers"]}
    assert set(containers) == {c["Id"] for c in truth["Containers"]}
    for c in truth["Containers"]:
        assert containers[c["Id"]]["size"] == c.get("SizeRw", 0), c["Names"]
        assert containers[c["Id"]]["active"] == (c["State"] in ("running", "paused", "restarting"))
    volumes = {v["name"]: v for v in df["volumes"]}
    assert set(volumes) == {v["Name"] for v in truth["Volumes"]}
    for v in truth["Volumes"]:
        mine = volumes[v["Name"]]
        assert mine["size"] == v["UsageData"]["Size"]
        assert len(mine["containers"]) == v["UsageData"]["RefCount"]
        assert mine["reclaimable"] == (v["UsageData"]["RefCount"] == 0)
    assert volumes["usage-vol"]["size"] == 100 * 1024
    assert volumes["usage-unused"]["reclaimable"]


def test_sparse_file_and_hard_links(
    engine: PrivateEngine, scenario: dict[str, Any], df: dict[str, Any]
) -> None:
    truth = engine.inspect(scenario["sparse"], size=True)[0]
    c = next(c for c in df["containers"] if c["id"] == scenario["sparse"])
    # what the test wrote: the sparse file, and "data\n" under two names (one inode)
    assert c["size"] == truth["SizeRw"] == SPARSE_SIZE + len(b"data\n")
    rw = engine.data_root / "overlay2" / c["layer"]
    assert c["writable"]["allocated"] == du_allocated(rw)
    assert c["writable"]["apparent"] == apparent_as_du_counts(rw)
    assert c["writable"]["allocated"] < 1024 * 1024 < SPARSE_SIZE < c["writable"]["apparent"]
    layer = next(u for u in df["layers"] if u["id"] == c["layer"])
    assert (layer["size"], layer["role"], layer["reclaimable"]) == (truth["SizeRw"], "rw", True)
    diff = rw / "diff"
    assert layer["size"] == apparent_as_du_counts(diff)
    log = os.stat(truth["LogPath"])
    assert c["logs"] == {"apparent": log.st_size, "allocated": log.st_blocks * 512}
    assert log.st_size > len("logged\ntwice\n")  # json-file wraps each line


def test_running_container_is_kept_and_its_mounts_not_crossed(
    engine: PrivateEngine, scenario: dict[str, Any], df: dict[str, Any]
) -> None:
    c = next(c for c in df["containers"] if c["id"] == scenario["running"])
    assert c["active"] and c["state"] == "running"
    merged = f"{engine.data_root}/overlay2/{c['layer']}/merged"
    assert merged in df["skipped_mounts"]
    rw = next(u for u in df["layers"] if u["id"] == c["layer"])
    assert not rw["reclaimable"]
    top = {(t["kind"], t["id"]): t for t in df["top"]}
    assert not top[("container_layer", c["id"])]["reclaimable"]
    assert top[("container_layer", scenario["sparse"])]["reclaimable"]
    allocated = [t["allocated"] for t in df["top"]]
    assert allocated == sorted(allocated, reverse=True)
    assert df["total"]["allocated"] == sum(cat["allocated"] for cat in df["categories"])


def test_copy_ups(
    engine: PrivateEngine, scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, df = run_json(capsys, "--root", str(engine.data_root), "df", "--containers")
    assert code == 0
    f = scenario["files"]
    c = next(c for c in df["containers"] if c["id"] == scenario["copier"])
    ups = c["copy_ups"]
    # chmod big (same bytes), append to small, touch other (same bytes); a new 64 KiB file
    assert ups["copied_up_files"] == 3
    assert ups["copied_up_bytes"] == len(f["big"]) + len(f["small"] + b"more\n") + len(f["other"])
    assert ups["metadata_only_files"] == 2
    assert ups["metadata_only_bytes"] == len(f["big"]) + len(f["other"])
    assert ups["added_files"] == 1 and ups["added_bytes"] == 64 * 1024
    assert ups["largest_additions"] == [
        {"path": "/new.bin", "size": 64 * 1024, "nlink": 1, "hardlink": False}
    ]
    by_path = {u["path"]: u for u in ups["largest_copy_ups"]}
    assert by_path["/data/big"]["content"] == "same" and by_path["/data/big"]["meta"] == ["mode"]
    assert by_path["/data/other"]["content"] == "same"
    assert by_path["/data/small"]["content"] == "changed"
    # the engine's view: every copy-up is a C, the new file an A, and SizeRw is all of them
    kinds = {d["Path"]: d["Kind"] for d in engine.client.api.diff(scenario["copier"])}
    assert all(kinds[p] == 0 for p in by_path) and kinds["/new.bin"] == 1
    truth = engine.inspect(scenario["copier"], size=True)[0]
    assert c["size"] == truth["SizeRw"] == ups["copied_up_bytes"] + ups["added_bytes"]
    # every container got its copy-ups; an untouched one has none
    assert all(c["copy_ups"] is not None for c in df["containers"] if c["layer"])
    waste = next(c for c in df["containers"] if c["id"] == scenario["waste_ctr"])
    assert waste["copy_ups"]["copied_up_files"] == waste["copy_ups"]["added_files"] == 0


def _base_bytes() -> int:
    """Regular-file bytes of the base image's rootfs (the tarball the test imported)."""
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        return sum(m.size for m in tar.getmembers() if m.isreg())


def test_efficiency_as_dive_defines_it(
    engine: PrivateEngine, scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, eff = run_json(capsys, "--root", str(engine.data_root), "efficiency", "usage/waste:1")
    assert code == 0 and eff["ci"] is None
    f = scenario["files"]
    blob1, blob2, keep = len(f["blob1"]), len(f["blob2"]), len(f["keep"])
    junk = len(f["j1"]) + len(f["j2"]) + len(f["j3"])
    base = _base_bytes()
    # /data/blob is seen in three layers: 300 KB, 200 KB, and 200 KB again (the chmod)
    wasted = blob1 + 2 * blob2
    assert eff["paths"] == [{"path": "/data/blob", "count": 3, "cumulative_size": wasted}]
    assert eff["wasted_bytes"] == eff["user_wasted_bytes"] == wasted
    # dive's score: per path its smallest sighting over all sightings; the deleted /junk
    # is seen once, by its whiteout, sized as its files (dive counts it on both sides)
    smallest = base + blob2 + junk + junk + keep
    every = base + wasted + junk + junk + keep
    assert eff["score"] == pytest.approx(smallest / every)
    assert eff["user_size"] == blob1 + 2 * blob2 + junk + keep
    assert eff["user_wasted_percent"] == pytest.approx(wasted / eff["user_size"])
    # what no container can see: the first two blobs, and the deleted dir's files
    assert eff["hidden_bytes"] == blob1 + blob2 + junk
    assert [layer["hidden_bytes"] for layer in eff["layers"]] == [0, blob1, blob2, 0, junk, 0, 0]
    truth = engine.client.api.inspect_image(scenario["waste"])
    assert eff["image"] == scenario["waste"] and eff["tags"] == ["usage/waste:1"]
    assert eff["size"] == truth["Size"] == sum(layer["size"] for layer in eff["layers"])
    assert [layer["content_size"] for layer in eff["layers"]][1:] == [
        blob1, blob2, blob2, junk, 0, keep,
    ]  # fmt: skip
    # a container names its image
    code, via = run_json(capsys, "--root", str(engine.data_root), "efficiency", "usage-waste")
    assert via == eff


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ((), 1),  # dive's defaults: 0.9 efficiency, 10 % user waste: this image fails
        (("--highest-user-wasted-percent", "1", "--lowest-efficiency", "0"), 0),
        (("--highest-user-wasted-percent", "off", "--lowest-efficiency", "off",
          "--highest-wasted-bytes", "{wasted}"), 0),
        (("--highestUserWastedPercent", "off", "--lowestEfficiency", "off",
          "--highestWastedBytes", "{wasted_minus_1}"), 1),
        (("--highest-user-wasted-percent", "off", "--lowest-efficiency", "off",
          "--highest-wasted-bytes", "{wasted_kb}kB"), 0),
        (("--highest-user-wasted-percent", "off", "--lowest-efficiency", "{score}"), 0),
        (("--highest-user-wasted-percent", "off", "--lowest-efficiency", "{above_score}"), 1),
    ],
)  # fmt: skip
def test_ci_gate(
    engine: PrivateEngine,
    scenario: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    status: int,
) -> None:
    root = str(engine.data_root)
    _, eff = run_json(capsys, "--root", root, "efficiency", "usage/waste:1")
    wasted = eff["wasted_bytes"]
    values = {
        "wasted": wasted, "wasted_minus_1": wasted - 1, "wasted_kb": wasted / 1000,
        "score": repr(eff["score"]), "above_score": repr(eff["score"] + 1e-9),
    }  # fmt: skip
    args = [flag.format(**values) for flag in flags]
    code, gated = run_json(capsys, "--root", root, "efficiency", "--ci", *args, "usage/waste:1")
    assert code == status
    assert gated["ci"]["pass"] == (status == 0)
    assert ("fail" in {r["status"] for r in gated["ci"]["rules"]}) == (status == 1)
    code, out, _ = run_text(capsys, "--root", root, "efficiency", "--ci", *args, "usage/waste:1")
    assert code == status and ("FAIL" if status else "PASS") in out


def test_a_clean_image_passes_dives_defaults(
    engine: PrivateEngine, scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, eff = run_json(
        capsys, "--root", str(engine.data_root), "efficiency", "--ci", "usage/clean:1"
    )
    assert code == 0 and eff["ci"]["pass"]
    assert (eff["score"], eff["wasted_bytes"], eff["hidden_bytes"]) == (1.0, 0, 0)
    assert eff["user_size"] == len(scenario["files"]["keep"])
