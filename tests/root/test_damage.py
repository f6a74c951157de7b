"""Damaged copies of a real engine's data root: every problem is reported, nothing crashes.

Each case copies the captured snapshot, damages one thing, and checks that `check`
names the problem (exit 1) while the inventory commands still answer (exit 0).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.root


def _copy(captured: CapturedRoot, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(captured.path), str(dest)], check=True)
    return dest


def _image_layer(host: Host, with_lower: bool = True) -> str:
    """An image layer dir that has layers beneath it (or a base layer)."""
    return next(
        layer.id
        for layer in sorted(host.layers.values(), key=lambda x: x.id)
        if layer.role is Role.IMAGE and bool(layer.lower) == with_lower
    )


def _container(host: Host) -> str:
    return next(c.id for c in sorted(host.containers.values(), key=lambda c: c.name) if c.layer)


def _write(path: Path, data: str | bytes) -> None:
    path.unlink()
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


Damage = Callable[[Path, Host], None]


def remove_diff(root: Path, host: Host) -> None:
    shutil.rmtree(root / "overlay2" / _image_layer(host) / "diff")


def remove_link_file(root: Path, host: Host) -> None:
    (root / "overlay2" / _image_layer(host) / "link").unlink()


def remove_short_link(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host, with_lower=False)]
    (root / "overlay2" / "l" / (layer.link or "")).unlink()


def short_link_not_a_symlink(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    _write(root / "overlay2" / "l" / (layer.link or ""), "not a link")


def short_link_escapes(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    link = root / "overlay2" / "l" / (layer.link or "")
    link.unlink()
    link.symlink_to("/etc")


def lower_names_missing_link(root: Path, host: Host) -> None:
    _write(root / "overlay2" / _image_layer(host) / "lower", "l/NOSUCHLINKNOSUCHLINKNOSUC")


def lower_names_itself(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    _write(
        root / "overlay2" / layer.id / "lower",
        f"l/{layer.link}:" + ":".join(f"l/{host.layers[i].link}" for i in layer.lower),
    )


def lower_hundreds_long(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    base = host.layers[layer.lower[-1]]
    _write(root / "overlay2" / layer.id / "lower", ":".join([f"l/{base.link}"] * 500))


def remove_layer_dir(root: Path, host: Host) -> None:
    shutil.rmtree(root / "overlay2" / _image_layer(host))


def wrong_diff_id(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    record = root / "image/overlay2/layerdb/sha256" / layer.chain_ids[0].removeprefix("sha256:")
    _write(record / "diff", "sha256:" + "ab" * 32)


def garbage_size(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host)]
    record = root / "image/overlay2/layerdb/sha256" / layer.chain_ids[0].removeprefix("sha256:")
    _write(record / "size", b"\xff\xfe twelve")


def truncated_container_config(root: Path, host: Host) -> None:
    path = root / "containers" / _container(host) / "config.v2.json"
    _write(path, path.read_bytes()[:100])


def container_config_wrong_types(root: Path, host: Host) -> None:
    _write(
        root / "containers" / _container(host) / "config.v2.json",
        '{"State": [], "Image": 7, "Name": null}',
    )


def truncated_repositories(root: Path, host: Host) -> None:
    path = root / "image/overlay2/repositories.json"
    _write(path, path.read_bytes()[:20])


def image_config_edited(root: Path, host: Host) -> None:
    image = next(iter(sorted(host.images)))
    path = root / "image/overlay2/imagedb/content/sha256" / image.removeprefix("sha256:")
    _write(path, path.read_bytes() + b" ")


def tag_to_missing_image(root: Path, host: Host) -> None:
    path = root / "image/overlay2/repositories.json"
    _write(path, '{"Repositories": {"ghost": {"ghost:1": "sha256:' + "cd" * 32 + '"}}}')


def remove_rw_dir(root: Path, host: Host) -> None:
    shutil.rmtree(root / "overlay2" / (host.containers[_container(host)].layer or ""))


def mount_parent_wrong(root: Path, host: Host) -> None:
    _write(
        root / "image/overlay2/layerdb/mounts" / _container(host) / "parent", "sha256:" + "ef" * 32
    )


def remove_container_config(root: Path, host: Host) -> None:
    shutil.rmtree(root / "containers" / _container(host))


def remove_mount_record(root: Path, host: Host) -> None:
    shutil.rmtree(root / "image/overlay2/layerdb/mounts" / _container(host))


def link_file_is_symlink(root: Path, host: Host) -> None:
    path = root / "overlay2" / _image_layer(host) / "link"
    path.unlink()
    path.symlink_to("/etc/hostname")


def layer_dir_is_symlink(root: Path, host: Host) -> None:
    layer = _image_layer(host)
    shutil.rmtree(root / "overlay2" / layer)
    (root / "overlay2" / layer).symlink_to("/")


def remove_base_layer_record(root: Path, host: Host) -> None:
    layer = host.layers[_image_layer(host, with_lower=False)]
    shutil.rmtree(
        root / "image/overlay2/layerdb/sha256" / layer.chain_ids[0].removeprefix("sha256:")
    )


def two_mounts_one_dir(root: Path, host: Host) -> None:
    a, b = sorted(c.id for c in host.containers.values() if c.layer)[:2]
    mounts = root / "image/overlay2/layerdb/mounts"
    _write(mounts / a / "mount-id", (mounts / b / "mount-id").read_text())


def huge_record(root: Path, host: Host) -> None:
    path = root / "containers" / _container(host) / "config.v2.json"
    path.unlink()
    with path.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: costs no disk


CASES: list[tuple[Damage, set[str]]] = [
    (remove_diff, {"missing-diff", "dangling-link"}),
    (remove_link_file, {"missing-link-file"}),
    (remove_short_link, {"link-mismatch", "lower-missing-link"}),
    (short_link_not_a_symlink, {"bad-link"}),
    (short_link_escapes, {"bad-link"}),
    (lower_names_missing_link, {"lower-missing-link", "lower-mismatch"}),
    (lower_names_itself, {"lower-cycle"}),
    (lower_hundreds_long, {"lower-too-long", "lower-cycle"}),
    (remove_layer_dir, {"missing-layer-dir"}),
    (wrong_diff_id, {"chain-id-mismatch"}),
    (garbage_size, {"bad-metadata"}),
    (truncated_container_config, {"bad-metadata"}),  # the container stays, name unknown
    (container_config_wrong_types, {"bad-metadata"}),
    (truncated_repositories, {"bad-metadata"}),
    (image_config_edited, {"image-digest-mismatch"}),
    (tag_to_missing_image, {"missing-image"}),
    (remove_rw_dir, {"mount-missing-dir"}),
    (mount_parent_wrong, {"mount-parent-mismatch"}),
    (remove_container_config, {"mount-without-container"}),
    (remove_mount_record, {"container-without-mount"}),
    (link_file_is_symlink, {"symlink-in-root"}),
    (layer_dir_is_symlink, {"symlink-in-root", "missing-layer-dir"}),
    (remove_base_layer_record, {"missing-parent", "missing-layer"}),
    (huge_record, {"bad-metadata"}),
    (two_mounts_one_dir, {"shared-layer-dir"}),
]


@pytest.mark.parametrize(("damage", "kinds"), CASES, ids=[c[0].__name__ for c in CASES])
def test_damage_is_reported_and_the_rest_loads(
    captured_root: CapturedRoot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Damage,
    kinds: set[str],
) -> None:
    pristine = load_host(str(captured_root.path))
    root = _copy(captured_root, tmp_path / "root")
    damage(root, pristine)
    code, report = run_json(capsys, "--offline", "--root", str(root), "check")
    found = {p["kind"] for p in report["problems"]}
    assert code == 1 and report["ok"] is False
    assert kinds <= found, f"expected {kinds}, found {found}"
    for p in report["problems"]:
        assert p["path"].startswith(str(root)), p
        assert p["detail"]
    for command in ("containers", "images", "layers", "orphans"):
        code, listing = run_json(capsys, "--offline", "--root", str(root), command)
        assert code == 0, command
        assert isinstance(listing, list)


def test_pristine_copy_is_clean(
    captured_root: CapturedRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(captured_root, tmp_path / "root")
    code, report = run_json(capsys, "--offline", "--root", str(root), "check")
    assert (code, report) == (0, {"ok": True, "store": "docker-overlay2", "problems": []})
    assert os.listdir(root / "overlay2")
