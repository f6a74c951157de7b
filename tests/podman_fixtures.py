"""Pytest fixtures for the private podman, and the standard scenario they build.

Imported by tests/conftest.py (`from tests.podman_fixtures import *`), so every test can use
`podman`, `podman_scenario`, `podman_rootless` and `podman_rootless_scenario`. Each is
session-scoped: one engine and one scenario per session, stopped and cleaned up at the end. A
test that must change an engine's state starts a `PrivatePodman` of its own.

The scenario (`build_scenario`) is also what fixtures/podman/capture.py archives; its answers
(`podman_answers`) are every oracle podman has about it, taken at one moment.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine import busybox_rootfs_tar
from tests.podman.availability import (
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
from tests.podman.rootless import RootlessUser

__all__ = [
    "PODMAN_FIXTURE_MARKERS",
    "host_podman_state_before",
    "podman",
    "podman_rootless",
    "podman_rootless_scenario",
    "podman_scenario",
]

# Fixture name -> the marker a test using it must carry; tests/conftest.py adds it.
PODMAN_FIXTURE_MARKERS: dict[str, str] = {
    "podman": "engine",
    "podman_scenario": "engine",
    "podman_rootless": "engine",
    "podman_rootless_scenario": "engine",
}

# --------------------------------------------------------------------------- the scenario

BASE = "localhost/scope/base:1"
APP = "localhost/scope/app:1"
TOOL = "localhost/scope/tool:1"
IMPORTED = "localhost/scope/imported:1"
SLEEP_FOREVER = ("sleep", "2147483647")


def _seq(start: int, stop: int) -> bytes:
    return "".join(f"{i}\n" for i in range(start, stop + 1)).encode()


def base_layer() -> Layer:
    """The busybox rootfs (tests/engine.py), shared by base, app and tool."""
    return Layer(busybox_rootfs_tar(), created_by="busybox-static rootfs")


# App layer 1 (gzip in the OCI archive): a tree that later layers and containers change.
APP_TREE = Layer.of(
    Dir("app"),
    Dir("app/bin"),
    Dir("app/cache"),
    Dir("app/cache/old"),
    Dir("app/conf"),
    Dir("app/data"),
    Dir("app/data/nested"),
    Dir("app/data/nested/deeper"),
    Dir("app/lib"),
    Dir("app/logs"),
    Dir("app/logs/2024"),
    Dir("app/tmpdir"),
    File("app/bin/tool.sh", b"#!/bin/sh\necho tool\n", 0o755),
    File("app/cache/keep.txt", b"keep\n"),
    File("app/cache/old/entry.txt", b"old cache\n"),
    File("app/conf/app.conf", b"name=app\nmode=prod\n"),
    File("app/conf/extra.conf", b"extra=1\n"),
    File("app/data/big.txt", _seq(1, 12000)),
    File("app/data/doomed.txt", b"to be deleted\n"),
    File("app/data/nested/deeper/leaf.txt", b"leaf\n"),
    File("app/lib/a.txt", b"shared\n"),
    HardLink("app/lib/b.txt", "app/lib/a.txt"),
    Symlink("app/lib/app.conf.rel", "../conf/app.conf"),
    File("app/logs/a.log", b"a\n"),
    File("app/logs/2024/b.log", b"b\n"),
    File("app/notes.txt", b"notes\n"),
    File("app/perm.txt", b"perm\n"),
    File("app/tmpdir/old.txt", b"old\n"),
    Symlink("app/current.conf", "/app/conf/app.conf"),
    gzip=True,
    created_by="COPY app/ /app/ (gzip layer)",
)
# App layer 2 (plain tar): a whiteout, an opaque dir, an overwritten file (waste).
APP_CHANGES = Layer.of(
    Dir("app"),
    Dir("app/cache"),
    Opaque("app/cache"),
    Dir("app/cache/new"),
    File("app/cache/new/entry.txt", b"fresh\n"),
    Dir("app/data"),
    File("app/data/big.txt", _seq(100, 12100)),
    Whiteout("app/data/doomed.txt"),
    created_by="RUN rm doomed.txt; rm -rf cache && mkdir -p cache/new; seq > big.txt",
)
TOOL_LAYER = Layer.of(
    Dir("opt"),
    Dir("opt/tool"),
    File("opt/tool/README", b"the tool\n"),
    File("opt/tool/run.sh", b'#!/bin/sh\necho tool "$@"\n', 0o755),
    gzip=True,
    created_by="COPY tool/ /opt/tool/ (gzip layer in a docker archive)",
)
IMPORTED_TREE = (
    Dir("imported"),
    File("imported/hello.txt", b"hello from podman import\n"),
)


def image_specs() -> dict[str, tuple[str, ImageSpec]]:
    """The scenario's loaded images: name -> (archive format, spec)."""
    base = base_layer()
    return {
        BASE: ("docker-archive", ImageSpec(BASE, (base,))),
        APP: (
            "oci-archive",
            ImageSpec(
                APP,
                (base, APP_TREE, APP_CHANGES),
                cmd=SLEEP_FOREVER,
                workdir="/app",
                labels={"org.opencontainers.image.title": "overlayscope podman app"},
            ),
        ),
        TOOL: ("docker-archive", ImageSpec(TOOL, (base, TOOL_LAYER))),
    }


@dataclass(frozen=True)
class ContainerPlan:
    """A container of the scenario: what it runs and what `podman diff` must then list."""

    name: str
    image: str
    script: str | None  # run with `sh -c` (by `exec` in a running container)
    state: str  # podman inspect State.Status once built
    exit_code: int
    expected: tuple[tuple[str, str], ...]  # (kind, path) pairs podman diff must contain


# Container scripts are one line: `podman system df -v` prints the command in a table cell.
WEB_SCRIPT = " && ".join(
    (
        "echo appended >> /app/conf/app.conf",  # change the content of a lower file
        "chmod 600 /app/perm.txt",  # chmod only a lower file
        "touch /app/notes.txt",  # touch only a lower file
        "rm /app/conf/extra.conf",  # delete a lower file
        "rm -rf /app/logs",  # delete a lower dir with a subdir
        "rm -rf /app/tmpdir && mkdir /app/tmpdir && echo new > /app/tmpdir/new.txt",  # opaque
        "ln /app/bin/tool.sh /app/bin/tool-link",  # hard-link a lower file
        "mkdir -p /srv/www && echo '<h1>hi</h1>' > /srv/www/index.html",  # new dirs and a file
    )
)
STOPPED_SCRIPT = " && ".join(
    (
        "echo stopped > /app/stopped.txt",
        "rm /app/notes.txt",
        "echo more >> /app/data/big.txt",  # append to a file that layer 2 overwrote
        "rm /app/lib/b.txt",  # one name of a hard-linked pair
    )
)
TOOL_SCRIPT = "echo out > /opt/tool/out.txt; chmod 700 /opt/tool/run.sh; exit 3"

CONTAINER_PLANS = (
    ContainerPlan(
        "web",
        APP,
        WEB_SCRIPT,
        "running",
        0,
        (
            ("C", "/app/conf/app.conf"),
            ("C", "/app/perm.txt"),
            ("C", "/app/notes.txt"),
            ("D", "/app/conf/extra.conf"),
            ("D", "/app/logs"),
            ("A", "/app/tmpdir/new.txt"),
            ("A", "/app/bin/tool-link"),
            ("A", "/srv"),
            ("A", "/srv/www"),
            ("A", "/srv/www/index.html"),
        ),
    ),
    ContainerPlan(
        "stopped",
        APP,
        STOPPED_SCRIPT,
        "exited",
        0,
        (
            ("A", "/app/stopped.txt"),
            ("D", "/app/notes.txt"),
            ("C", "/app/data/big.txt"),
            ("D", "/app/lib/b.txt"),
        ),
    ),
    ContainerPlan(
        "tool-exited",
        TOOL,
        TOOL_SCRIPT,
        "exited",
        3,
        (("A", "/opt/tool/out.txt"), ("C", "/opt/tool/run.sh")),
    ),
    # Started and exited without doing anything: only what podman itself put in the layer.
    ContainerPlan("idle", APP, "true", "exited", 0, ()),
    # Never started: an empty layer.
    ContainerPlan("fresh", APP, None, "created", 0, ()),
)

# Files and dirs podman or runc put into a started container's own layer (mount points for
# the bind mounts from the run root, and /etc/mtab) when the image lacks them.
RUNTIME_ENTRIES = (
    "dev",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "proc",
    "run",
    "run/.containerenv",
    "sys",
)


@dataclass(frozen=True)
class ScenarioImage:
    """An image the scenario made, as podman stored it."""

    name: str
    id: str
    source: str  # docker-archive | oci-archive | import
    layer_ids: tuple[str, ...]  # containers/storage layer ids, bottom to top
    diff_ids: tuple[str, ...]  # sha256:... of each uncompressed layer tar
    gzip: tuple[bool, ...]  # whether the archive stored each layer gzipped
    upper_dir: Path  # GraphDriver.Data.UpperDir (the top layer's diff/)


@dataclass(frozen=True)
class ScenarioContainer:
    """A container the scenario made."""

    plan: ContainerPlan
    id: str
    layer_id: str  # its own read-write layer (containers.json "layer")
    upper_dir: Path  # GraphDriver.Data.UpperDir
    diff: tuple[tuple[str, str], ...]  # podman diff when built, (kind, path) sorted by path


@dataclass(frozen=True)
class PodmanScenario:
    """What `build_scenario` made in one private podman, and podman's answers about it."""

    rootless: bool
    graph_root: Path
    run_root: Path
    user: RootlessUser | None
    overlay_encoding: Mapping[str, Any]  # see detect_overlay_encoding
    images: Mapping[str, ScenarioImage]  # by name
    containers: Mapping[str, ScenarioContainer]  # by name
    base_layer_id: str
    answers: Mapping[str, Any]  # podman_answers() right after building


def build_scenario(pm: PrivatePodman) -> PodmanScenario:
    """Load and import the images, make and run the containers; return what was made."""
    specs = image_specs()
    for name, (fmt, spec) in specs.items():
        archive = docker_archive(spec) if fmt == "docker-archive" else oci_archive(spec)
        loaded = pm.load(archive, name.rsplit("/", 1)[-1].replace(":", "-"))
        if name not in loaded:
            raise AssertionError(f"podman load of {name} reported {loaded}")
    pm.import_tarball(
        layer_tar(IMPORTED_TREE), IMPORTED, changes=('CMD ["/bin/sh"]', "LABEL source=import")
    )
    for plan in CONTAINER_PLANS:
        if plan.state == "running":
            pm.run(plan.image, SLEEP_FOREVER, name=plan.name)
            if plan.script:
                pm.exec(plan.name, ["sh", "-c", plan.script])
        elif plan.state == "created":
            pm.create(plan.image, name=plan.name)
        else:
            pm.run(plan.image, ["sh", "-c", plan.script or "true"], name=plan.name)
            code = pm.wait(plan.name)
            if code != plan.exit_code:
                raise AssertionError(f"{plan.name} exited {code}, expected {plan.exit_code}")
    pm.settle()
    return describe_scenario(pm)


def describe_scenario(pm: PrivatePodman) -> PodmanScenario:
    """The scenario as it stands in `pm` now (ids, layers, dirs) with podman's answers."""
    records = pm.store_records()
    layers = {layer["id"]: layer for layer in records["overlay-layers/layers.json"]}
    images: dict[str, ScenarioImage] = {}
    specs = image_specs()
    sources = {name: fmt for name, (fmt, _) in specs.items()} | {IMPORTED: "import"}
    for ins in pm.inspect(*sources, kind="image"):
        name = next(n for n in ins["RepoTags"] if n in sources)
        chain = _layer_chain(layers, _top_layer(records, ins["Id"]))
        spec = specs.get(name, (None, None))[1]
        images[name] = ScenarioImage(
            name=name,
            id=ins["Id"],
            source=sources[name],
            layer_ids=tuple(chain),
            diff_ids=tuple(layers[lid]["diff-digest"] for lid in chain),
            gzip=tuple(layer.gzip for layer in spec.layers) if spec else (False,),
            upper_dir=Path(ins["GraphDriver"]["Data"]["UpperDir"]),
        )
    containers: dict[str, ScenarioContainer] = {}
    stored = {c["names"][0]: c for c in records["overlay-containers/containers.json"]}
    for plan in CONTAINER_PLANS:
        [ins] = pm.inspect(plan.name, kind="container")
        containers[plan.name] = ScenarioContainer(
            plan=plan,
            id=ins["Id"],
            layer_id=stored[plan.name]["layer"],
            upper_dir=Path(ins["GraphDriver"]["Data"]["UpperDir"]),
            diff=tuple((c["kind"], c["path"]) for c in pm.diff(plan.name)),
        )
    return PodmanScenario(
        rootless=pm.rootless,
        graph_root=pm.graph_root,
        run_root=pm.run_root,
        user=pm.user,
        overlay_encoding=detect_overlay_encoding(pm.graph_root),
        images=images,
        containers=containers,
        base_layer_id=images[BASE].layer_ids[0],
        answers=podman_answers(pm),
    )


def _top_layer(records: Mapping[str, Any], image_id: str) -> str:
    for image in records["overlay-images/images.json"]:
        if image["id"] == image_id:
            return str(image["layer"])
    raise KeyError(image_id)


def _layer_chain(layers: Mapping[str, Mapping[str, Any]], top: str) -> list[str]:
    chain = [top]
    while parent := layers[chain[-1]].get("parent"):
        chain.append(parent)
    return chain[::-1]


def detect_overlay_encoding(graph_root: Path) -> dict[str, Any]:
    """How overlay metadata is written in this store's layer dirs (overlay/<id>/diff):
    the xattr names found (trusted.overlay.*, user.overlay.*, user.fuseoverlayfs.*), how many
    whiteouts are 0/0 character devices, and how many are `.wh.` files."""
    names: set[str] = set()
    char_whiteouts = wh_files = 0
    for diff in sorted((graph_root / "overlay").glob("*/diff")):
        for dirpath, dirnames, filenames in os.walk(diff):
            for n in (".", *dirnames, *filenames):
                path = os.path.join(dirpath, n)
                st = os.lstat(path)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    char_whiteouts += 1
                if n.startswith(".wh."):
                    wh_files += 1
                if not stat.S_ISLNK(st.st_mode):
                    names.update(
                        x
                        for x in os.listxattr(path, follow_symlinks=False)
                        if "overlay" in x or "fuse" in x
                    )
    prefixes = sorted({x.rsplit(".", 1)[0] + "." for x in names})
    return {
        "xattr_names": sorted(names),
        "xattr_prefixes": prefixes,
        "char_device_whiteouts": char_whiteouts,
        "wh_files": wh_files,
    }


def podman_answers(pm: PrivatePodman) -> dict[str, Any]:
    """Every answer podman gives about its store now: info, inspect (with sizes) and diff of
    every container and image, `images`, `ps --size`, `system df` (summary and -v), and the
    containers/storage records (graph root and run root)."""
    info = pm.info()
    container_ids = [c["Id"] for c in pm.containers()]
    image_ids = [i["Id"] for i in pm.images()]
    containers = []
    for ins in pm.inspect(*container_ids, size=True, kind="container") if container_ids else []:
        containers.append({"name": ins["Name"], "inspect": ins, "diff": pm.diff(ins["Id"])})
    images = []
    for ins in pm.inspect(*image_ids, kind="image") if image_ids else []:
        images.append({"id": ins["Id"], "inspect": ins, "diff": pm.diff(ins["Id"])})
    run_root_files = {}
    for path in sorted(pm.run_root.glob("overlay-*/*.json")):
        run_root_files[str(path.relative_to(pm.run_root))] = path.read_text()
    return {
        "info": info,
        "containers": sorted(containers, key=lambda c: c["name"]),
        "images": sorted(images, key=lambda i: i["id"]),
        "podman_images": pm.images(),
        "podman_ps": sorted(pm.containers(), key=lambda c: c["Names"][0]),
        "system_df": pm.system_df(),
        "system_df_v": pm.system_df_v(),
        "store_records": pm.store_records(),
        "run_root_files": run_root_files,
    }


# --------------------------------------------------------------------------- fixtures


def _skip_or_fail(reason: str) -> None:
    # tests/conftest.py's skip_or_fail, repeated: conftest imports this module.
    if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def host_podman_state_before() -> dict[str, tuple[int, int, int] | None]:
    """The host's podman paths as they were before any private podman started."""
    return host_podman_state()


def _engine(rootless: bool) -> Iterator[PrivatePodman]:
    reason = rootless_unavailable_reason() if rootless else podman_unavailable_reason()
    if reason is not None:
        _skip_or_fail(reason)
    pm = PrivatePodman(rootless=rootless)
    try:
        pm.start()
    except PodmanUnavailable as e:
        _skip_or_fail(str(e))
    try:
        yield pm
    finally:
        pm.stop()


@pytest.fixture(scope="session")
def podman(
    host_podman_state_before: dict[str, tuple[int, int, int] | None],
) -> Iterator[PrivatePodman]:
    """A started rootful private podman for the whole session; cleaned up at the end."""
    yield from _engine(rootless=False)


@pytest.fixture(scope="session")
def podman_rootless(
    host_podman_state_before: dict[str, tuple[int, int, int] | None],
) -> Iterator[PrivatePodman]:
    """A started rootless private podman (a throwaway user) for the whole session."""
    yield from _engine(rootless=True)


@pytest.fixture(scope="session")
def podman_scenario(podman: PrivatePodman) -> PodmanScenario:
    """The standard scenario, built once in the session's rootful podman."""
    return build_scenario(podman)


@pytest.fixture(scope="session")
def podman_rootless_scenario(podman_rootless: PrivatePodman) -> PodmanScenario:
    """The standard scenario, built once in the session's rootless podman."""
    return build_scenario(podman_rootless)
