"""More damaged copies of a real engine's data root, and every command on each.

In the table style of tests/root/test_damage.py (whose cases are not repeated here):
each case copies the captured snapshot, damages one record the way an attacker, a
crash or a bad copy would, and checks that

- `check` reports the expected problem kinds (exit 1), every problem well-formed;
- every other command still answers, in JSON and in human output: the root-wide ones
  exit 0; the ones about one container or image exit 0, or 3 with one line on stderr
  when that object is what was damaged; never a traceback, never a crash, and the
  JSON always has its documented shape (no "exit 0 with garbage").
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from overlayscope.usage.df import disk_usage
from tests.engine import CapturedRoot
from tests.hostile.cli import (
    ROOT_COMMANDS,
    assert_answered,
    assert_no_raw_control,
    check_json,
    run_inproc,
)
from tests.root.test_damage import CASES as ROOT_DAMAGE

pytestmark = pytest.mark.root

SPARSE = 64 * 1024 * 1024  # a huge record that costs no disk

# --------------------------------------------------------------------------- helpers


def _copy(captured: CapturedRoot, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(captured.path), str(dest)], check=True)
    return dest


def _replace(path: Path, data: str | bytes) -> None:
    """Replace a record (a file, or whatever stands at `path`) with `data`."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _sparse(path: Path) -> None:
    path.unlink()
    with path.open("wb") as f:
        f.truncate(SPARSE)


def _container(host: Host, name: str = "stopped") -> str:
    return next(c.id for c in host.containers.values() if c.name == name)


def _config(root: Path, host: Host, name: str = "stopped") -> Path:
    return root / "containers" / _container(host, name) / "config.v2.json"


def _edit_config(root: Path, host: Host, edit: Callable[[dict[str, Any]], None]) -> None:
    path = _config(root, host)
    config = json.loads(path.read_bytes())
    edit(config)
    _replace(path, json.dumps(config))


def _app_image(host: Host) -> str:
    return next(i.id for i in host.images.values() if "scope/app:1" in i.tags)


def _image_config(root: Path, host: Host) -> Path:
    image = _app_image(host).removeprefix("sha256:")
    return root / "image/overlay2/imagedb/content/sha256" / image


def _edit_image(root: Path, host: Host, edit: Callable[[dict[str, Any]], None]) -> None:
    path = _image_config(root, host)
    config = json.loads(path.read_bytes())
    edit(config)
    _replace(path, json.dumps(config))


def _layer_record(root: Path, host: Host) -> Path:
    """The layerdb record of scope/app:1's top layer."""
    image = host.images[_app_image(host)]
    chain = image.layers[-1].chain_id.removeprefix("sha256:")
    return root / "image/overlay2/layerdb/sha256" / chain


def _mount(root: Path, host: Host, name: str = "stopped") -> Path:
    return root / "image/overlay2/layerdb/mounts" / _container(host, name)


def _image_dirs(host: Host) -> list[str]:
    """scope/app:1's overlay2 dirs, top → bottom."""
    return host.images[_app_image(host)].stack()


def _overlay(root: Path, dir_id: str) -> Path:
    return root / "overlay2" / dir_id


Damage = Callable[[Path, Host], None]

# --------------------------------------------------------------------------- image configs


def image_config_garbage(root: Path, host: Host) -> None:
    _replace(_image_config(root, host), b'\x00\xff\xfe garbage {"rootfs":')


def image_config_truncated(root: Path, host: Host) -> None:
    path = _image_config(root, host)
    _replace(path, path.read_bytes()[:57])


def image_config_nesting_bomb(root: Path, host: Host) -> None:
    _replace(_image_config(root, host), b"[" * 200_000 + b"]" * 200_000)


def image_config_is_a_list(root: Path, host: Host) -> None:
    _replace(_image_config(root, host), b'[{"rootfs": {"diff_ids": []}}]')


def image_config_non_utf8(root: Path, host: Host) -> None:
    path = _image_config(root, host)
    _replace(path, path.read_bytes().replace(b'"os":"linux"', b'"os":"lin\xffux"'))


def image_config_huge(root: Path, host: Host) -> None:
    _sparse(_image_config(root, host))


def image_config_is_a_symlink(root: Path, host: Host) -> None:
    path = _image_config(root, host)
    path.unlink()
    path.symlink_to("/etc/passwd")


def image_config_is_a_fifo(root: Path, host: Host) -> None:
    path = _image_config(root, host)
    path.unlink()
    os.mkfifo(path)  # opened naively, the read would block forever


def diff_ids_a_string(root: Path, host: Host) -> None:
    _edit_image(root, host, lambda c: c["rootfs"].update(diff_ids=c["rootfs"]["diff_ids"][0]))


def diff_ids_wrong_items(root: Path, host: Host) -> None:
    _edit_image(root, host, lambda c: c["rootfs"].update(diff_ids=[5, None, ["sha256:"]]))


def rootfs_not_an_object(root: Path, host: Host) -> None:
    _edit_image(root, host, lambda c: c.update(rootfs=["layers"]))


def history_entries_wrong_types(root: Path, host: Host) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["history"] = [5, "RUN x", None, {"created_by": 7, "empty_layer": "yes"}, *c["history"]]

    _edit_image(root, host, edit)


def history_fields_wrong_types(root: Path, host: Host) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["history"][-1].update(created_by=7, empty_layer="yes", comment=["x"])

    _edit_image(root, host, edit)


def history_not_a_list(root: Path, host: Host) -> None:
    _edit_image(root, host, lambda c: c.update(history={"created_by": "x"}))


def image_parent_garbage(root: Path, host: Host) -> None:
    image = _app_image(host).removeprefix("sha256:")
    meta = root / "image/overlay2/imagedb/metadata/sha256" / image
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "parent").unlink(missing_ok=True)
    (meta / "parent").write_bytes(b"\xff\xfe\x1b]0;x\x07")


def stray_file_in_imagedb(root: Path, host: Host) -> None:
    (root / "image/overlay2/imagedb/content/sha256/not-a-digest\x1b[2J").write_text("{}")


def imagedb_removed(root: Path, host: Host) -> None:
    shutil.rmtree(root / "image/overlay2/imagedb")


# --------------------------------------------------------------------------- repositories.json


def repositories_a_list(root: Path, host: Host) -> None:
    _replace(root / "image/overlay2/repositories.json", '[["scope/app:1"]]')


def repositories_not_an_object(root: Path, host: Host) -> None:
    _replace(root / "image/overlay2/repositories.json", '{"Repositories": ["scope/app"]}')


def repositories_wrong_entries(root: Path, host: Host) -> None:
    _replace(
        root / "image/overlay2/repositories.json",
        '{"Repositories": {"a": [], "b": {"b:1": 5, "b:2": null}, "c": "sha256:00"}}',
    )


def repositories_non_utf8(root: Path, host: Host) -> None:
    path = root / "image/overlay2/repositories.json"
    _replace(path, path.read_bytes().replace(b"scope/app:1", b"scope/app:\xff1"))


def repositories_huge(root: Path, host: Host) -> None:
    _sparse(root / "image/overlay2/repositories.json")


def repositories_tag_to_a_path(root: Path, host: Host) -> None:
    _replace(
        root / "image/overlay2/repositories.json",
        '{"Repositories": {"x": {"x:1": "../../../../etc/passwd"}}}',
    )


# --------------------------------------------------------------------------- container configs


def name_an_int(root: Path, host: Host) -> None:
    _edit_config(root, host, lambda c: c.update(Name=5))


def running_a_string(root: Path, host: Host) -> None:
    _edit_config(root, host, lambda c: c.update(State={"Running": "yes"}))


def state_fields_wrong_types(root: Path, host: Host) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["State"].update(Pid="12", ExitCode=1.5, StartedAt=5, Paused=[], Dead={})

    _edit_config(root, host, edit)


def config_fields_wrong_types(root: Path, host: Host) -> None:
    _edit_config(root, host, lambda c: c.update(Created=[], Driver=5, LogPath={}, ID=7))


def config_non_utf8(root: Path, host: Host) -> None:
    path = _config(root, host)
    _replace(path, path.read_bytes().replace(b'"/stopped"', b'"/stop\xff\xfeped"'))


def config_is_a_list(root: Path, host: Host) -> None:
    _replace(_config(root, host), b"[]")


def config_nesting_bomb(root: Path, host: Host) -> None:
    _replace(_config(root, host), b'{"State":' * 100_000)


def config_missing(root: Path, host: Host) -> None:
    _config(root, host).unlink()


def config_is_a_device(root: Path, host: Host) -> None:
    path = _config(root, host)
    path.unlink()
    os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # like /dev/zero: never read it


def container_dir_is_a_file(root: Path, host: Host) -> None:
    _replace(root / "containers" / _container(host), b"{}")


def container_dir_is_a_symlink(root: Path, host: Host) -> None:
    # A config planted elsewhere, reached through a symlinked record dir: never followed.
    planted = root.parent / "planted"
    shutil.copytree(root / "containers" / _container(host), planted)
    shutil.rmtree(root / "containers" / _container(host))
    (root / "containers" / _container(host)).symlink_to(planted)


def _move_out_and_link(root: Path, rel: str) -> Path:
    """Move root/rel outside the root and leave a symlink to it in its place."""
    outside = root.parent / ("outside-" + rel.replace("/", "-"))
    shutil.move(str(root / rel), outside)
    (root / rel).symlink_to(outside)
    return outside


def image_dir_is_a_symlink(root: Path, host: Host) -> None:
    # image/ itself, above every image and layer record: nothing beneath is read
    _move_out_and_link(root, "image")


def layerdb_dir_is_a_symlink(root: Path, host: Host) -> None:
    _move_out_and_link(root, "image/overlay2/layerdb")


def imagedb_dir_is_a_symlink(root: Path, host: Host) -> None:
    _move_out_and_link(root, "image/overlay2/imagedb")


def container_image_a_path(root: Path, host: Host) -> None:
    _edit_config(root, host, lambda c: c.update(Image="../../../../etc/passwd"))


def containers_dir_removed(root: Path, host: Host) -> None:
    shutil.rmtree(root / "containers")


# --------------------------------------------------------------------------- layerdb


def cache_id_non_ascii(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "cache-id", b"\xff\xfe\x00abc")


def cache_id_climbs(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "cache-id", "../../../../etc")


def cache_id_control_chars(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "cache-id", "abc\x1b]0;pwned\x07\x1b[2J")


def cache_id_emptied(root: Path, host: Host) -> None:
    """The image layer three containers and four image chains stand on loses its dir's name."""
    _replace(_layer_record(root, host) / "cache-id", b"")


def cache_id_missing(root: Path, host: Host) -> None:
    (_layer_record(root, host) / "cache-id").unlink()


def layer_diff_missing(root: Path, host: Host) -> None:
    (_layer_record(root, host) / "diff").unlink()


def layer_parent_garbage(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "parent", "sha256:zz")


def layer_size_huge_number(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "size", "9" * 5000)


def layer_size_underscored(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "size", "1_000")


def layer_size_negative(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "size", "-1")


def layer_size_beyond_int64(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host) / "size", str(2**64))


def layer_record_is_a_file(root: Path, host: Host) -> None:
    _replace(_layer_record(root, host), b"cache-id")


def layer_record_is_a_symlink(root: Path, host: Host) -> None:
    record = _layer_record(root, host)
    planted = root.parent / "planted-layer"
    shutil.copytree(record, planted)
    shutil.rmtree(record)
    record.symlink_to(planted)


def layerdb_removed(root: Path, host: Host) -> None:
    shutil.rmtree(root / "image/overlay2/layerdb")


def mount_id_emptied(root: Path, host: Host) -> None:
    """The running container's mount record no longer names its rw dir (issue #15: its rw
    and init dirs were then listed as orphans, with `rm -rf` lines)."""
    _replace(_mount(root, host, "web") / "mount-id", b"")


def init_id_emptied(root: Path, host: Host) -> None:
    _replace(_mount(root, host, "web") / "init-id", b"")


def mount_id_climbs(root: Path, host: Host) -> None:
    _replace(_mount(root, host) / "mount-id", "..")


def mount_id_non_ascii(root: Path, host: Host) -> None:
    _replace(_mount(root, host) / "mount-id", b"\xff" * 64)


def mount_record_is_a_symlink(root: Path, host: Host) -> None:
    mount = _mount(root, host)
    planted = root.parent / "planted-mount"
    shutil.copytree(mount, planted)
    shutil.rmtree(mount)
    mount.symlink_to(planted)


# --------------------------------------------------------------------------- overlay2


def lower_mutual_cycle(root: Path, host: Host) -> None:
    """Two image layers each naming the other beneath them."""
    top, below = _image_dirs(host)[:2]
    links = {d: host.layers[d].link for d in (top, below)}
    _replace(_overlay(root, top) / "lower", f"l/{links[below]}")
    _replace(_overlay(root, below) / "lower", f"l/{links[top]}")


def lower_hundreds_distinct(root: Path, host: Host) -> None:
    fake = ":".join(f"l/{i:026d}" for i in range(600))
    _replace(_overlay(root, _image_dirs(host)[0]) / "lower", fake)


def lower_non_ascii(root: Path, host: Host) -> None:
    _replace(_overlay(root, _image_dirs(host)[0]) / "lower", b"l/\xff\xfe\x1b[2J")


def lower_huge(root: Path, host: Host) -> None:
    _sparse(_overlay(root, _image_dirs(host)[0]) / "lower")


def lower_empty_names(root: Path, host: Host) -> None:
    _replace(_overlay(root, _image_dirs(host)[0]) / "lower", "l/::l/:")


def link_control_chars(root: Path, host: Host) -> None:
    _replace(_overlay(root, _image_dirs(host)[0]) / "link", "ABC\x1b]0;pwned\x07[bold]x")


def short_links_removed(root: Path, host: Host) -> None:
    shutil.rmtree(root / "overlay2" / "l")


def short_link_hostile_target(root: Path, host: Host) -> None:
    link = root / "overlay2" / "l" / (host.layers[_image_dirs(host)[0]].link or "")
    link.unlink()
    link.symlink_to(b"../\x1b]0;pwned\x07\xff/diff".decode("utf-8", "surrogateescape"))


def diff_is_a_file(root: Path, host: Host) -> None:
    _replace(_overlay(root, _image_dirs(host)[0]) / "diff", b"not a dir")


def diff_is_a_symlink(root: Path, host: Host) -> None:
    diff = _overlay(root, _image_dirs(host)[0]) / "diff"
    shutil.rmtree(diff)
    diff.symlink_to("/")


# --------------------------------------------------------------------------- the table

CASES: list[tuple[Damage, set[str]]] = [
    (image_config_garbage, {"bad-metadata", "missing-image"}),
    (image_config_truncated, {"bad-metadata", "missing-image"}),
    (image_config_nesting_bomb, {"bad-metadata"}),
    (image_config_is_a_list, {"bad-metadata"}),
    (image_config_non_utf8, {"bad-metadata"}),
    (image_config_huge, {"bad-metadata"}),
    (image_config_is_a_symlink, {"symlink-in-root"}),
    (image_config_is_a_fifo, {"bad-metadata"}),
    (diff_ids_a_string, {"bad-metadata", "image-digest-mismatch"}),
    (diff_ids_wrong_items, {"bad-metadata"}),
    (rootfs_not_an_object, {"bad-metadata"}),
    (history_entries_wrong_types, {"bad-metadata", "image-digest-mismatch"}),
    (history_fields_wrong_types, {"bad-metadata", "image-digest-mismatch"}),
    (history_not_a_list, {"bad-metadata", "image-digest-mismatch"}),
    (image_parent_garbage, {"bad-metadata"}),
    (stray_file_in_imagedb, {"bad-metadata"}),
    (imagedb_removed, {"missing-image"}),
    (repositories_a_list, {"bad-metadata"}),
    (repositories_not_an_object, {"bad-metadata"}),
    (repositories_wrong_entries, {"bad-metadata"}),
    (repositories_non_utf8, {"bad-metadata"}),
    (repositories_huge, {"bad-metadata"}),
    (repositories_tag_to_a_path, {"missing-image"}),
    (name_an_int, {"bad-metadata"}),
    (running_a_string, {"bad-metadata"}),
    (state_fields_wrong_types, {"bad-metadata"}),
    (config_fields_wrong_types, {"bad-metadata"}),
    (config_non_utf8, {"bad-metadata"}),
    (config_is_a_list, {"bad-metadata"}),
    (config_nesting_bomb, {"bad-metadata"}),
    (config_missing, {"bad-metadata"}),
    (config_is_a_device, {"bad-metadata"}),
    (container_dir_is_a_file, {"bad-metadata"}),
    (container_dir_is_a_symlink, {"symlink-in-root"}),
    (image_dir_is_a_symlink, {"symlink-in-root"}),
    (layerdb_dir_is_a_symlink, {"symlink-in-root"}),
    (imagedb_dir_is_a_symlink, {"symlink-in-root"}),
    (container_image_a_path, {"missing-image"}),
    (containers_dir_removed, {"mount-without-container"}),
    (cache_id_non_ascii, {"bad-metadata", "missing-layer"}),
    (cache_id_climbs, {"bad-metadata"}),
    (cache_id_control_chars, {"missing-layer-dir"}),
    (cache_id_emptied, {"bad-metadata", "missing-layer"}),
    (cache_id_missing, {"bad-metadata", "missing-layer"}),
    (layer_diff_missing, {"bad-metadata", "missing-layer"}),
    (layer_parent_garbage, {"bad-metadata"}),
    (layer_size_huge_number, {"bad-metadata"}),
    (layer_size_negative, {"bad-metadata"}),
    (layer_size_underscored, {"bad-metadata"}),
    (layer_size_beyond_int64, {"bad-metadata"}),
    (layer_record_is_a_file, {"bad-metadata", "missing-layer"}),
    (layer_record_is_a_symlink, {"symlink-in-root", "missing-layer"}),
    (layerdb_removed, {"missing-layer"}),
    (mount_id_emptied, {"bad-metadata", "container-without-mount"}),
    (init_id_emptied, {"lower-mismatch"}),
    (mount_id_climbs, {"bad-metadata", "container-without-mount"}),
    (mount_id_non_ascii, {"bad-metadata", "container-without-mount"}),
    (mount_record_is_a_symlink, {"symlink-in-root", "container-without-mount"}),
    (lower_mutual_cycle, {"lower-cycle", "lower-mismatch"}),
    (lower_hundreds_distinct, {"lower-too-long", "lower-missing-link"}),
    (lower_non_ascii, {"bad-metadata"}),
    (lower_huge, {"bad-metadata"}),
    (lower_empty_names, {"lower-missing-link"}),
    (link_control_chars, {"link-mismatch"}),
    (short_links_removed, {"link-mismatch"}),
    (short_link_hostile_target, {"dangling-link", "link-mismatch"}),
    (diff_is_a_file, {"missing-diff"}),
    (diff_is_a_symlink, {"missing-diff"}),
]


def _object_commands(host: Host) -> list[tuple[str, ...]]:
    """The commands about one object, aimed at what the damage most likely broke."""
    cid = _container(host)
    image = _app_image(host)
    return [
        ("container", cid),
        ("where", cid, "/app/data/big.txt"),
        ("ls", cid, "/app"),
        ("cat", cid, "/etc/passwd"),
        ("diff", cid, "/app/data/big.txt"),
        ("efficiency", image),
        ("timeline", cid),
        ("where", image, "/app"),
    ]


@pytest.fixture(scope="module")
def pristine(captured_root: CapturedRoot) -> Host:
    return load_host(str(captured_root.path))


@pytest.mark.parametrize(("damage", "kinds"), CASES, ids=[c[0].__name__ for c in CASES])
def test_every_command_answers_on_a_damaged_root(
    captured_root: CapturedRoot,
    pristine: Host,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    damage: Damage,
    kinds: set[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    root = _copy(captured_root, tmp_path / "root")
    damage(root, pristine)
    base = ("--offline", "--root", str(root))

    run = run_inproc(capsysbinary, "--json", *base, "check")
    assert_answered(run, {1})
    report = run.json()
    check_json("check", report)
    found = {p["kind"] for p in report["problems"]}
    assert kinds <= found, f"expected {kinds}, found {found}: {report['problems']}"
    for p in report["problems"]:
        assert p["path"].startswith(str(root)), p

    for command in ROOT_COMMANDS:
        gate = {1} if command[0] == "check" else {0}
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, gate)
        check_json(command[0], run.json())
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, gate)
        if command[0] != "timeline":  # the bodyfile has its own escapes, tested elsewhere
            assert_no_raw_control(human.out, " ".join(command))
            assert_no_raw_control(human.err, " ".join(command))

    for command in _object_commands(pristine):
        run = run_inproc(capsysbinary, "--json", *base, *command)
        assert_answered(run, {0, 3})
        if run.code == 0:
            check_json(command[0], run.json())
        human = run_inproc(capsysbinary, *base, *command)
        assert_answered(human, {run.code})
        assert_no_raw_control(human.err, " ".join(command))
        if command[0] not in ("cat", "timeline"):  # cat's pipe gets the raw bytes by design
            assert_no_raw_control(human.out, " ".join(command))


def test_records_dirs_that_are_symlinks_are_never_read(
    captured_root: CapturedRoot, pristine: Host, tmp_path: Path
) -> None:
    """A config planted outside the root and reached through a symlinked record dir is not
    loaded: the container is not listed under the planted name."""
    root = _copy(captured_root, tmp_path / "root")
    container_dir_is_a_symlink(root, pristine)
    planted = root.parent / "planted" / "config.v2.json"
    config = json.loads(planted.read_bytes())
    config["Name"] = "/planted-through-a-symlink"
    planted.write_text(json.dumps(config))
    host = load_host(str(root))
    assert all(c.name != "planted-through-a-symlink" for c in host.containers.values())


@pytest.mark.parametrize("damage", [image_dir_is_a_symlink, imagedb_dir_is_a_symlink])
def test_records_beneath_a_symlinked_dir_are_never_read(
    captured_root: CapturedRoot, pristine: Host, tmp_path: Path, damage: Damage
) -> None:
    """image/ (or image/overlay2/imagedb) moved out of the root and symlinked back: the
    image configs beneath are not loaded, and the symlink is the problem reported."""
    root = _copy(captured_root, tmp_path / "root")
    damage(root, pristine)
    host = load_host(str(root))
    assert host.images == {}
    assert any(
        p.kind == "symlink-in-root" and p.path.startswith(str(root / "image"))
        for p in host.problems
    )


def test_a_state_of_the_wrong_type_is_not_taken_for_running(
    captured_root: CapturedRoot, pristine: Host, tmp_path: Path
) -> None:
    root = _copy(captured_root, tmp_path / "root")
    running_a_string(root, pristine)
    host = load_host(str(root))
    assert host.containers[_container(pristine)].state != "running"


@pytest.mark.parametrize(
    "damage", [layer_size_negative, layer_size_beyond_int64, layer_size_underscored]
)
def test_a_bad_layer_size_is_unknown_not_garbage(
    captured_root: CapturedRoot, pristine: Host, tmp_path: Path, damage: Damage
) -> None:
    root = _copy(captured_root, tmp_path / "root")
    damage(root, pristine)
    host = load_host(str(root))
    layer = host.images[_app_image(pristine)].layers[-1]
    assert layer.size is None
    assert host.images[_app_image(pristine)].size is None


def test_a_layer_dir_role_survives_damage(
    captured_root: CapturedRoot, pristine: Host, tmp_path: Path
) -> None:
    """Damage to one image's config leaves the other images and their layers as they were."""
    root = _copy(captured_root, tmp_path / "root")
    image_config_garbage(root, pristine)
    host = load_host(str(root))
    assert set(host.images) == set(pristine.images) - {_app_image(pristine)}
    for image in host.images.values():
        for layer_id in image.stack():
            assert host.layers[layer_id].role is Role.IMAGE


# --------------------------------------------------------------------------- orphans


@pytest.fixture(scope="module")
def pristine_reclaimable(pristine: Host) -> set[str]:
    """The layers `df` calls reclaimable on the undamaged root."""
    return {u.id for u in disk_usage(pristine, top=0).layers if u.reclaimable}


def _in_use(host: Host) -> set[str]:
    """Every dir an image or a container of the pristine root stands on."""
    used: set[str] = set()
    for c in host.containers.values():
        used.update(c.stack())
    for image in host.images.values():
        used.update(image.stack())
    return used


@pytest.mark.parametrize(
    "damage",
    [c[0] for c in CASES] + [c[0] for c in ROOT_DAMAGE],
    ids=[c[0].__name__ for c in CASES] + [c[0].__name__ for c in ROOT_DAMAGE],
)
def test_damage_never_makes_a_layer_in_use_an_orphan(
    captured_root: CapturedRoot,
    pristine: Host,
    pristine_reclaimable: set[str],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    damage: Damage,
) -> None:
    """Whatever record is damaged, no dir an image or container of the pristine root
    stands on is listed by `orphans`, or counted reclaimable by `df` when it was not."""
    root = _copy(captured_root, tmp_path / "root")
    damage(root, pristine)
    base = ("--json", "--offline", "--root", str(root))
    used = _in_use(pristine)
    run = run_inproc(capsysbinary, *base, "orphans")
    assert_answered(run, {0})
    assert not {o["id"] for o in run.json()} & used
    human = run_inproc(capsysbinary, *base[1:], "orphans")
    assert_answered(human, {0})
    removals = [line for line in human.text.splitlines() if "rm -rf" in line]
    assert not [line for line in removals if any(dir_id in line for dir_id in used)], removals
    run = run_inproc(capsysbinary, *base, "df")
    assert_answered(run, {0})
    before = {la.id for la in pristine.layers.values()}
    newly = {
        la["id"]
        for la in run.json()["layers"]
        if la["reclaimable"] and la["id"] in used and la["id"] in before
    }
    assert not newly - pristine_reclaimable
