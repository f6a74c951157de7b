"""A root or daemon that does not use overlay2 gets a clear error, not a wrong answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from overlayscope.errors import ExitCode
from tests.conftest import skip_or_fail
from tests.engine import PrivateEngine, engine_unavailable_reason
from tests.root.cli_helpers import run_text

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def vfs_engine() -> Iterator[PrivateEngine]:
    """A second private engine on the vfs storage driver, with one image in it."""
    reason = engine_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    engine = PrivateEngine(storage_driver="vfs")
    engine.start()
    try:
        engine.import_base("vfs/base:1")
        yield engine
    finally:
        engine.stop()


def test_daemon_with_another_driver(
    vfs_engine: PrivateEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert vfs_engine.client.info()["Driver"] == "vfs"
    monkeypatch.setenv("DOCKER_HOST", vfs_engine.host)
    code, out, err = run_text(capsys, "containers")
    assert code == ExitCode.ERROR and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "unsupported storage driver" in err and "'vfs'" in err


def test_root_with_another_driver_offline(
    vfs_engine: PrivateEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_text(capsys, "--offline", "--root", str(vfs_engine.data_root), "images")
    assert code == ExitCode.ERROR and out == ""
    assert "uses storage driver vfs" in err and "reads overlay2 roots" in err
