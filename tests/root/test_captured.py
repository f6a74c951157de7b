"""The captured snapshot, read offline, agrees with what its engine answered at capture time."""

from __future__ import annotations

import os

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host, Role
from overlayscope.usage.images import image_sizes
from overlayscope.usage.sizes import measure_layers
from tests.engine import CapturedRoot

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def host(captured_root: CapturedRoot) -> Host:
    return load_host(str(captured_root.path))


def _dir_id(path: str) -> str:
    """overlay2/<id>/diff → <id>"""
    return os.path.basename(os.path.dirname(path))


def test_snapshot_has_no_problems(host: Host) -> None:
    assert host.problems == []


def test_containers_match_engine(host: Host, captured_root: CapturedRoot) -> None:
    answers = captured_root.answers["containers"]
    assert {c["id"] for c in answers} == set(host.containers)
    for answer in answers:
        c = host.containers[answer["id"]]
        assert c.name == answer["name"]
        assert c.state == answer["state"]
        assert c.image_id == answer["image"]
        data = answer["graph_driver"]["Data"]
        assert c.layer == _dir_id(data["UpperDir"])
        lower = [_dir_id(p) for p in data["LowerDir"].split(":")]
        assert c.stack()[1:] == lower
        assert c.init_layer == lower[0]


def test_container_sizes_equal_size_rw(host: Host, captured_root: CapturedRoot) -> None:
    sizes = measure_layers(host, [c.layer for c in host.containers.values() if c.layer])
    for answer in captured_root.answers["containers"]:
        assert sizes[host.containers[answer["id"]].layer or ""] == answer["size_rw"], answer["name"]


def test_images_match_engine(host: Host, captured_root: CapturedRoot) -> None:
    answers = captured_root.answers["images"]
    assert {i["id"] for i in answers} == set(host.images)
    for answer in answers:
        image = host.images[answer["id"]]
        assert image.size == answer["size"]
        assert sorted(image.tags) == sorted(answer["tags"])
        data = answer["graph_driver"]["Data"]
        expected = [_dir_id(data["UpperDir"])]
        if data.get("LowerDir"):
            expected += [_dir_id(p) for p in data["LowerDir"].split(":")]
        assert image.stack() == expected
        assert [layer.diff_id for layer in image.layers] == answer["rootfs_layers"]


def test_shared_and_unique_sizes_match_system_df(host: Host, captured_root: CapturedRoot) -> None:
    sizes = image_sizes(host)
    listed = captured_root.answers["system_df"]["Images"]
    assert listed, "system df listed no images"
    for answer in listed:
        s = sizes[answer["Id"]]
        assert s.size == answer["Size"]
        assert s.shared == answer["SharedSize"]
        assert s.unique == answer["Size"] - answer["SharedSize"]
    # The images `docker system df` leaves out are exactly the intermediate ones.
    left_out = set(host.images) - {a["Id"] for a in listed}
    assert left_out == {i.id for i in host.images.values() if i.intermediate}


def test_every_overlay_dir_has_the_role_the_engine_implies(
    host: Host, captured_root: CapturedRoot
) -> None:
    rw = {
        _dir_id(c["graph_driver"]["Data"]["UpperDir"]) for c in captured_root.answers["containers"]
    }
    image_dirs = set()
    for answer in captured_root.answers["images"]:
        data = answer["graph_driver"]["Data"]
        image_dirs.add(_dir_id(data["UpperDir"]))
        image_dirs.update(_dir_id(p) for p in data.get("LowerDir", "").split(":") if p)
    for layer in host.layers.values():
        if layer.id in rw:
            assert layer.role is Role.RW
        elif layer.id.removesuffix("-init") in rw:
            assert layer.role is Role.INIT
        else:
            assert layer.id in image_dirs
            assert layer.role is Role.IMAGE
    assert host.orphans == []
