"""What overlayscope must answer about a podman store, held to podman's own answers.

Shared by the tests on a live private podman (tests/root/test_podman_engine.py,
tests/union/test_podman_changes.py, tests/usage/test_podman_usage.py), where the answers are
`tests.podman_fixtures.podman_answers()` taken from the engine, and by the tests on the
captured stores (tests/root/test_podman_captured.py), where they are
fixtures/podman/answers-*.json. Every expected value is podman's (`inspect --size`, `diff`,
`images`, GraphDriver data, `system df`) or containers/storage's own records, and du's.
Merged views are held to the kernel's in tests/podman_views.py.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import ChangeRule, Host
from overlayscope.union.diff import changes
from overlayscope.union.host_stacks import build_stack
from tests.podman.availability import podman_unavailable_reason
from tests.podman.config import PodmanUnavailable
from tests.podman.engine import PrivatePodman
from tests.podman.oracles import human_size
from tests.root.cli_helpers import run_json

# libpod's `initInodes` (libpod/diff.go at v4.3.1): what `podman diff` leaves out, exactly
# these paths (not what is beneath them), for containers and images alike.
INIT_INODES = frozenset(
    {
        "/dev",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/proc",
        "/run",
        "/run/notify",
        "/run/.containerenv",
        "/run/secrets",
        "/run/podman-init",
        "/sys",
        "/etc/mtab",
    }
)
# libpod's ContainerStatus words (define/containerstate.go), as `podman inspect` prints them.
PODMAN_STATES = frozenset(
    {"unknown", "created", "initialized", "running", "stopped", "paused", "exited",
     "removing", "stopping"}
)  # fmt: skip
STORE = "containers-storage"


@dataclass(frozen=True)
class PodmanStore:
    """A podman graph root as it is here, and podman's answers about it."""

    root: Path  # the graph root to read (the live one, or an unpacked capture)
    answers: Mapping[str, Any]  # podman_answers(): inspect, diff, images, ps, df, records
    capture_root: Path  # the graph root's path when the answers were taken

    @property
    def rootless(self) -> bool:
        return bool(self.answers["info"]["host"]["security"]["rootless"])

    def here(self, path: str) -> Path:
        """A path from the answers, in `root`."""
        return self.root / Path(path).relative_to(self.capture_root)

    def records(self, name: str) -> list[dict[str, Any]]:
        """`overlay-layers/layers.json`, `overlay-images/images.json`, ... as podman left them."""
        found: list[dict[str, Any]] = self.answers["store_records"][name]
        return found

    @property
    def layer_records(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.records("overlay-layers/layers.json")}

    @property
    def image_records(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.records("overlay-images/images.json")}

    def parent_chain(self, top: str) -> list[str]:
        """Layer ids from `top` down the records' `parent`s, top → bottom."""
        layers = self.layer_records
        chain = [top]
        while parent := layers[chain[-1]].get("parent"):
            chain.append(parent)
        return chain

    @property
    def containers(self) -> list[dict[str, Any]]:
        """Per container: {name, inspect (with sizes), diff}."""
        found: list[dict[str, Any]] = self.answers["containers"]
        return found

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.containers if c["name"] == name)

    @property
    def images(self) -> list[dict[str, Any]]:
        """Per image: {id, inspect, diff} (`podman diff IMAGE`: top layer against its parent)."""
        found: list[dict[str, Any]] = self.answers["images"]
        return found

    def image(self, name: str) -> dict[str, Any]:
        return next(i for i in self.images if name in (i["inspect"]["RepoTags"] or []))

    def graph_dirs(self, inspect: Mapping[str, Any]) -> list[Path]:
        """An object's layer content dirs from its GraphDriver data, top → bottom, here."""
        data = inspect["GraphDriver"]["Data"]
        lower = [p for p in (data.get("LowerDir") or "").split(":") if p]
        return [self.here(p) for p in [data["UpperDir"], *lower]]

    def host(self) -> Host:
        return load_host(str(self.root))


def layer_of(content_dir: Path) -> str:
    """The layer id of `overlay/<id>/diff`."""
    return content_dir.parent.name


def ours(capsys: pytest.CaptureFixture[str], store: PodmanStore, *args: str) -> Any:
    """`overlayscope --offline --root GRAPHROOT --json ARGS…`, which must exit 0."""
    code, doc = run_json(capsys, "--offline", "--root", str(store.root), *args)
    assert code == 0, (args, doc)
    return doc


def change_set(changes_: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(c["kind"], c["path"]) for c in changes_}


@contextlib.contextmanager
def private_podman() -> Iterator[PrivatePodman]:
    """A started rootful private podman of a test module's own, stopped (and everything it
    made removed) at the end; skipped where none can run, failed instead under
    OVERLAYSCOPE_REQUIRE_ENGINE=1 (as the session's `podman` fixture)."""
    reason = podman_unavailable_reason()
    pm = PrivatePodman()
    try:
        if reason is not None:
            raise PodmanUnavailable(reason)
        pm.start()
    except PodmanUnavailable as e:
        if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
            pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {e}", pytrace=False)
        pytest.skip(str(e))
    try:
        yield pm
    finally:
        pm.stop()


# --------------------------------------------------------------------------- inventory


def check_containers(store: PodmanStore, listed: list[dict[str, Any]]) -> None:
    """`containers --json` against `podman inspect --size` and containers.json."""
    records = {r["id"]: r for r in store.records("overlay-containers/containers.json")}
    truth = {c["inspect"]["Id"]: c["inspect"] for c in store.containers}
    assert {c["id"] for c in listed} == set(truth) == set(records)
    for c in listed:
        ins = truth[c["id"]]
        assert c["name"] == ins["Name"], c
        assert c["state"] == ins["State"]["Status"], c
        assert c["image"] == "sha256:" + ins["Image"], c
        assert c["image_ref"] == ins["ImageName"], c
        assert c["layer"] == records[c["id"]]["layer"] == layer_of(store.graph_dirs(ins)[0])
        assert c["init_layer"] is None  # podman has none: its runtime files are in `layer`
        assert c["size"] == ins["SizeRw"], c["name"]
        assert c["store"] == STORE


def check_layers(store: PodmanStore, listed: list[dict[str, Any]]) -> None:
    """`layers --json` against layers.json, containers.json and GraphDriver data."""
    records = store.layer_records
    by_id = {layer["id"]: layer for layer in listed}
    assert set(by_id) == set(records), "every layers.json layer is a layer, and nothing else"
    rw = {c["layer"]: c["id"] for c in store.records("overlay-containers/containers.json")}
    users: dict[str, set[str]] = {}
    for image in store.image_records.values():
        for lid in store.parent_chain(image["layer"]):
            users.setdefault(lid, set()).add("sha256:" + image["id"])
    for lid, layer in by_id.items():
        chain = store.parent_chain(lid)[1:]
        assert layer["lower"] == chain, lid  # the records' parents, nearest first
        assert layer["role"] == ("rw" if lid in rw else "image"), lid
        assert layer["owners"] == ([rw[lid]] if lid in rw else sorted(users.get(lid, ()))), lid
        assert layer["store"] == STORE
        assert layer["path"] == str(store.root / "overlay" / lid / "diff")
        assert layer["link"] == (store.root / "overlay" / lid / "link").read_text()
        assert layer["problems"] == []
        if lid not in rw:
            assert layer["size"] == records[lid]["diff-size"], lid
    # GraphDriver data: UpperDir is the object's own layer, LowerDir the rest, in order.
    for c in store.containers:
        dirs = store.graph_dirs(c["inspect"])
        layer = by_id[layer_of(dirs[0])]
        assert layer["path"] == str(dirs[0])
        assert layer["role"] == "rw" and layer["owners"] == [c["inspect"]["Id"]]
        assert layer["size"] == c["inspect"]["SizeRw"], c["name"]
        assert layer["lower"] == [layer_of(d) for d in dirs[1:]], c["name"]
    for i in store.images:
        dirs = store.graph_dirs(i["inspect"])
        assert by_id[layer_of(dirs[0])]["lower"] == [layer_of(d) for d in dirs[1:]]


def check_images(store: PodmanStore, listed: list[dict[str, Any]]) -> None:
    """`images --json` against `podman images`, `image inspect` and images.json."""
    truth = {i["Id"]: i for i in store.answers["podman_images"]}
    inspected = {i["id"]: i["inspect"] for i in store.images}
    assert {i["id"] for i in listed} == {"sha256:" + i for i in truth}
    for image in listed:
        hexid = image["id"].removeprefix("sha256:")
        podman, ins = truth[hexid], inspected[hexid]
        assert image["tags"] == podman["Names"], image["id"]
        assert image["size"] == podman["Size"] == ins["Size"], image["tags"]
        chain = store.parent_chain(store.image_records[hexid]["layer"])
        assert [layer["id"] for layer in image["layers"]] == chain[::-1]
        assert [layer_of(d) for d in store.graph_dirs(ins)] == chain
        assert [layer["diff_id"] for layer in image["layers"]] == ins["RootFS"]["Layers"]
        layers = store.layer_records
        assert [layer["size"] for layer in image["layers"]] == [
            layers[lid]["diff-size"] for lid in chain[::-1]
        ]
        users = [c["inspect"]["Id"] for c in store.containers if c["inspect"]["Image"] == hexid]
        assert image["containers"] == sorted(users)
        assert len(users) == podman["Containers"]
        assert image["store"] == STORE
        assert image["intermediate"] is False
        assert image["dangling"] is (not podman["Names"])


def check_layer_sharing(store: PodmanStore, listed: list[dict[str, Any]]) -> None:
    """Shared and unique sizes by the rule overlayscope follows, computed from podman's own
    records: a layer is shared when more than one image holds it (Docker's, and Podman's
    since 5: go.podman.io/common/libimage/disk_usage.go); unique is the rest, big data
    included. Podman 4.3 (`system df -v`) counts "shared" by parent and child images instead
    (containers/common v0.50.1 libimage/disk_usage.go): where the two rules agree, our numbers
    equal the ones it printed."""
    layers, images = store.layer_records, store.image_records
    holders = Counter(lid for i in images.values() for lid in store.parent_chain(i["layer"]))
    rows = {
        f"{r['REPOSITORY']}:{r['TAG']}": r for r in store.answers["system_df_v"]["rows"]["Images"]
    }
    for image in listed:
        record = images[image["id"].removeprefix("sha256:")]
        chain = store.parent_chain(record["layer"])
        shared = sum(layers[lid]["diff-size"] for lid in chain if holders[lid] > 1)
        unique = sum(layers[lid]["diff-size"] for lid in chain if holders[lid] == 1)
        unique += sum(record["big-data-sizes"].values())
        assert (image["shared_size"], image["unique_size"]) == (shared, unique), image["tags"]
        assert image["shared_size"] + image["unique_size"] == image["size"]
        for tag in image["tags"]:
            row = rows[tag]
            assert row["SIZE"] == human_size(image["size"])
            # 4.3's rule: an image with a child image shares all, one with a parent image
            # shares the parent's size, any other shares nothing. It agrees with ours when
            # the image shares no layer with another image at all.
            if shared == 0:
                assert (row["SHARED SIZE"], row["UNIQUE SIZE"]) == (
                    human_size(image["shared_size"]),
                    human_size(image["unique_size"]),
                ), tag


# --------------------------------------------------------------------------- changes


def check_container_changes(store: PodmanStore, name: str, doc: Mapping[str, Any]) -> None:
    """`container REF --json` against `podman diff`: the same (kind, path) set once the
    runtime files are set apart, and those exactly libpod's initInodes in the layer."""
    answer = store.container(name)
    upper = store.graph_dirs(answer["inspect"])[0]
    assert doc["id"] == answer["inspect"]["Id"] and doc["name"] == name
    assert doc["layers"][0] == {"id": layer_of(upper), "role": "rw"}
    assert [layer["id"] for layer in doc["layers"]] == [
        layer_of(d) for d in store.graph_dirs(answer["inspect"])
    ]
    own = [c for c in doc["changes"] if not c["runtime"]]
    runtime = [c for c in doc["changes"] if c["runtime"]]
    assert change_set(own) == change_set(answer["diff"]), name
    assert not change_set(answer["diff"]) & {(c["kind"], c["path"]) for c in runtime}
    present = {p for p in INIT_INODES if os.path.lexists(upper / p.lstrip("/"))}
    assert {c["path"] for c in runtime} == present, name
    # The totals are the container's own changes: the runtime files are not in them.
    counts = Counter(c["kind"] for c in own)
    totals = doc["totals"]
    assert (totals["added"], totals["changed"], totals["deleted"]) == (
        counts["A"],
        counts["C"],
        counts["D"],
    )
    assert totals["added_bytes"] == sum(
        c["size"] for c in own if c["kind"] == "A" and c["entry"] not in ("dir", "opaque-dir")
    )


def image_changes(host: Host, image_id: str) -> set[tuple[str, str]]:
    """The image screen's changes of an image's top layer over the layers beneath it."""
    stack = build_stack(host, host.images[image_id])
    return {(c.kind.value, c.path) for c in changes(stack, rule=ChangeRule.UPPER)}


def check_image_changes(store: PodmanStore, host: Host) -> None:
    """`podman diff IMAGE` (the top layer against its parent) against the image screen's
    changes of the top layer. (podman leaves initInodes out of image diffs too; no layer
    of the scenario holds one, so the two lists are compared whole.)"""
    for answer in store.images:
        ours_ = image_changes(host, "sha256:" + answer["id"])
        assert ours_ == change_set(answer["diff"]), answer["id"]


# --------------------------------------------------------------------------- disk usage


def du_allocated(path: Path) -> int:
    """`du -sx --block-size=1 PATH`: allocated bytes, each inode once, no mount crossed."""
    out = subprocess.run(
        ["du", "-sx", "--block-size=1", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return int(out.split()[0])


def check_df(store: PodmanStore, doc: Mapping[str, Any]) -> None:
    """`df --json` against du, podman's sizes and summary, and the k8s-file logs."""
    assert doc["total"]["allocated"] == du_allocated(store.root)
    by_name = {c["name"]: c for c in doc["containers"]}
    assert set(by_name) == {c["name"] for c in store.containers}
    logs_apparent = 0
    with_logs = 0
    for answer in store.containers:
        ins, c = answer["inspect"], by_name[answer["name"]]
        assert c["size"] == ins["SizeRw"], c["name"]
        assert c["state"] == ins["State"]["Status"]
        assert c["active"] is (ins["State"]["Status"] == "running")
        assert c["writable"]["allocated"] == du_allocated(
            store.here(ins["GraphDriver"]["Data"]["UpperDir"]).parent
        )
        log_config = ins["HostConfig"]["LogConfig"]
        assert log_config["Type"] == "k8s-file"
        log = store.here(log_config["Path"])  # userdata/ctr.log, in the graph root
        if os.path.lexists(log):
            size = os.lstat(log).st_size
            assert c["logs"]["apparent"] == size, c["name"]
            logs_apparent += size
            with_logs += 1
        else:
            assert c["logs"] == {"apparent": 0, "allocated": 0}, c["name"]
    categories = {c["name"]: c for c in doc["categories"]}
    assert categories["container_logs"]["count"] == with_logs
    assert categories["container_logs"]["apparent"] == logs_apparent
    assert categories["orphans"]["count"] == 0
    # podman's summary (raw bytes): every container's SizeRw, and those not running.
    summary = {row["Type"]: row for row in store.answers["system_df"]}
    assert sum(c["size"] for c in doc["containers"]) == summary["Containers"]["Size"]
    assert (
        sum(c["size"] for c in doc["containers"] if not c["active"])
        == summary["Containers"]["Reclaimable"]
    )
    assert sum(1 for c in doc["containers"] if c["active"]) == summary["Containers"]["Active"]
    # Docker's LayersSize: each image layer once, at its recorded size.
    layers = store.layer_records
    image_layers = {
        lid for i in store.image_records.values() for lid in store.parent_chain(i["layer"])
    }
    assert doc["layers_size"] == sum(layers[lid]["diff-size"] for lid in image_layers)
    # An image layer is reclaimable when no container stands on it; a container's layer
    # when it does not run (`podman container prune`).
    used = {
        lid for c in store.containers for lid in map(layer_of, store.graph_dirs(c["inspect"])[1:])
    }
    running = {
        layer_of(store.graph_dirs(c["inspect"])[0])
        for c in store.containers
        if c["inspect"]["State"]["Status"] == "running"
    }
    for layer in doc["layers"]:
        if layer["role"] == "image":
            assert layer["reclaimable"] is (layer["id"] not in used), layer["id"]
        else:
            assert layer["role"] == "rw"
            assert layer["reclaimable"] is (layer["id"] not in running), layer["id"]
    check_layer_sharing(store, doc["images"])
