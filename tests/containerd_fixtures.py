"""Pytest fixtures for the private containerd and the scenario it is tested with.

Imported by tests/conftest.py (`from tests.containerd_fixtures import *`, limited by `__all__`)
so every test can use `containerd` (a started PrivateContainerd for the session),
`containerd_scenario` (the standard scenario of tests/containerd/scenario.py built in it once,
with containerd's own answers captured at that moment) and `captured_containerd` (the archive
fixtures/containerd/capture.py made of that scenario, unpacked).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.containerd.availability import containerd_unavailable_reason
from tests.containerd.engine import PrivateContainerd
from tests.containerd.scenario import ContainerdScenario, build_scenario
from tests.engine import unpack_snapshot

__all__ = [
    "CONTAINERD_FIXTURE_MARKERS",
    "captured_containerd",
    "containerd",
    "containerd_scenario",
]

# Fixture name -> the marker (engine/root) a test using it must carry; tests/conftest.py adds it.
CONTAINERD_FIXTURE_MARKERS: dict[str, str] = {
    "containerd": "engine",
    "containerd_scenario": "engine",
    "captured_containerd": "root",
}
CAPTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "containerd"
CAPTURE_ARCHIVE = CAPTURE_DIR / "root.tar.xz"
CAPTURE_ANSWERS = CAPTURE_DIR / "answers.json"


def _skip_or_fail(reason: str) -> None:
    # tests.conftest's skip_or_fail, copied: conftest imports this module, not the reverse.
    if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
        pytest.fail(f"OVERLAYSCOPE_REQUIRE_ENGINE=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def containerd() -> Iterator[PrivateContainerd]:
    """A started private containerd for the whole session; stopped and cleaned up at the end."""
    reason = containerd_unavailable_reason()
    if reason is not None:
        _skip_or_fail(reason)
    cd = PrivateContainerd()
    cd.start()
    try:
        yield cd
    finally:
        cd.stop()


@pytest.fixture(scope="session")
def containerd_scenario(containerd: PrivateContainerd) -> ContainerdScenario:
    """The standard scenario (tests/containerd/scenario.py), built once in `containerd`."""
    return build_scenario(containerd)


@dataclass(frozen=True)
class CapturedContainerd:
    """fixtures/containerd/root.tar.xz unpacked, and containerd's answers at capture time."""

    path: Path  # holds containerd/ (containerd's root) and docker/ (the Docker 29 data root)
    answers: Mapping[str, Any]  # fixtures/containerd/answers.json
    capture_dir: Path  # the dir that held containerd/ and docker/ at capture time

    @property
    def root(self) -> Path:
        """The unpacked containerd root."""
        return self.path / "containerd"

    @property
    def docker_root(self) -> Path:
        """The unpacked Docker 29 data root."""
        return self.path / "docker"

    def here(self, capture_path: str | Path) -> Path:
        """Map a path from capture time (a mount's upperdir, a rootfs) into the unpacked copy."""
        return self.path / Path(capture_path).relative_to(self.capture_dir)


@pytest.fixture(scope="session")
def captured_containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CapturedContainerd]:
    """fixtures/containerd/root.tar.xz unpacked (xattrs, owners, whiteout devices kept)."""
    if os.geteuid() != 0:
        _skip_or_fail("not root: whiteout device nodes and trusted.* xattrs need root to unpack")
    if not CAPTURE_ARCHIVE.is_file() or not CAPTURE_ANSWERS.is_file():
        pytest.fail(
            f"{CAPTURE_ARCHIVE} or {CAPTURE_ANSWERS} is missing: run "
            "fixtures/containerd/capture.py",
            pytrace=False,
        )
    dest = tmp_path_factory.mktemp("captured-containerd")
    unpack_snapshot(CAPTURE_ARCHIVE, dest)
    answers = json.loads(CAPTURE_ANSWERS.read_text())
    try:
        yield CapturedContainerd(dest, answers, Path(answers["capture_dir"]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
