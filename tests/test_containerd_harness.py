"""The private containerd harness itself: its isolation, its cleanup, and the scenario's facts.

Every expectation is containerd's own answer (ctr, its gRPC API) or the kernel's (a real
overlay mount, xattrs on disk), checked against what the harness promises.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.containerd.availability import HOST_CONTAINERD_PATHS, containerd_unavailable_reason
from tests.containerd.config import (
    GC_ROOT_LABEL,
    K8S_NAMESPACE,
    MOBY_NAMESPACE,
    SNAPSHOTTER,
    containerd_config,
    dump_toml,
)
from tests.containerd.engine import PrivateContainerd
from tests.containerd.images import chain_ids, sha256_digest
from tests.containerd.mounts import ro_overlay_mount
from tests.containerd.protobuf import pb_bytes, pb_decode, pb_map, pb_string, pb_uint
from tests.containerd.scenario import CONTROL_CHAR_NAME, DEFAULT_NAMESPACE, ContainerdScenario
from tests.containerd.scenario_images import BASE
from tests.containerd_fixtures import CapturedContainerd
from tests.engine import _all_pids, _cmdline, mounts_under

# --------------------------------------------------------------------------- no engine needed


def test_toml_writer_round_trips() -> None:
    config = {
        "version": 2,
        "root": '/x y/"quoted"',
        "disabled_plugins": ["a", "b"],
        "plugins": {"io.containerd.gc.v1.scheduler": {"pause_threshold": 1e-9, "on": True}},
        "empty": {},
    }
    assert tomllib.loads(dump_toml(config)) == config


def test_protobuf_encoding_round_trips() -> None:
    msg = pb_string(1, "key") + pb_uint(2, 300) + pb_map(4, {"k": "v"}) + pb_bytes(5, b"\x00\xff")
    fields = pb_decode(msg)
    assert fields[1] == [b"key"]
    assert fields[2] == [300]
    assert pb_decode(fields[4][0]) == {1: [b"k"], 2: [b"v"]}  # type: ignore[arg-type]
    assert fields[5] == [b"\x00\xff"]
    assert pb_string(3, "") == b"" and pb_uint(3, 0) == b""  # proto3 leaves defaults out


def test_chain_ids_follow_the_oci_definition() -> None:
    d1, d2 = sha256_digest(b"one"), sha256_digest(b"two")
    assert chain_ids([d1]) == (d1,)
    assert chain_ids([d1, d2]) == (d1, sha256_digest(f"{d1} {d2}".encode()))


# --------------------------------------------------------------------------- isolation, cleanup


def _require_containerd() -> None:
    reason = containerd_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)


def _host_state() -> dict[str, Any]:
    """stat of the host's containerd paths, and the names in /run/containerd (if any)."""
    state: dict[str, Any] = {}
    for path in HOST_CONTAINERD_PATHS:
        try:
            st = path.lstat()
            state[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        except FileNotFoundError:
            state[str(path)] = None
    return state


def _our_traces(tmp_dir: Path) -> list[str]:
    """Processes, mounts and cgroups that still name a stopped containerd's temporary dir."""
    marker = str(tmp_dir)
    traces = [f"pid {p}" for p in _all_pids() if p != os.getpid() and marker in _cmdline(p)]
    traces += [f"mount {m.mount_point}" for m in mounts_under(tmp_dir)] if tmp_dir.exists() else []
    traces += [str(c) for c in Path("/sys/fs/cgroup").glob(f"*/{tmp_dir.name}")]
    return traces


@pytest.mark.engine
def test_config_moves_every_path_and_disables_cri(tmp_path: Path) -> None:
    _require_containerd()
    config = tomllib.loads(dump_toml(containerd_config(tmp_path)))
    paths = [
        config["root"],
        config["state"],
        config["temp"],
        config["grpc"]["address"],
        config["ttrpc"]["address"],
        config["plugins"]["io.containerd.internal.v1.opt"]["path"],
    ]
    assert all(Path(p).is_relative_to(tmp_path) for p in paths), paths
    assert config["debug"]["address"] == "" and config["metrics"]["address"] == ""
    assert "io.containerd.grpc.v1.cri" in config["disabled_plugins"]
    assert "io.containerd.grpc.v1.cri" not in config["plugins"]
    assert config["stream_processors"] == {}


@pytest.mark.engine
def test_starts_runs_and_stops_without_a_trace() -> None:
    """Start, run a task (shim, runc, mounts, cgroups), leave a mount of our own, stop twice."""
    _require_containerd()
    before = _host_state()
    cd = PrivateContainerd()
    with cd:
        assert cd.tmp_dir is not None
        tmp_dir = cd.tmp_dir
        plugins = cd.ctr("plugins", "ls")
        assert "io.containerd.grpc.v1.cri" not in plugins
        assert " error " not in plugins, plugins
        cd.import_spec(BASE, DEFAULT_NAMESPACE)
        cd.run_sleeping(DEFAULT_NAMESPACE, BASE.name, "harness-sleep")
        assert cd.tasks(DEFAULT_NAMESPACE) == {"harness-sleep": "RUNNING"}
        # containerd 1.6 puts shim sockets in /run/containerd/s whatever its config: its own
        # mount namespace sends them to our dir, which is how the host's stays untouched.
        assert list((cd.run_dir / "containerd" / "s").iterdir())
        assert os.readlink(f"/proc/{cd.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        mounts = cd.snapshot_mounts(DEFAULT_NAMESPACE, "harness-sleep")
        stray = cd.scratch / "stray-mount"
        stray.mkdir()
        with ro_overlay_mount(mounts[0].lowerdirs or (Path(mounts[0].source),)):
            pass
        # Left mounted for stop() to undo, as a test that failed mid-way would.
        subprocess.run(["mount", "--bind", str(cd.snapshots_dir), str(stray)], check=True)
    assert cd.tmp_dir is None
    assert not tmp_dir.exists()
    assert _our_traces(tmp_dir) == []
    cd.stop()  # idempotent
    assert _host_state() == before


@pytest.mark.engine
def test_a_failing_test_still_leaves_nothing() -> None:
    _require_containerd()
    with pytest.raises(RuntimeError, match="boom"), PrivateContainerd() as cd:
        assert cd.tmp_dir is not None
        tmp_dir = cd.tmp_dir
        cd.import_spec(BASE, DEFAULT_NAMESPACE)
        cd.run_sleeping(DEFAULT_NAMESPACE, BASE.name, "harness-doomed")
        raise RuntimeError("boom")
    assert not tmp_dir.exists()
    assert _our_traces(tmp_dir) == []


@pytest.mark.engine
def test_session_containerd_is_private(containerd: PrivateContainerd) -> None:
    assert containerd.tmp_dir is not None
    for path in (containerd.root, containerd.state, containerd.socket):
        assert path.is_relative_to(containerd.tmp_dir)
    assert (containerd.root / "io.containerd.metadata.v1.bolt" / "meta.db").is_file()
    assert containerd.socket.is_socket()
    for host in HOST_CONTAINERD_PATHS:
        assert str(host) not in containerd.config_path.read_text()
    assert "Server:" in containerd.ctr("version")


# --------------------------------------------------------------------------- the scenario


@pytest.mark.engine
def test_every_container_has_its_active_snapshot(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    sc = containerd_scenario
    for ns in sc.namespaces:
        snapshots = sc.answers["namespaces"][ns]["snapshots"]
        for image in sc.images[ns].values():
            for chain_id in image.chain_ids:
                assert snapshots[chain_id]["kind"] == "Committed", (ns, image.name)
        for c in (c for c in sc.containers.values() if c.namespace == ns):
            assert snapshots[c.id]["kind"] == "Active", c
            if c.has_record:
                info = sc.answers["namespaces"][ns]["containers"][c.id]
                assert info["Image"] == c.image
            else:
                assert c.id not in sc.answers["namespaces"][ns]["containers"]
        tasks = sc.answers["namespaces"][ns]["tasks"]
        running = {c.id for c in sc.containers.values() if c.namespace == ns and c.running}
        assert {t for t, s in tasks.items() if s == "RUNNING"} == running


@pytest.mark.engine
def test_docker29_snapshot_sequence_lease_and_records(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    sc = containerd_scenario
    answers = sc.answers["namespaces"][MOBY_NAMESPACE]
    for rec in sc.docker29.values():
        tree, snapshots = answers["tree"], answers["snapshots"]
        assert tree[rec.id] == rec.init_name
        assert tree[rec.init_name] == rec.image.chain_id
        assert snapshots[rec.init_name]["kind"] == "Committed"
        assert rec.init_key not in snapshots  # committed away
        parent = rec.image.chain_id
        for chain_id in reversed(rec.image.chain_ids[:-1]):
            assert tree[parent] == chain_id
            parent = chain_id
        [lease] = [le for le in answers["leases"] if le["id"] == rec.id]
        assert lease["labels"] == {}
        assert sorted(map(tuple, lease["resources"])) == [
            (f"snapshots/{SNAPSHOTTER}", rec.id),
            (f"snapshots/{SNAPSHOTTER}", rec.init_name),
        ]
        config = json.loads(
            (rec.docker_root / "containers" / rec.id / "config.v2.json").read_text()
        )
        assert config["Driver"] == SNAPSHOTTER
        assert config["Image"] == rec.image.manifest_digest == config["ImageManifest"]["digest"]
        assert config["State"]["Running"] is rec.running
        assert rec.rootfs.is_dir() is rec.running  # Docker removes the mount point on exit
    web, batch = sc.docker29["web"], sc.docker29["batch"]
    info = answers["containers"][web.id]
    assert info["SnapshotKey"] == "" and info["Snapshotter"] == ""  # Docker mounts it itself
    assert info["Spec"]["root"]["path"] == str(web.rootfs)
    assert info["Labels"]["com.docker/engine.bundle.path"].endswith(f"/containerd/{web.id}")
    assert batch.id not in answers["containers"]
    assert batch.exit_code == 2
    log = (batch.docker_root / "containers" / batch.id / f"{batch.id}-json.log").read_text()
    assert [json.loads(line)["log"] for line in log.splitlines()] == ["starting\n", "done\n"]


@pytest.mark.engine
def test_docker29_init_layer_holds_what_moby_writes(
    containerd_scenario: ContainerdScenario,
) -> None:
    diff = containerd_scenario.answers["diffs"][MOBY_NAMESPACE]
    web = containerd_scenario.docker29["web"]
    entries = {name: (kind, mode) for name, kind, _, mode in diff[web.init_name]}
    for path in (".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console"):
        assert entries[path] == ("file", 0o755), path
    for path in ("dev/pts", "dev/shm", "proc", "sys"):
        assert entries[path] == ("dir", 0o755), path
    assert entries["etc/mtab"][0] == "symlink"


@pytest.mark.engine
def test_k8s_pod_is_labeled_as_cri_does(containerd_scenario: ContainerdScenario) -> None:
    sc = containerd_scenario
    answers = sc.answers["namespaces"][K8S_NAMESPACE]
    pod = sc.pod
    sandbox = answers["containers"][pod.sandbox_id]["Labels"]
    assert sandbox["io.cri-containerd.kind"] == "sandbox"
    assert sandbox["io.kubernetes.pod.uid"] == pod.uid
    for name, cid in pod.container_ids.items():
        labels = answers["containers"][cid]["Labels"]
        assert labels["io.cri-containerd.kind"] == "container"
        assert labels["io.kubernetes.container.name"] == name
        assert labels["io.kubernetes.pod.name"] == pod.name
        assert labels["io.kubernetes.pod.namespace"] == pod.namespace
        assert answers["containers"][cid]["SnapshotKey"] == cid
    names = {i["name"]: i for i in answers["images"]}
    for image in sc.images[K8S_NAMESPACE].values():
        repo = image.name.rpartition(":")[0]
        for ref in (image.name, f"{repo}@{image.manifest_digest}", image.config_digest):
            assert names[ref]["labels"] == {"io.cri-containerd.image": "managed"}
            assert names[ref]["target"]["digest"] == image.manifest_digest


@pytest.mark.engine
def test_images_have_gzip_layers_empty_steps_and_a_shared_base(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    sc = containerd_scenario
    app = sc.image(DEFAULT_NAMESPACE, "docker.io/library/ovs-app:1")
    config = sc.answers["namespaces"][DEFAULT_NAMESPACE]["image_configs"][app.config_digest]
    history = config["history"]
    assert sum(1 for h in history if not h.get("empty_layer")) == len(app.diff_ids) == 4
    assert any(h.get("empty_layer") for h in history)
    content = {b["digest"]: b for b in sc.answers["namespaces"][DEFAULT_NAMESPACE]["content"]}
    layers = zip(app.layer_digests, app.layer_media_types, strict=True)
    gzip_layers = [digest for digest, media_type in layers if "gzip" in media_type]
    assert len(gzip_layers) == 1
    [gz] = gzip_layers
    assert content[gz]["labels"]["containerd.io/uncompressed"] == app.diff_ids[2] != gz
    for ns in sc.namespaces:
        for image in sc.images[ns].values():
            assert image.chain_ids[0] == sc.shared_base_chain_id
    tool = sc.image(DEFAULT_NAMESPACE, "docker.io/library/ovs-tool:1")
    assert tool.format == "docker" and app.format == "oci"


@pytest.mark.engine
def test_garbage_stays_until_collected(containerd_scenario: ContainerdScenario) -> None:
    sc = containerd_scenario
    answers = sc.answers["namespaces"][DEFAULT_NAMESPACE]
    assert sc.deleted_image.name not in {i["name"] for i in answers["images"]}
    content = {b["digest"]: b for b in answers["content"]}
    deleted = {sc.deleted_image.manifest_digest, sc.deleted_image.config_digest}
    deleted.add(sc.deleted_image.layer_digests[-1])
    assert deleted < sc.garbage_blobs
    assert sc.orphan_blob in sc.garbage_blobs and content[sc.orphan_blob]["labels"] == {}
    assert sc.garbage_blobs <= set(content)
    assert sc.garbage_snapshots == {sc.deleted_image.chain_id}
    orphan = answers["info"][sc.orphan_snapshot]
    assert orphan["Kind"] == "Active" and GC_ROOT_LABEL in orphan["Labels"]
    assert orphan["Parent"] == sc.shared_base_chain_id


@pytest.mark.engine
def test_upper_dirs_hold_real_whiteouts_opaque_dirs_and_names(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    mounts = containerd_scenario.answers["namespaces"][DEFAULT_NAMESPACE]["mounts"]

    def upper(key: str) -> Path:
        [m] = mounts[key]
        [opt] = [o for o in m["options"] if o.startswith("upperdir=")]
        return Path(opt.removeprefix("upperdir="))

    wh = upper("ctr-delete") / "app" / "conf" / "extra.conf"
    assert stat.S_ISCHR(wh.lstat().st_mode) and wh.lstat().st_rdev == 0
    opaque = upper("ctr-opaque") / "app" / "tmpdir"
    assert os.getxattr(opaque, "trusted.overlay.opaque") == b"y"
    assert (upper("ctr-add") / "app" / CONTROL_CHAR_NAME).is_file()
    chmod = upper("ctr-chmod") / "app" / "perm.txt"
    assert stat.S_IMODE(chmod.stat().st_mode) == 0o600 and chmod.read_text() == "perm\n"
    # ctr snapshots diff (the walking differ) never writes an opaque marker: a dir removed and
    # made again comes out as one whiteout per vanished lower entry.
    diff = containerd_scenario.answers["diffs"][DEFAULT_NAMESPACE]["ctr-opaque"]
    names = [e[0] for e in diff]
    assert "app/tmpdir/.wh.old.txt" in names
    assert not any(n.endswith(".wh..wh..opq") for n in names)


@pytest.mark.engine
def test_ro_overlay_mount_shows_the_kernels_merged_view(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    [m] = containerd.snapshot_mounts(DEFAULT_NAMESPACE, "ctr-add")
    with containerd.ro_overlay_mount(m.lowerdirs) as merged:
        target = merged
        assert not (merged / "app" / "data" / "doomed.txt").exists()  # whiteout in the image
        assert not (merged / "etc" / "group").exists()
        assert sorted(os.listdir(merged / "app" / "cache")) == ["new"]  # opaque in the image
        assert (merged / "app" / "lib" / "b.txt").read_text() == "shared\n"
        assert not (merged / "srv").exists()  # the container's own changes are not in it
        with pytest.raises(OSError):
            (merged / "new-file").write_text("x")
    assert not target.exists()
    assert all(m.mount_point != target for m in mounts_under(target.parent))


@pytest.mark.engine
def test_meta_db_has_branch_and_overflow_pages(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario
) -> None:
    db = (containerd.root / "io.containerd.metadata.v1.bolt" / "meta.db").read_bytes()
    page_size = struct.unpack_from("<I", db, 16 + 8)[0]  # meta page: magic, version, page size
    assert struct.unpack_from("<I", db, 16)[0] == 0xED0CDAED
    flags: dict[int, int] = {}
    overflow = 0
    for i in range(len(db) // page_size):
        pid, flag, _, ov = struct.unpack_from("<QHHI", db, i * page_size)
        if pid == i:  # a page in use begins with its own id
            flags[flag] = flags.get(flag, 0) + 1
            overflow += bool(ov and flag in (0x01, 0x02))
    assert flags.get(0x01, 0) >= 1, flags  # branch pages
    assert overflow >= 1, flags  # a container spec (with its seccomp profile) spans pages


@pytest.mark.engine
def test_answers_cover_every_namespace(containerd_scenario: ContainerdScenario) -> None:
    sc = containerd_scenario
    assert set(sc.answers["namespaces"]) == set(sc.namespaces)
    for ns in sc.namespaces:
        answers = sc.answers["namespaces"][ns]
        assert set(answers["usage"]) == set(answers["snapshots"]) == set(answers["info"])
        for key, (size, inodes) in answers["usage"].items():
            assert size >= 0 and inodes >= 1, key
        assert set(answers["mounts"]) == {
            k for k, v in answers["snapshots"].items() if v["kind"] == "Active"
        }
        keys = {c.id for c in sc.containers.values() if c.namespace == ns}
        assert keys <= set(sc.answers["diffs"][ns])


@pytest.mark.engine
def test_stray_processes_are_ours_only(containerd: PrivateContainerd) -> None:
    """Shims name our socket: stop() finds them by our dir, never by a broad name."""
    assert containerd.tmp_dir is not None
    shims = [p for p in _all_pids() if "containerd-shim" in _cmdline(p)]
    ours = [p for p in shims if str(containerd.tmp_dir) in _cmdline(p)]
    assert ours, "the scenario's running tasks have shims"


# --------------------------------------------------------------------------- the captured root


@pytest.mark.root
def test_captured_root_matches_its_answers(captured_containerd: CapturedContainerd) -> None:
    cap = captured_containerd
    assert (cap.root / "io.containerd.metadata.v1.bolt" / "meta.db").is_file()
    assert (cap.root / "io.containerd.snapshotter.v1.overlayfs" / "metadata.db").is_file()
    for ns, answers in cap.answers["namespaces"].items():
        for key, mounts in answers["mounts"].items():
            for m in mounts:
                for opt in m["options"]:
                    name, _, value = opt.partition("=")
                    if name in ("upperdir", "lowerdir", "workdir"):
                        for p in value.split(":"):
                            assert cap.here(p).is_dir(), (ns, key, p)
        for blob in answers["content"]:
            algo, _, hexdigest = blob["digest"].partition(":")
            path = cap.root / "io.containerd.content.v1.content" / "blobs" / algo / hexdigest
            assert path.stat().st_size == blob["size"], blob["digest"]
    for rec in cap.answers["scenario"]["docker29"].values():
        config = json.loads(
            (cap.docker_root / "containers" / rec["id"] / "config.v2.json").read_text()
        )
        assert config["State"]["Running"] is rec["running"]
        rootfs = cap.here(rec["rootfs"])
        assert rootfs.is_dir() is rec["running"]
        assert not rootfs.exists() or not any(rootfs.iterdir())  # a live mount point, empty
