"""`podman diff` and the merged views of a live private podman, against overlayscope's.

- `container REF --json`: its changes, once the runtime files are set apart, are exactly
  `podman diff --format json` (kinds and paths) for every container of the session's
  scenario, rootful and rootless; the runtime files are exactly libpod's initInodes found in
  the container's layer.
- `podman diff IMAGE` (the top layer against its parent) equals the image screen's changes
  of that layer (`changes(stack, rule=ChangeRule.UPPER)`).
- `where` / `ls` / `cat` / `diff`, and the whole merged view entry by entry, equal the
  kernel's: the running container's own mounted `merged/` (rootful; read only), else a
  read-only overlay mount of the layer dirs made here.
- A container of this module's own engine does what the scenario does not (a change deep
  in copied-up dirs whose metadata stayed the same, re-creating what an image layer deleted
  or hid under an opaque dir, renames, chown, a fifo, an opaque dir over an opaque dir).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.root.model import ChangeRule
from overlayscope.union.diff import changes
from overlayscope.union.host_stacks import build_stack
from tests.engine import FIXED_MTIME
from tests.podman.engine import PrivatePodman
from tests.podman.images import ImageSpec, Layer, oci_archive
from tests.podman_checks import (
    INIT_INODES,
    PodmanStore,
    change_set,
    check_container_changes,
    image_changes,
    ours,
    private_podman,
)
from tests.podman_fixtures import APP, PodmanScenario, image_specs, podman_answers
from tests.podman_views import (
    SCENARIO_PATHS,
    check_file_commands,
    check_merged_view,
    kernel_view,
)

pytestmark = pytest.mark.engine

ENGINES = {
    "rootful": ("podman", "podman_scenario"),
    "rootless": ("podman_rootless", "podman_rootless_scenario"),
}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def live(request: pytest.FixtureRequest) -> Iterator[tuple[PrivatePodman, PodmanStore]]:
    """The session's scenario (rootful, rootless), and podman's answers about it now."""
    engine, scenario_fixture = ENGINES[request.param]
    scenario: PodmanScenario = request.getfixturevalue(scenario_fixture)
    pm: PrivatePodman = request.getfixturevalue(engine)
    yield pm, PodmanStore(pm.graph_root, podman_answers(pm), scenario.graph_root)


def test_container_changes_equal_podman_diff(
    live: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    pm, store = live
    assert len(store.containers) == 5
    for answer in store.containers:
        name = answer["name"]
        # podman's answer now, not only the one recorded with the other answers
        assert change_set(pm.diff(name)) == change_set(answer["diff"])
        check_container_changes(store, name, ours(capsys, store, "container", name))


def test_runtime_files_are_what_podman_wrote_into_the_layer(
    live: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    """Started containers hold libpod's mount points in their own layer; podman diff hides
    them, we list them apart; a container never started holds none."""
    _, store = live
    for answer in store.containers:
        doc = ours(capsys, store, "container", answer["name"])
        runtime = {c["path"] for c in doc["changes"] if c["runtime"]}
        if answer["inspect"]["State"]["Status"] == "created":
            assert runtime == set()
        else:
            assert {"/etc/hosts", "/etc/hostname", "/run/.containerenv"} <= runtime <= INIT_INODES
            assert all(c["kind"] == "A" for c in doc["changes"] if c["runtime"])


def test_image_changes_equal_podman_diff_image(live: tuple[PrivatePodman, PodmanStore]) -> None:
    pm, store = live
    host = store.host()
    for answer in store.images:
        theirs = change_set(pm.diff(answer["id"]))
        assert theirs == change_set(answer["diff"])
        assert image_changes(host, "sha256:" + answer["id"]) == theirs


def test_merged_views_equal_the_kernels(live: tuple[PrivatePodman, PodmanStore]) -> None:
    _, store = live
    host = store.host()
    content = {lid: Path(layer.content_dir) for lid, layer in host.layers.items()}
    for answer in store.containers:
        ins = answer["inspect"]
        stack = build_stack(host, host.containers[ins["Id"]])
        if ins["State"]["Status"] == "running" and not store.rootless:
            # the container's own root, mounted by podman (rootless: in its user's namespace)
            check_merged_view(stack, Path(ins["GraphDriver"]["Data"]["MergedDir"]), content)
            continue
        with kernel_view(store.graph_dirs(ins), userxattr=store.rootless) as view:
            check_merged_view(stack, view, content)
    for answer in store.images:
        stack = build_stack(host, host.images["sha256:" + answer["id"]])
        with kernel_view(store.graph_dirs(answer["inspect"]), userxattr=store.rootless) as view:
            check_merged_view(stack, view, content)


@pytest.mark.parametrize("ref", ["web", "stopped", "tool-exited", "localhost/scope/app:1"])
def test_where_ls_cat_diff_equal_the_kernel_view(
    live: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    _, store = live
    image = ref.startswith("localhost/")
    ins = store.image(ref)["inspect"] if image else store.container(ref)["inspect"]
    dirs = store.graph_dirs(ins)
    rootless = store.rootless
    with kernel_view(dirs[1:], userxattr=rootless) as below:
        if ins.get("State", {}).get("Status") == "running" and not rootless:
            merged = Path(ins["GraphDriver"]["Data"]["MergedDir"])
            check_file_commands(capsys, store, ref, merged, below, SCENARIO_PATHS)
        else:
            with kernel_view(dirs, userxattr=rootless) as view:
                check_file_commands(capsys, store, ref, view, below, SCENARIO_PATHS)


# --------------------------------------------------------------------------- more cases

EDGE_SCRIPT = " && ".join(
    (
        # a change deep down: the dirs copied up on the way keep size, mode and mtime,
        # so podman reports the file alone
        "echo x >> /app/data/nested/deeper/leaf.txt",
        "echo back > /app/data/doomed.txt",  # re-create what an image layer whited out
        # re-create under the dir an image layer made opaque (still found beneath)
        "mkdir -p /app/cache/old && echo again > /app/cache/old/entry.txt",
        "chmod 700 /app/lib",  # a dir's mode only
        "ln -sf ../conf/extra.conf /app/lib/app.conf.rel",  # replace a relative symlink
        "mv /app/notes.txt /app/notes-moved.txt",  # rename a lower file
        "mv /app/logs /app/logs-moved",  # rename a lower dir (copied, then deleted)
        "chown 1:1 /app/perm.txt",
        "mkfifo /app/fifo",
        "mkdir -p /app/bin/sub/deeper && rm -rf /app/bin/sub",  # made and gone again
        "touch /app/bin",
    )
)
# An absolute symlink in the image whose target is not on the host: podman's lookup
# beneath follows it there (os.Stat), we never leave the layer.
SYMLINK_SCRIPT = "ln -sf /elsewhere /app/current.conf"
# A dir of an image layer carrying `user.overlay.opaque` while the store's overlay is
# rootful (trusted.overlay.*): the kernel ignores it.
SPOOF = "localhost/scope/spoof:1"


def _spoof_layer() -> Layer:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, opaque in (("app", False), ("app/conf", True), ("app/conf/new.conf", None)):
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            if opaque is None:
                info.size = 4
                tar.addfile(info, io.BytesIO(b"new\n"))
                continue
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            if opaque:
                info.pax_headers = {"SCHILY.xattr.user.overlay.opaque": "y"}
            tar.addfile(info)
    return Layer(buf.getvalue(), created_by="a dir with user.overlay.opaque")


@pytest.fixture(scope="module")
def edge() -> Iterator[tuple[PrivatePodman, PodmanStore]]:
    """A rootful private podman of this module's own: the app image, a spoofing image, and
    exited containers that ran EDGE_SCRIPT and SYMLINK_SCRIPT."""
    with private_podman() as pm:
        app = image_specs()[APP][1]
        pm.load(oci_archive(app), "app")
        spoof = ImageSpec(SPOOF, (*app.layers, _spoof_layer()), cmd=app.cmd)
        pm.load(oci_archive(spoof), "spoof")
        for name, script in (("edge", EDGE_SCRIPT), ("symlink", SYMLINK_SCRIPT)):
            pm.run(APP, ["sh", "-c", script], name=name)
            assert pm.wait(name) == 0
        pm.settle()
        yield pm, PodmanStore(pm.graph_root, podman_answers(pm), pm.graph_root)


def test_more_changes_equal_podman_diff(
    edge: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    _, store = edge
    check_container_changes(store, "edge", ours(capsys, store, "container", "edge"))
    theirs = change_set(store.container("edge")["diff"])
    # what made this case worth having, in podman's own answer
    assert ("C", "/app/data/nested/deeper/leaf.txt") in theirs
    assert not {p for _, p in theirs} & {"/app/data/nested", "/app/data/nested/deeper"}
    assert {("A", "/app/data/doomed.txt"), ("C", "/app/cache/old/entry.txt")} <= theirs
    assert {("D", "/app/logs"), ("A", "/app/logs-moved/2024/b.log")} <= theirs
    assert {("C", "/app/lib"), ("C", "/app/perm.txt"), ("A", "/app/fifo")} <= theirs
    host = store.host()
    content = {lid: Path(layer.content_dir) for lid, layer in host.layers.items()}
    ins = store.container("edge")["inspect"]
    with kernel_view(store.graph_dirs(ins), userxattr=False) as view:
        check_merged_view(build_stack(host, host.containers[ins["Id"]]), view, content)


def test_a_replaced_symlink_podman_resolves_on_the_host(
    edge: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    """containers/storage looks a path up in the lower layers with os.Stat, which follows
    a symlink there: an absolute one leads to the host's root. The image's
    /app/current.conf -> /app/conf/app.conf does not exist on this host, so for podman the
    replaced link was never beneath ("A"); we never follow a link out of a layer, see the
    symlink beneath, and say "C". Everything else is the same (upper_changes.py)."""
    pm, store = edge
    target = "/app/conf/app.conf"
    if os.path.lexists(target):
        pytest.skip(f"{target} exists on this host: podman would find it")
    doc = ours(capsys, store, "container", "symlink")
    mine = change_set(c for c in doc["changes"] if not c["runtime"])
    theirs = change_set(pm.diff("symlink"))
    assert theirs - mine == {("A", "/app/current.conf")}
    assert mine - theirs == {("C", "/app/current.conf")}


def test_user_overlay_xattrs_in_a_rootful_store_are_not_overlay_metadata(
    edge: tuple[PrivatePodman, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    pm, store = edge
    answer = store.image(SPOOF)
    ins = answer["inspect"]
    top = store.graph_dirs(ins)[0]
    assert os.getxattr(top / "app/conf", "user.overlay.opaque") == b"y"
    host = store.host()
    # the kernel (and a container of this image) still sees what lies beneath /app/conf
    with kernel_view(store.graph_dirs(ins), userxattr=False) as view:
        assert sorted(os.listdir(view / "app/conf")) == ["app.conf", "extra.conf", "new.conf"]
        listed = ours(capsys, store, "ls", SPOOF, "/app/conf")
        assert sorted(e["name"] for e in listed) == ["app.conf", "extra.conf", "new.conf"]
    stack = build_stack(host, host.images["sha256:" + answer["id"]])
    mine = {(c.kind.value, c.path) for c in changes(stack, rule=ChangeRule.UPPER)}
    assert mine == change_set(pm.diff(SPOOF))
