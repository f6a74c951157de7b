"""A rootless store's id map: owners as the container sees them, as podman maps them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import IdMap, inside_id
from overlayscope.root.stores.containers_storage.idmap import rootless_maps
from overlayscope.scan import scan_tree
from overlayscope.tui.widgets.files.views import owner
from tests.engine import unpack_snapshot
from tests.podman_fixtures import PodmanScenario

MAPS = (IdMap(0, 1000, 1), IdMap(1, 100000, 65536))


@pytest.mark.parametrize(
    ("host_id", "inside"),
    [(1000, 0), (100000, 1), (100032, 33), (165535, 65536), (165536, None), (0, None), (999, None)],
)
def test_inside_id(host_id: int, inside: int | None) -> None:
    assert inside_id(MAPS, host_id) == inside


def test_no_map_is_the_identity() -> None:
    assert inside_id((), 1234) == 1234


def test_a_rootful_store_has_no_map(tmp_path: Path) -> None:
    os.chown(tmp_path, 0, 0)
    assert rootless_maps(str(tmp_path)) == ((), ())


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["ospm:200000:65536"], (IdMap(1, 200000, 65536),)),
        (["4242:200000:10", "ospm:300000:5"], (IdMap(1, 200000, 10), IdMap(11, 300000, 5))),
        (["other:200000:65536", "ospm:x:1", "ospm:5:0", "garbage"], ()),
    ],
)
def test_subordinate_ranges_are_mapped_from_one_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], expected: tuple[IdMap, ...]
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    os.chown(store, 4242, 4343)
    sub = tmp_path / "subuid"
    sub.write_text("\n".join(lines) + "\n")

    class _Pw:
        pw_name = "ospm"

    monkeypatch.setattr("pwd.getpwuid", lambda uid: _Pw())
    uids, gids = rootless_maps(str(store), str(sub), str(sub))
    assert uids == (IdMap(0, 4242, 1), *expected)
    assert gids == (IdMap(0, 4343, 1), *expected)


@pytest.mark.engine
def test_the_map_is_podmans(podman_rootless_scenario: PodmanScenario) -> None:
    """While the rootless user exists, the map read from the store's owner and the user's
    subordinate ranges is exactly the one podman reports (`podman info` idMappings)."""
    scenario = podman_rootless_scenario
    host = load_host(str(scenario.graph_root))
    mappings = scenario.answers["info"]["host"]["idMappings"]

    def podman(key: str) -> tuple[IdMap, ...]:
        return tuple(IdMap(m["container_id"], m["host_id"], m["size"]) for m in mappings[key])

    assert (host.uid_map, host.gid_map) == (podman("uidmap"), podman("gidmap"))
    # the container's root owns its files, as the container sees them
    web = host.containers[next(k for k, c in host.containers.items() if c.name == "web")]
    layer = host.layers[web.layer or ""]
    st = os.lstat(os.path.join(layer.content_dir, "app"))
    assert (inside_id(host.uid_map, st.st_uid), inside_id(host.gid_map, st.st_gid)) == (0, 0)


@pytest.mark.root
def test_a_copied_store_keeps_its_root_mapping(tmp_path: Path) -> None:
    """The captured store: its owner is the container's root (the subordinate ranges are
    this machine's, for a user of that uid if there is one: here, maybe the session's own
    rootless user)."""
    archive = Path(__file__).resolve().parents[2] / "fixtures/podman/rootless.tar.xz"
    root = unpack_snapshot(archive, tmp_path / "store")
    host = load_host(str(root))
    st = os.lstat(root)
    assert host.uid_map[0] == IdMap(0, st.st_uid, 1)
    assert host.gid_map[0] == IdMap(0, st.st_gid, 1)
    layer = next(la for la in host.layers.values() if la.role == "rw")
    entry = os.lstat(layer.content_dir)
    rootdir = scan_tree(layer.content_dir).get("/")
    assert rootdir is not None
    assert owner(rootdir, (host.uid_map, host.gid_map)) == (
        f"0:0 (host {entry.st_uid}:{entry.st_gid})"
    )
