"""Shared pytest fixtures: a private Docker engine, its base image, the captured snapshot.

Tests that need the engine use the `engine` fixture and carry `@pytest.mark.engine`; tests that
need the captured data root use `captured_root` and carry `@pytest.mark.root`. Where these cannot
run they are skipped with the reason, unless OVERLAYSCOPE_REQUIRE_ENGINE=1 (CI on a capable
machine), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containerd_fixtures import *  # noqa: F403  (the private containerd's fixtures)
from tests.containerd_fixtures import CONTAINERD_FIXTURE_MARKERS
from tests.engine import (
    HOST_DOCKER_PATHS,
    CapturedRoot,
    PrivateEngine,
    engine_unavailable_reason,
    unpack_snapshot,
)
from tests.podman_fixtures import *  # noqa: F403  (the private podman's fixtures)
from tests.podman_fixtures import PODMAN_FIXTURE_MARKERS

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "snapshot"
SNAPSHOT_ARCHIVE = SNAPSHOT_DIR / "dataroot.tar.xz"
SNAPSHOT_ANSWERS = SNAPSHOT_DIR / "answers.json"
BASE_IMAGE_TAG = "overlayscope/base:test"

# A fixture name -> the marker a test using it must carry; added automatically if missing,
# so `-m "not engine"` deselects every test that would start dockerd.
_FIXTURE_MARKERS = {
    "engine": "engine",
    "base_image": "engine",
    "captured_root": "root",
    **CONTAINERD_FIXTURE_MARKERS,
    **PODMAN_FIXTURE_MARKERS,
}


def require_engine() -> bool:
    """True when a missing engine or root must fail the run instead of skipping."""
    return os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail with it under OVERLAYSCOPE_REQUIRE_ENGINE=1."""
    if require_engine():
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they use (see _FIXTURE_MARKERS)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in _FIXTURE_MARKERS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))


def host_docker_state() -> dict[str, tuple[int, int, int] | None]:
    """(inode, mtime_ns, ctime_ns) of the host's default Docker paths, None where absent."""
    state: dict[str, tuple[int, int, int] | None] = {}
    for path in HOST_DOCKER_PATHS:
        try:
            st = path.lstat()
        except FileNotFoundError:
            state[str(path)] = None
        else:
            state[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return state


@pytest.fixture(scope="session", autouse=True)
def scan_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """XDG_CACHE_HOME for the whole session, CLI subprocesses included: tests never read
    or write the user's scan cache (~/.cache/overlayscope), only a fresh one of their own."""
    path = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def host_docker_state_before() -> dict[str, tuple[int, int, int] | None]:
    """The host's default Docker paths as they were before any private engine started."""
    return host_docker_state()


@pytest.fixture(scope="session")
def engine(
    host_docker_state_before: dict[str, tuple[int, int, int] | None],
) -> Iterator[PrivateEngine]:
    """A started private dockerd for the whole session; stopped and cleaned up at the end."""
    reason = engine_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    eng = PrivateEngine()
    eng.start()
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(scope="session")
def base_image(engine: PrivateEngine) -> str:
    """The tag of the busybox base image imported into the session's engine."""
    engine.import_base(BASE_IMAGE_TAG)
    return BASE_IMAGE_TAG


@pytest.fixture(scope="session")
def captured_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CapturedRoot]:
    """fixtures/snapshot/dataroot.tar.xz unpacked (xattrs, owners, device nodes kept)."""
    if os.geteuid() != 0:
        skip_or_fail("not root: whiteout device nodes and trusted.* xattrs need root to unpack")
    if shutil.which("tar") is None:
        skip_or_fail("no GNU tar on PATH")
    if not SNAPSHOT_ARCHIVE.is_file() or not SNAPSHOT_ANSWERS.is_file():
        pytest.fail(
            f"{SNAPSHOT_ARCHIVE} or {SNAPSHOT_ANSWERS} is missing: run fixtures/capture.py",
            pytrace=False,
        )
    dest = tmp_path_factory.mktemp("captured-root")
    unpack_snapshot(SNAPSHOT_ARCHIVE, dest)
    answers = json.loads(SNAPSHOT_ANSWERS.read_text())
    try:
        yield CapturedRoot(path=dest, answers=answers, capture_data_root=Path(answers["data_root"]))
    finally:
        # Device nodes and a few MB: do not leave them for pytest's tmp rotation.
        shutil.rmtree(dest, ignore_errors=True)
