"""The podman test harness itself: the private podman, its cleanup, the scenario, the archives.

Every expected value about the store is podman's own answer, checked against what lies on disk;
the facts recorded in fixtures/podman/README.md are asserted here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.engine import mounts_under, read_mounts
from tests.podman.availability import (
    HOST_PODMAN_PATHS,
    host_podman_state,
    podman_unavailable_reason,
    rootless_unavailable_reason,
)
from tests.podman.config import PodmanUnavailable
from tests.podman.engine import PrivatePodman
from tests.podman.images import (
    Dir,
    File,
    HardLink,
    ImageSpec,
    Layer,
    Opaque,
    Symlink,
    Whiteout,
    docker_archive,
    layer_tar,
    oci_archive,
)
from tests.podman.oracles import human_size, parse_diff, parse_system_df_v
from tests.podman.rootless import SHADOW_BACKUPS
from tests.podman_fixtures import (
    APP,
    BASE,
    IMPORTED,
    RUNTIME_ENTRIES,
    TOOL,
    PodmanScenario,
    base_layer,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "podman"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


def directory_size(root: Path) -> int:
    """containers/storage's directory.Size: lstat sizes of non-directories, each inode once."""
    seen: set[int] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            if not stat.S_ISDIR(st.st_mode):
                total += st.st_size
    return total


def _xattr(path: Path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _is_whiteout(path: Path) -> bool:
    st = path.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _prefix(scenario: PodmanScenario) -> str:
    return "user.overlay." if scenario.rootless else "trusted.overlay."


def _answer(scenario: PodmanScenario, name: str) -> dict[str, Any]:
    return next(c for c in scenario.answers["containers"] if c["name"] == name)


def _records(scenario: PodmanScenario) -> dict[str, Any]:
    return dict(scenario.answers["store_records"])


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('{"changed": ["/etc"], "added": ["/a"], "deleted": ["/b"]}', ["C /etc", "A /a", "D /b"]),
        ('{"added": ["/z", "/a"]}', ["A /a", "A /z"]),
        ("C /etc\nA /new.txt\nD /root\n", ["C /etc", "A /new.txt", "D /root"]),
        ("", []),
    ],
)
def test_parse_diff(output: str, expected: list[str]) -> None:
    got = [f"{c['kind']} {c['path']}" for c in parse_diff(output)]
    assert got == sorted(expected, key=lambda s: (s[2:], s[0]))


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (12, "12B"), (999, "999B"), (10740, "10.74kB"), (2131135, "2.131MB")],
)
def test_human_size_renders_like_podman(size: int, text: str) -> None:
    assert human_size(size) == text


def test_parse_system_df_v_reads_every_section() -> None:
    text = (
        "Images space usage:\n\n"
        "REPOSITORY            TAG         IMAGE ID      CREATED     SIZE        SHARED SIZE"
        "  UNIQUE SIZE  CONTAINERS\n"
        "localhost/scope/base  1           433bb8a1c7e8  26 years    2.131MB     2.131MB"
        "      0B           0\n\n"
        "Containers space usage:\n\n"
        "CONTAINER ID  IMAGE         COMMAND     LOCAL VOLUMES  SIZE        CREATED     STATUS"
        "      NAMES\n"
        "d8172f3bd889  8624d10ab30a  sleep 1000  0              1.982MB     15 seconds  running"
        "     web\n\n"
        "Local Volumes space usage:\n\nVOLUME NAME  LINKS       SIZE\n"
    )
    rows = parse_system_df_v(text)
    assert rows["Images"] == [
        {
            "REPOSITORY": "localhost/scope/base",
            "TAG": "1",
            "IMAGE ID": "433bb8a1c7e8",
            "CREATED": "26 years",
            "SIZE": "2.131MB",
            "SHARED SIZE": "2.131MB",
            "UNIQUE SIZE": "0B",
            "CONTAINERS": "0",
        }
    ]
    assert rows["Containers"][0]["COMMAND"] == "sleep 1000"
    assert rows["Containers"][0]["NAMES"] == "web"
    assert rows["Volumes"] == []


def test_layer_tar_encodes_whiteouts_opaque_dirs_and_links() -> None:
    data = layer_tar(
        [
            Dir("a"),
            File("a/f", b"x", 0o600),
            HardLink("a/g", "a/f"),
            Symlink("a/s", "../f"),
            Whiteout("a/gone"),
            Opaque("a"),
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["a", "a/f", "a/g", "a/s", "a/.wh.gone", "a/.wh..wh..opq"]
    assert members["a/f"].mode == 0o600
    assert members["a/g"].islnk() and members["a/g"].linkname == "a/f"
    assert members["a/s"].issym() and members["a/s"].linkname == "../f"


def test_archives_reference_their_layers_by_digest() -> None:
    gz = Layer.of(Dir("x"), File("x/y", b"y"), gzip=True, created_by="gz")
    spec = ImageSpec("localhost/t/a:1", (Layer.of(Dir("b")), gz))
    with tarfile.open(fileobj=io.BytesIO(oci_archive(spec))) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        [desc] = index["manifests"]
        assert desc["annotations"]["org.opencontainers.image.ref.name"] == spec.name
        blob = tar.extractfile(f"blobs/sha256/{desc['digest'][7:]}")
        manifest = json.loads(blob.read())  # type: ignore[union-attr]
        assert manifest["config"]["digest"] == spec.config_digest
        assert [layer["mediaType"].endswith("+gzip") for layer in manifest["layers"]] == [
            False,
            True,
        ]
        gz_blob = tar.extractfile(f"blobs/sha256/{manifest['layers'][1]['digest'][7:]}")
        assert gz_blob is not None and gz_blob.read()[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(docker_archive(spec))) as tar:
        [entry] = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert entry["RepoTags"] == [spec.name]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in spec.layers]
        assert [h["created_by"] for h in config["history"]] == ["layer 0", "gz"]


# --------------------------------------------------------------------------- rootful engine


def test_podman_info_shows_only_private_paths(podman: PrivatePodman) -> None:
    assert podman.tmp_dir is not None
    info = podman.info()
    store, host = info["store"], info["host"]
    for key in ("graphRoot", "runRoot", "volumePath", "imageCopyTmpDir", "configFile"):
        assert Path(store[key]).is_relative_to(podman.tmp_dir), key
    assert store["graphRoot"] == str(podman.graph_root)
    assert store["runRoot"] == str(podman.run_root)
    assert store["graphDriverName"] == "overlay"
    assert host["cgroupManager"] == "cgroupfs"
    assert host["eventLogger"] == "file"
    assert host["networkBackend"] == "cni"
    assert host["ociRuntime"]["name"] == "runc"
    assert host["security"]["rootless"] is False
    assert info["registries"].get("search") in (None, [])
    for var in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"):
        assert Path(podman.env[var]).is_relative_to(podman.config_dir)
    assert not any(k.startswith(("DOCKER_", "CONTAINER_HOST")) for k in podman.env)


def test_podman_never_touches_host_paths(
    podman_scenario: PodmanScenario,
    podman: PrivatePodman,
    host_podman_state_before: dict[str, tuple[int, int, int] | None],
) -> None:
    assert podman.tmp_dir is not None
    assert host_podman_state() == host_podman_state_before
    # Every mount podman made (the graph root's own bind mount, the running container's
    # rootfs and shm) lies in our directory; nothing under the host's store.
    ours = [m for m in read_mounts() if str(podman.tmp_dir) in m.source + str(m.mount_point)]
    assert any(m.fstype == "overlay" for m in ours)
    assert all(m.mount_point.is_relative_to(podman.tmp_dir) for m in ours)
    assert not any(
        m.mount_point.is_relative_to(p) for m in read_mounts() for p in HOST_PODMAN_PATHS
    )
    # load/import did want to write the root-only blob cache: it landed in our /var/lib overlay.
    assert (podman.varlib_upper / "containers/cache/blob-info-cache-v1.boltdb").is_file()
    assert sorted(p.name for p in podman.varlib_upper.iterdir()) == ["containers"]


def test_scenario_diff_lists_what_each_container_did(podman_scenario: PodmanScenario) -> None:
    for name, c in podman_scenario.containers.items():
        missing = set(c.plan.expected) - set(c.diff)
        assert not missing, f"{name}: podman diff lacks {sorted(missing)}; it said {c.diff}"
        assert [list(x) for x in c.diff] == [
            [d["kind"], d["path"]] for d in _answer(podman_scenario, name)["diff"]
        ]
        state = _answer(podman_scenario, name)["inspect"]["State"]
        assert (state["Status"], state["ExitCode"]) == (c.plan.state, c.plan.exit_code), name
    # A container that did nothing still shows the /etc podman copied up for its mount points.
    assert podman_scenario.containers["idle"].diff == (("C", "/etc"),)
    assert podman_scenario.containers["fresh"].diff == ()


def test_runtime_files_are_in_the_layer_and_hidden_by_podman_diff(
    podman_scenario: PodmanScenario,
) -> None:
    for name, c in podman_scenario.containers.items():
        present = [e for e in RUNTIME_ENTRIES if os.path.lexists(c.upper_dir / e)]
        if c.plan.state == "created":
            assert list(c.upper_dir.iterdir()) == [], name
            continue
        assert present == list(RUNTIME_ENTRIES), name
        for entry in ("etc/hosts", "etc/hostname", "run/.containerenv"):
            st = (c.upper_dir / entry).lstat()
            assert stat.S_ISREG(st.st_mode) and st.st_size == 0, (name, entry)
        assert os.readlink(c.upper_dir / "etc/mtab") == "/proc/mounts"
        assert not os.path.lexists(c.upper_dir / "etc/resolv.conf")  # --network none
        listed = {path for _, path in c.diff}
        assert not listed & {"/" + e for e in RUNTIME_ENTRIES}, name


def test_store_layout_matches_the_records(podman_scenario: PodmanScenario) -> None:
    overlay = podman_scenario.graph_root / "overlay"
    layers = {
        layer["id"]: layer for layer in _records(podman_scenario)["overlay-layers/layers.json"]
    }
    links = {p.name: os.readlink(p) for p in (overlay / "l").iterdir()}
    assert set(layers) == {p.name for p in overlay.iterdir() if p.name != "l" and p.is_dir()}
    for lid, layer in layers.items():
        d = overlay / lid
        short = (d / "link").read_text()
        assert len(short) == 26 and links[short] == f"../{lid}/diff"
        assert (d / "diff").is_dir() and (d / "work").is_dir()
        if layer.get("parent"):
            chain, parent = [], layer["parent"]
            while parent:
                chain.append("l/" + (overlay / parent / "link").read_text())
                parent = layers[parent].get("parent")
            assert (d / "lower").read_text() == ":".join(chain)
            assert not (d / "empty").exists()
        else:
            assert not (d / "lower").exists() and (d / "empty").is_dir()
    # merged/ is made with every layer and removed when a container's layer is unmounted.
    for name, c in podman_scenario.containers.items():
        assert (overlay / c.layer_id / "merged").is_dir() == (c.plan.state != "exited"), name
    for image in podman_scenario.images.values():
        assert all((overlay / lid / "merged").is_dir() for lid in image.layer_ids)
    web = podman_scenario.containers["web"]
    assert web.upper_dir == overlay / web.layer_id / "diff"
    mounted = json.loads(
        podman_scenario.answers["run_root_files"]["overlay-layers/mountpoints.json"]
    )
    assert [(m["id"], m["path"], m["count"]) for m in mounted] == [
        (web.layer_id, str(overlay / web.layer_id / "merged"), 1)
    ]


def test_layer_ids_chain_diff_ids(podman_scenario: PodmanScenario) -> None:
    layers = {
        layer["id"]: layer for layer in _records(podman_scenario)["overlay-layers/layers.json"]
    }
    for image in podman_scenario.images.values():
        parent = ""
        for lid, diff_id in zip(image.layer_ids, image.diff_ids, strict=True):
            hexid = diff_id.removeprefix("sha256:")
            want = hashlib.sha256(f"{parent}+{hexid}".encode()).hexdigest() if parent else hexid
            assert lid == want, image.name
            assert layers[lid]["diff-digest"] == diff_id
            parent = lid
    assert podman_scenario.base_layer_id == base_layer().diff_id.removeprefix("sha256:")
    shared = {n: i.layer_ids[0] for n, i in podman_scenario.images.items() if n != IMPORTED}
    assert set(shared.values()) == {podman_scenario.base_layer_id}


def test_gzip_layers_are_recorded_by_source(podman_scenario: PodmanScenario) -> None:
    layers = {
        layer["id"]: layer for layer in _records(podman_scenario)["overlay-layers/layers.json"]
    }
    app, tool = podman_scenario.images[APP], podman_scenario.images[TOOL]
    # OCI archive, gzip blob: the compressed digest is the blob's, compression 2 (gzip).
    oci_gz = layers[app.layer_ids[1]]
    assert app.gzip[1] and oci_gz["compressed-diff-digest"] != oci_gz["diff-digest"]
    assert oci_gz["compression"] == 2 and oci_gz["compressed-size"] < oci_gz["diff-size"]
    # Docker archive, gzip file: decompressed by the source, recorded as if never compressed.
    docker_gz = layers[tool.layer_ids[1]]
    assert tool.gzip[1] and docker_gz["compressed-diff-digest"] == docker_gz["diff-digest"]
    assert "compression" not in docker_gz
    for lid in (app.layer_ids[2], podman_scenario.base_layer_id):
        assert layers[lid]["compressed-diff-digest"] == layers[lid]["diff-digest"]
    containers = {
        c["layer"] for c in _records(podman_scenario)["overlay-containers/containers.json"]
    }
    assert all("diff-digest" not in layers[lid] for lid in containers)


def test_image_layer_has_whiteout_and_opaque_dir(podman_scenario: PodmanScenario) -> None:
    top = podman_scenario.images[APP].upper_dir
    assert _is_whiteout(top / "app/data/doomed.txt")
    assert _xattr(top / "app/cache", _prefix(podman_scenario) + "opaque") == b"y"
    assert (top / "app/cache/new/entry.txt").read_bytes() == b"fresh\n"
    # podman diff of an image (against its parent layer) shows the opaque dir as D + A.
    [image] = [
        i for i in podman_scenario.answers["images"] if i["id"] == podman_scenario.images[APP].id
    ]
    assert {"kind": "D", "path": "/app/cache"} in image["diff"]
    assert {"kind": "A", "path": "/app/cache/new/entry.txt"} in image["diff"]
    assert {"kind": "D", "path": "/app/data/doomed.txt"} in image["diff"]


def test_container_layer_has_whiteouts_opaque_dir_and_copy_ups(
    podman_scenario: PodmanScenario,
) -> None:
    upper, prefix = podman_scenario.containers["web"].upper_dir, _prefix(podman_scenario)
    assert _is_whiteout(upper / "app/conf/extra.conf")
    assert _is_whiteout(upper / "app/logs")
    assert _xattr(upper / "app/tmpdir", prefix + "opaque") == b"y"
    link, target = (upper / "app/bin/tool-link").stat(), (upper / "app/bin/tool.sh").stat()
    assert link.st_ino == target.st_ino and link.st_nlink == 2  # the copy-up, linked again
    assert _xattr(upper / "app/perm.txt", prefix + "origin") is not None
    assert stat.S_IMODE((upper / "app/perm.txt").stat().st_mode) == 0o600


def test_sizes_follow_the_layer_dirs(podman_scenario: PodmanScenario) -> None:
    overlay = podman_scenario.graph_root / "overlay"
    records = _records(podman_scenario)
    layers = {layer["id"]: layer for layer in records["overlay-layers/layers.json"]}
    images = {i["id"]: i for i in records["overlay-images/images.json"]}
    df = podman_scenario.answers["system_df_v"]["rows"]
    for name, c in podman_scenario.containers.items():
        ins = _answer(podman_scenario, name)["inspect"]
        image = next(i for i in podman_scenario.images.values() if i.id == ins["Image"])
        # SizeRw: the container layer's diff/ as containers/storage measures a directory.
        assert ins["SizeRw"] == directory_size(c.upper_dir), name
        # SizeRootFs: the image's layers only, each diff/ measured the same way.
        rootfs = sum(directory_size(overlay / lid / "diff") for lid in image.layer_ids)
        assert ins["SizeRootFs"] == rootfs, name
        [row] = [r for r in df["Containers"] if r["NAMES"] == name]
        assert row["SIZE"] == human_size(ins["SizeRw"])
    for name, image in podman_scenario.images.items():
        stored = images[image.id]
        size = sum(layers[lid]["diff-size"] for lid in image.layer_ids)
        size += sum(stored["big-data-sizes"].values())
        [listed] = [i for i in podman_scenario.answers["podman_images"] if i["Id"] == image.id]
        assert listed["Size"] == size, name
        repo, tag = name.rsplit(":", 1)
        [row] = [r for r in df["Images"] if (r["REPOSITORY"], r["TAG"]) == (repo, tag)]
        assert row["SIZE"] == human_size(size)
    # Shared size counts a parent *image* (base under tool), not layers shared by siblings.
    rows = {r["REPOSITORY"]: r for r in df["Images"]}
    base_size = human_size(
        next(
            i["Size"]
            for i in podman_scenario.answers["podman_images"]
            if i["Id"] == podman_scenario.images[BASE].id
        )
    )
    assert rows["localhost/scope/base"]["SHARED SIZE"] == base_size
    assert rows["localhost/scope/base"]["UNIQUE SIZE"] == "0B"
    assert rows["localhost/scope/tool"]["SHARED SIZE"] == base_size
    assert rows["localhost/scope/app"]["SHARED SIZE"] == "0B"


def test_system_df_summary_sums_without_sharing(podman_scenario: PodmanScenario) -> None:
    answers = podman_scenario.answers
    summary = {row["Type"]: row for row in answers["system_df"]}
    images, containers = answers["podman_images"], [c["inspect"] for c in answers["containers"]]
    # Images: a layer shared by several images is counted once per image.
    assert summary["Images"]["Total"] == len(images) == 4
    assert summary["Images"]["Size"] == sum(i["Size"] for i in images)
    assert summary["Images"]["Active"] == sum(1 for i in images if i["Containers"])
    assert summary["Images"]["Reclaimable"] == sum(i["Size"] for i in images if not i["Containers"])
    running = [c for c in containers if c["State"]["Status"] == "running"]
    assert summary["Containers"]["Total"] == len(containers)
    assert summary["Containers"]["Active"] == len(running) == 1
    assert summary["Containers"]["Size"] == sum(c["SizeRw"] for c in containers)
    assert summary["Containers"]["Reclaimable"] == sum(
        c["SizeRw"] for c in containers if c not in running
    )


@pytest.mark.engine
def test_stop_kills_processes_unmounts_and_removes_its_dir(
    host_podman_state_before: dict[str, tuple[int, int, int] | None],
) -> None:
    reason = podman_unavailable_reason()
    if reason is not None:
        _skip_or_fail(reason)
    # A second engine of its own, so stopping it does not disturb the session's.
    with PrivatePodman() as pm:
        pm.load(docker_archive(ImageSpec("localhost/harness/base:1", (base_layer(),))))
        pm.run("localhost/harness/base:1", ["sleep", "3600"], name="running")
        pm.run("localhost/harness/base:1", ["true"], name="exited", detach=False)
        tmp_dir = pm.tmp_dir
        assert tmp_dir is not None
        assert any(m.fstype == "overlay" for m in mounts_under(tmp_dir))
        pids = pm.processes()
        assert pids  # conmon and the container's sleep
    assert all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in pids)
    assert mounts_under(tmp_dir) == []
    assert not tmp_dir.exists()
    left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, str(tmp_dir))]
    assert left == []
    assert host_podman_state() == host_podman_state_before
    pm.stop()  # idempotent


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _cmdline_has(pid: str, needle: str) -> bool:
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --------------------------------------------------------------------------- rootless engine


def test_rootless_store_uses_user_xattrs_and_mapped_owners(
    podman_rootless_scenario: PodmanScenario,
) -> None:
    sc = podman_rootless_scenario
    assert sc.rootless and sc.user is not None
    info = sc.answers["info"]
    assert info["host"]["security"]["rootless"] is True
    assert info["store"]["graphOptions"] == {}  # no mount_program: kernel overlay, userxattr
    assert sc.overlay_encoding["xattr_prefixes"] == ["user.overlay."]
    assert sc.overlay_encoding["char_device_whiteouts"] > 0 and sc.overlay_encoding["wh_files"] == 0
    uidmap = info["host"]["idMappings"]["uidmap"]
    assert uidmap == [
        {"container_id": 0, "host_id": sc.user.uid, "size": 1},
        {"container_id": 1, "host_id": sc.user.subuid_start, "size": sc.user.count},
    ]
    # Container root is the user on the host: the layer's files belong to it.
    web = sc.containers["web"].upper_dir
    assert (web / "srv/www/index.html").stat().st_uid == sc.user.uid
    assert (sc.graph_root / "overlay" / sc.base_layer_id / "diff/bin/busybox").stat().st_uid == (
        sc.user.uid
    )


def test_rootless_scenario_diff_matches_rootful_shape(
    podman_rootless_scenario: PodmanScenario,
) -> None:
    for name, c in podman_rootless_scenario.containers.items():
        assert set(c.plan.expected) <= set(c.diff), name
        for entry in RUNTIME_ENTRIES if c.plan.state != "created" else ():
            assert os.path.lexists(c.upper_dir / entry), (name, entry)


@pytest.mark.engine
def test_rootless_stop_removes_the_user_and_its_subids(
    host_podman_state_before: dict[str, tuple[int, int, int] | None],
) -> None:
    reason = rootless_unavailable_reason()
    if reason is not None:
        _skip_or_fail(reason)
    subuid, subgid = Path("/etc/subuid").read_text(), Path("/etc/subgid").read_text()
    pm = PrivatePodman(rootless=True)
    try:
        pm.start()
    except PodmanUnavailable as e:
        _skip_or_fail(str(e))
    try:
        assert pm.user is not None
        user, tmp_dir = pm.user, pm.tmp_dir
        assert f"{user.name}:{user.subuid_start}:{user.count}" in Path("/etc/subuid").read_text()
        pm.load(docker_archive(ImageSpec("localhost/harness/base:1", (base_layer(),))))
        pm.run("localhost/harness/base:1", ["sleep", "3600"], name="running")
    finally:
        pm.stop()
    with pytest.raises(KeyError):
        pwd.getpwnam(user.name)
    assert Path("/etc/subuid").read_text() == subuid
    assert Path("/etc/subgid").read_text() == subgid
    for backup in SHADOW_BACKUPS:  # /etc/passwd- ... that useradd and userdel rewrote
        assert not backup.exists() or f"{user.name}:" not in backup.read_text()
    assert tmp_dir is not None and not tmp_dir.exists()
    alive = [p for p in pm_pids_of(user.uid, user.subuid_start, user.count) if not _zombie(p)]
    assert alive == []
    assert host_podman_state() == host_podman_state_before


def pm_pids_of(uid: int, sub_start: int, count: int) -> list[int]:
    """Pids running as `uid` or a uid of the subordinate range."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{p}")
        except OSError:
            continue
        if st.st_uid == uid or sub_start <= st.st_uid < sub_start + count:
            found.append(int(p))
    return found


# --------------------------------------------------------------------------- captured stores


@pytest.mark.root
@pytest.mark.parametrize("kind", ["rootful", "rootless"])
def test_captured_store_matches_its_answers(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.engine import unpack_snapshot

    archive, answers_path = FIXTURES / f"{kind}.tar.xz", FIXTURES / f"answers-{kind}.json"
    if not archive.is_file():
        if kind == "rootless":
            pytest.skip("no rootless capture (see fixtures/podman/README.md)")
        pytest.fail(f"{archive} is missing: run fixtures/podman/capture.py", pytrace=False)
    if os.geteuid() != 0:
        _skip_or_fail("not root: whiteout device nodes and overlay xattrs need root to unpack")
    answers = json.loads(answers_path.read_text())
    dest = tmp_path_factory.mktemp(f"podman-{kind}")
    try:
        unpack_snapshot(archive, dest)
        _check_captured(dest, answers)
    finally:
        # Device nodes and a few MB: do not leave them for pytest's tmp rotation.
        shutil.rmtree(dest, ignore_errors=True)


def _check_captured(dest: Path, answers: dict[str, Any]) -> None:
    captured = Path(answers["graph_root"])
    layers = json.loads((dest / "overlay-layers/layers.json").read_text())
    assert layers == answers["store_records"]["overlay-layers/layers.json"]
    for c in answers["containers"]:
        data = c["inspect"]["GraphDriver"]["Data"]
        upper = dest / Path(data["UpperDir"]).relative_to(captured)
        assert upper.is_dir(), c["name"]
        if c["inspect"]["State"]["Status"] == "running":
            merged = dest / Path(data["MergedDir"]).relative_to(captured)
            assert merged.is_dir() and not any(merged.iterdir())
    prefix = "user.overlay." if answers["rootless"] else "trusted.overlay."
    web = next(c for c in answers["containers"] if c["name"] == "web")
    upper = dest / Path(web["inspect"]["GraphDriver"]["Data"]["UpperDir"]).relative_to(captured)
    assert _xattr(upper / "app/tmpdir", prefix + "opaque") == b"y"
    assert _is_whiteout(upper / "app/conf/extra.conf")
