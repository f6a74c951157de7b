"""With the daemon of the same root, overlayscope cross-checks it against the disk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import skip_or_fail
from tests.engine import PrivateEngine, engine_unavailable_reason
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine


@pytest.fixture
def own_engine() -> Iterator[PrivateEngine]:
    """An engine of this test's own: the test edits its data root under it."""
    reason = engine_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    engine = PrivateEngine()
    engine.start()
    try:
        engine.import_base("x/base:1")
        yield engine
    finally:
        engine.stop()


def test_graphdriver_disagreeing_with_disk_is_a_problem(
    own_engine: PrivateEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = own_engine.docker("create", "--network=none", "--name=ca", "x/base:1").strip()
    b = own_engine.docker("create", "--network=none", "--name=cb", "x/base:1").strip()
    monkeypatch.setenv("DOCKER_HOST", own_engine.host)
    code, report = run_json(capsys, "check")
    assert (code, report["problems"]) == (0, [])
    # Point a's mount record at b's rw dir behind the daemon's back.
    mounts = own_engine.data_root / "image/overlay2/layerdb/mounts"
    (mounts / a / "mount-id").write_text((mounts / b / "mount-id").read_text())
    code, report = run_json(capsys, "check")
    assert code == 1
    mismatches = [p for p in report["problems"] if p["kind"] == "daemon-mismatch"]
    assert any(
        p["path"].endswith(f"containers/{a}") and "UpperDir" in p["detail"] for p in mismatches
    ), report["problems"]
    # Offline, the same root shows what the disk itself can tell: one dir, two owners.
    code, report = run_json(capsys, "--offline", "--root", str(own_engine.data_root), "check")
    kinds = {p["kind"] for p in report["problems"]}
    assert "daemon-mismatch" not in kinds and "shared-layer-dir" in kinds


def test_live_names_and_states(
    own_engine: PrivateEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = own_engine.run("x/base:1", ["sleep", "600"], name="live")
    own_engine.docker("pause", run)
    own_engine.docker("rename", "live", "renamed")
    monkeypatch.setenv("DOCKER_HOST", own_engine.host)
    code, containers = run_json(capsys, "containers")
    assert code == 0
    by_id = {c["id"]: c for c in containers}
    truth = own_engine.inspect(run)[0]
    assert by_id[run]["state"] == truth["State"]["Status"] == "paused"
    assert by_id[run]["name"] == truth["Name"].lstrip("/") == "renamed"
    own_engine.docker("unpause", run)
