"""containers / layers / images of a live private podman's store, against podman itself.

The session's scenario (tests/podman_fixtures.py), rootful and rootless, read by overlayscope
offline from its graph root while `web` runs; every expected value is what podman answers at
that moment (`inspect --size`, `images`, GraphDriver data) or what containers/storage wrote
(layers.json, images.json, containers.json). A second private podman, of this module's own,
holds what the scenario lacks: a container `podman init` left initialized, and one made on a
plain dir with `--rootfs`.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from tests.engine import busybox_rootfs_tar
from tests.podman.config import RUN_FLAGS
from tests.podman.engine import PrivatePodman
from tests.podman.images import oci_archive
from tests.podman_checks import (
    PodmanStore,
    change_set,
    check_containers,
    check_images,
    check_layers,
    layer_of,
    ours,
    private_podman,
)
from tests.podman_fixtures import APP, PodmanScenario, image_specs, podman_answers
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine

ENGINES = {
    "rootful": ("podman", "podman_scenario"),
    "rootless": ("podman_rootless", "podman_rootless_scenario"),
}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def live(request: pytest.FixtureRequest) -> PodmanStore:
    """The session's scenario, and podman's answers about its store now."""
    engine, scenario_fixture = ENGINES[request.param]
    scenario: PodmanScenario = request.getfixturevalue(scenario_fixture)
    pm: PrivatePodman = request.getfixturevalue(engine)
    return PodmanStore(pm.graph_root, podman_answers(pm), scenario.graph_root)


def test_containers_equal_podman_inspect(
    live: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = ours(capsys, live, "containers")
    check_containers(live, listed)
    states = {c["name"]: c["state"] for c in listed}
    assert states == {"web": "running", "stopped": "exited", "tool-exited": "exited",
                      "idle": "exited", "fresh": "created"}  # fmt: skip


def test_layers_equal_records_and_graph_driver_data(
    live: PodmanStore, capsys: pytest.CaptureFixture[str]
) -> None:
    check_layers(live, ours(capsys, live, "layers"))
    assert ours(capsys, live, "orphans") == []


def test_images_equal_podman_images(live: PodmanStore, capsys: pytest.CaptureFixture[str]) -> None:
    check_images(live, ours(capsys, live, "images"))


def test_check_finds_nothing_wrong(live: PodmanStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "--offline", "--root", str(live.root), "check")
    assert (code, report) == (0, {"ok": True, "store": "containers-storage", "problems": []})


@pytest.fixture(scope="module")
def initialized() -> Iterator[PrivatePodman]:
    """A private podman of this module's own: a container `podman init` left in libpod's
    "created in the runtime, not started" state, one only created, and one made with
    `--rootfs` (a plain dir instead of an image)."""
    with private_podman() as pm:
        pm.load(oci_archive(image_specs()[APP][1]), "app")
        pm.create(APP, name="inited")
        pm.podman("init", "inited")
        pm.create(APP, name="configured")
        rootfs = pm.scratch / "rootfs"
        rootfs.mkdir()
        with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
            tar.extractall(rootfs, filter="tar")
        pm.podman("create", *RUN_FLAGS, "--name=outside", "--rootfs", str(rootfs), "true")
        yield pm


def _answers(pm: PrivatePodman) -> PodmanStore:
    """podman's answers this module needs (podman 4.3's `system df -v`, which
    podman_answers() takes, fails on a --rootfs container: "slice bounds out of range")."""
    ids = [c["Id"] for c in pm.containers()]
    containers = [{"name": i["Name"], "inspect": i} for i in pm.inspect(*ids, kind="container")]
    answers = {"containers": containers, "store_records": pm.store_records()}
    return PodmanStore(pm.graph_root, answers, pm.graph_root)


def test_states_are_podmans_own_words(
    initialized: PrivatePodman, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _answers(initialized)
    listed = {c["name"]: c for c in ours(capsys, store, "containers")}
    assert set(listed) == {c["name"] for c in store.containers}
    for name, c in listed.items():
        ins = store.container(name)["inspect"]
        assert (c["id"], c["state"]) == (ins["Id"], ins["State"]["Status"])
    assert (listed["inited"]["state"], listed["configured"]["state"]) == ("initialized", "created")


def test_a_rootfs_container_has_a_layer_and_no_image(
    initialized: PrivatePodman, capsys: pytest.CaptureFixture[str]
) -> None:
    """`podman create --rootfs DIR`: containers/storage still gets a container, with no
    image, on a layer of its own with no parent; that is no damage."""
    store = _answers(initialized)
    ins = store.container("outside")["inspect"]
    assert ins["Rootfs"] and not ins["Image"]
    [upper] = store.graph_dirs(ins)  # no LowerDir
    listed = {c["name"]: c for c in ours(capsys, store, "containers")}
    assert (listed["outside"]["image"], listed["outside"]["layer"]) == ("", layer_of(upper))
    doc = ours(capsys, store, "container", "outside")
    assert doc["layers"] == [{"id": layer_of(upper), "role": "rw"}]
    assert change_set(doc["changes"]) == change_set(initialized.diff("outside")) == set()
    code, report = run_json(capsys, "--offline", "--root", str(store.root), "check")
    assert (code, report) == (0, {"ok": True, "store": "containers-storage", "problems": []})
