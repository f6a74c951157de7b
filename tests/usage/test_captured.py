"""`df`, copy-ups and efficiency on the captured snapshot: a real engine's data root, static.

The engine's own answers (system df, SizeRw) are in answers.json; byte totals are checked
against `du` run on the very same tree.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from overlayscope.errors import Cancelled
from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from overlayscope.root.refs import resolve
from overlayscope.scan import ScanProgress
from overlayscope.usage.df import Category, DiskUsage, disk_usage
from overlayscope.usage.efficiency import image_efficiency
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_json, run_text
from tests.usage.measure import apparent_as_du_counts, du_allocated

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def host(captured_root: CapturedRoot) -> Host:
    return load_host(str(captured_root.path))


@pytest.fixture(scope="module")
def usage(host: Host) -> DiskUsage:
    return disk_usage(host, top=1000, copy_ups=True)


def _by_name(host: Host, name: str) -> str:
    return next(c.id for c in host.containers.values() if c.name == name)


def test_total_is_what_du_counts(usage: DiskUsage, captured_root: CapturedRoot) -> None:
    root = captured_root.path
    assert usage.total.allocated == du_allocated(root)
    assert usage.total.apparent == apparent_as_du_counts(root)
    assert usage.total.allocated == sum(c.allocated for c in usage.categories)
    assert [c.category for c in usage.categories] == list(Category)
    assert usage.skipped_mounts == () and usage.problems == ()


def test_every_layer_dir_is_what_du_counts(usage: DiskUsage, captured_root: CapturedRoot) -> None:
    for layer in usage.layers:
        where = captured_root.path / "overlay2" / layer.id
        assert layer.allocated == du_allocated(where), layer.id
        assert layer.apparent == apparent_as_du_counts(where), layer.id


def test_engine_figures(usage: DiskUsage, host: Host, captured_root: CapturedRoot) -> None:
    system_df = captured_root.answers["system_df"]
    assert usage.layers_size == system_df["LayersSize"]
    images = {i.id: i for i in usage.images}
    for answer in system_df["Images"]:
        mine = images[answer["Id"]]
        assert (mine.size, mine.shared_size) == (answer["Size"], answer["SharedSize"])
        assert mine.unique_size == answer["Size"] - answer["SharedSize"]
    containers = {c.id: c for c in usage.containers}
    for answer in captured_root.answers["containers"]:
        assert containers[answer["id"]].size == answer["size_rw"], answer["name"]
    # image layers: what the daemon recorded for each is what lies in its diff/
    for layer in usage.layers:
        if layer.role is Role.IMAGE:
            assert layer.size == host.layers[layer.id].recorded_size


def test_logs_are_the_json_log_files(usage: DiskUsage, captured_root: CapturedRoot) -> None:
    total = 0
    for c in usage.containers:
        files = glob.glob(str(captured_root.path / "containers" / c.id / f"{c.id}-json.log*"))
        stats = [os.lstat(f) for f in files]
        assert c.logs.apparent == sum(s.st_size for s in stats), c.name
        assert c.logs.allocated == sum(s.st_blocks * 512 for s in stats), c.name
        total += c.logs.apparent
    logs = usage.category(Category.CONTAINER_LOGS)
    assert logs.apparent == total
    assert logs.count == len(glob.glob(str(captured_root.path / "containers/*/*-json.log")))


def test_reclaimable(usage: DiskUsage, host: Host) -> None:
    active = {c.id for c in usage.containers if c.active}
    assert active == {_by_name(host, "web")}  # running; the others are created or exited
    layers = usage.category(Category.CONTAINER_LAYERS)
    assert layers.reclaimable == sum(
        u.allocated for u in usage.layers if u.role is Role.RW and u.owners[0] not in active
    )
    # image layers in use by a container are kept; the dangling image's own layer is not
    in_use = {lid for c in host.containers.values() for lid in c.image_layers}
    for u in usage.layers:
        if u.role is Role.IMAGE:
            assert u.reclaimable == (u.id not in in_use)
    dangling = next(i for i in host.images.values() if i.dangling and not i.tags)
    assert dangling.layers[-1].id not in in_use
    assert usage.category(Category.IMAGE_LAYERS).reclaimable > 0
    assert (
        usage.category(Category.BUILD_CACHE).reclaimable
        == usage.category(Category.BUILD_CACHE).allocated
    )


def test_top_consumers_and_files(usage: DiskUsage, host: Host) -> None:
    allocated = [t.allocated for t in usage.top]
    assert allocated == sorted(allocated, reverse=True)
    kinds = {(t.kind, t.id) for t in usage.top}
    for c in host.containers.values():
        assert ("container_layer", c.id) in kinds
    assert sum(t.allocated for t in usage.top) <= usage.total.allocated
    biggest = usage.top_files[0]
    assert os.path.basename(biggest.path) == "busybox"
    assert biggest.allocated == os.lstat(biggest.path).st_blocks * 512
    assert biggest.category == Category.IMAGE_LAYERS


def _lower(host: Host, container_name: str, path: str) -> Path:
    """The file as the image holds it, in the topmost image layer that has it."""
    c = host.containers[_by_name(host, container_name)]
    for lid in c.image_layers:
        candidate = Path(host.layers[lid].content_dir + path)
        if candidate.exists():
            return candidate
    raise AssertionError(path)


def test_copy_ups_of_the_web_container(usage: DiskUsage, host: Host) -> None:
    """The scenario: append to app.conf, chmod perm.txt, touch notes.txt, ln tool.sh
    tool-link, mv readme.txt README, and new files under /srv/www (a 1 MiB big.bin)."""
    web = next(c for c in usage.containers if c.name == "web")
    ups = web.copy_ups
    assert ups is not None
    rw = Path(host.layers[web.layer or ""].content_dir)
    by_path = {u.path: u for u in ups.largest_copy_ups}
    assert set(by_path) == {
        "/app/conf/app.conf", "/app/perm.txt", "/app/notes.txt",
        "/app/bin/tool.sh", "/app/bin/tool-link", "/app/docs/README",
    }  # fmt: skip
    assert by_path["/app/conf/app.conf"].content == "changed"
    assert by_path["/app/perm.txt"].content == "same" and by_path["/app/perm.txt"].meta == ("mode",)
    assert by_path["/app/notes.txt"].content == "same" and "mtime" in by_path["/app/notes.txt"].meta
    assert by_path["/app/bin/tool.sh"].content == "same"  # copied up by `ln`: no stat change
    assert by_path["/app/docs/README"].content is None  # renamed: beneath it, nothing
    same = ["/app/perm.txt", "/app/notes.txt", "/app/bin/tool.sh"]
    assert ups.metadata_only_files == 3
    assert ups.metadata_only_bytes == sum(_lower(host, "web", p).stat().st_size for p in same)
    # tool-link is tool.sh's inode: its bytes count once
    copied = ["/app/conf/app.conf", *same, "/app/docs/README"]
    assert ups.copied_up_files == 6
    assert ups.copied_up_bytes == sum((rw / p.lstrip("/")).stat().st_size for p in copied)
    big = ups.largest_additions[0]
    assert (big.path, big.size) == ("/srv/www/big.bin", 1024 * 1024)
    assert ups.added_bytes + ups.copied_up_bytes == web.size  # SizeRw: every file, once


def test_efficiency_of_the_app_image(host: Host) -> None:
    image = host.images[resolve(host, "scope/app:1").id]
    layers = [Path(host.layers[il.id or ""].content_dir) for il in image.layers]
    eff = image_efficiency(host, image)

    def size(layer: int, path: str) -> int:
        return (layers[layer] / path.lstrip("/")).stat().st_size

    big, doomed, leaf = (
        "/app/data/big.txt",
        "/app/data/doomed.txt",
        "/app/data/nested/deeper/leaf.txt",
    )
    want = [
        (big, 2, size(1, big) + size(4, big)),
        (doomed, 2, size(1, doomed)),  # its whiteout in layer 4 is a 0-byte sighting
        (leaf, 2, size(1, leaf) + size(4, leaf)),  # chmod 640: copied up whole
    ]
    want.sort(key=lambda w: -w[2])
    assert [(p.path, p.count, p.cumulative_size) for p in eff.paths] == want
    assert eff.wasted_bytes == sum(w[2] for w in want)
    # hidden: the first big.txt, doomed.txt, the first leaf.txt, and /app/cache's old
    # contents under the opaque dir of layer 4 (which dive does not see)
    cache = ["/app/cache/old/entry.txt", "/app/cache/keep.txt"]
    assert eff.hidden_bytes == sum(size(1, p) for p in [big, doomed, leaf, *cache])
    assert eff.size == image.size
    assert [layer.id for layer in eff.layers] == [il.id for il in image.layers]


def test_cancel_and_progress(host: Host) -> None:
    seen: list[ScanProgress] = []
    disk_usage(host, progress=seen.append)
    assert seen[-1].layers_done == seen[-1].layers_total == len(host.layers) + 1
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        disk_usage(host, cancel=cancel)


def _copy(src: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
    return dest


def test_orphans_are_reclaimable(
    captured_root: CapturedRoot, host: Host, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drop the stopped container's records: its rw and init dirs become orphans."""
    copy = _copy(captured_root.path, tmp_path / "root")
    stopped = host.containers[_by_name(host, "stopped")]
    shutil.rmtree(copy / "containers" / stopped.id)
    shutil.rmtree(copy / "image/overlay2/layerdb/mounts" / stopped.id)
    code, report = run_json(capsys, "--offline", "--root", str(copy), "df", "--top", "100")
    assert code == 0
    orphans = next(c for c in report["categories"] if c["name"] == "orphans")
    dirs = [copy / "overlay2" / lid for lid in (stopped.layer, stopped.init_layer) if lid]
    assert orphans["count"] == 2
    assert orphans["allocated"] == orphans["reclaimable"] == du_allocated(*dirs)
    assert {t["id"] for t in report["top"] if t["kind"] == "orphan"} == {d.name for d in dirs}
    assert report["total"]["allocated"] == du_allocated(copy)


def test_names_from_the_evidence_are_escaped(
    captured_root: CapturedRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(captured_root.path, tmp_path / "root")
    name = "[red]vol\x1b[2J"
    data = copy / "volumes" / name / "_data"
    data.mkdir(parents=True)
    (data / "blob").write_bytes(b"v" * 5000)
    code, out, err = run_text(capsys, "--offline", "--root", str(copy), "df")
    assert (code, err) == (0, "")
    assert "\x1b" not in out
    assert "[red]vol\\x1b[2J" in out
    code, report = run_json(capsys, "--offline", "--root", str(copy), "df")
    volume = next(v for v in report["volumes"] if v["name"] == name)
    assert volume["size"] == 5000 and volume["containers"] == [] and volume["reclaimable"]


def test_symlinks_in_the_root_are_never_followed(
    captured_root: CapturedRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `volumes/` and a log that are symlinks out of the root: counted as links, not read."""
    outside = tmp_path / "outside"
    (outside / "vol" / "_data").mkdir(parents=True)
    (outside / "vol" / "_data" / "big").write_bytes(b"x" * 100_000)
    copy = _copy(captured_root.path, tmp_path / "root")
    shutil.rmtree(copy / "volumes")
    (copy / "volumes").symlink_to(outside)
    log = next(iter(glob.glob(str(copy / "containers/*/*-json.log"))))
    os.unlink(log)
    os.symlink(outside / "vol" / "_data" / "big", log)
    code, report = run_json(capsys, "--offline", "--root", str(copy), "df")
    assert code == 0
    assert report["volumes"] == [] and report["skipped_mounts"] == []
    assert report["total"]["allocated"] == du_allocated(copy)
    assert all(f["allocated"] < 100_000 for f in report["top_files"] if "vol" in f["path"])
    logs = next(c for c in report["categories"] if c["name"] == "container_logs")
    assert logs["apparent"] == len(str(outside / "vol" / "_data" / "big"))  # the link itself


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--lowest-efficiency", "0.5"), 2),  # a threshold without --ci gates nothing: refused
        (("--ci", "--lowest-efficiency", "1.5"), 2),
        (("--ci", "--highest-wasted-bytes", "12 parsecs"), 2),
        (("--ci",), 1),  # dive's defaults: 10 % user waste is exceeded
        (("--ci", "--highest-user-wasted-percent", ""), 0),  # empty: the rule is off
    ],
)
def test_efficiency_options(
    captured_root: CapturedRoot,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
) -> None:
    try:
        got, out, err = run_text(
            capsys, "--offline", "--root", str(captured_root.path), "efficiency", *args, "web"
        )
    except SystemExit as exc:  # argparse's own exit, for usage errors
        got = int(exc.code or 0)
        out, err = capsys.readouterr()
    assert got == code, err
    assert ("error:" in err) == (code == 2)
    assert {0: "PASS", 1: "FAIL", 2: ""}[code] in out
