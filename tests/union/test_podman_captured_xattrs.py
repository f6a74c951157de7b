"""The captured podman stores read with the overlay xattr namespace their mounts read.

podman 4.3 wrote the rootful store's opaque dirs as `trusted.overlay.opaque` and the
rootless one's as `user.overlay.opaque` (its overlay is mounted with `userxattr`). The
host says which (`Host.overlay_xattrs`), the scanner reads that one alone, and podman's
diff of both stores is still ours; read with the other namespace, the opaque dirs
vanish and the diff is no longer podman's (so the namespace is what decides).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.root.model import ChangeRule
from overlayscope.scan import Kind
from overlayscope.union.diff import changes
from overlayscope.union.host_stacks import build_stack
from tests.engine import unpack_snapshot
from tests.podman_checks import (
    INIT_INODES,
    PodmanStore,
    change_set,
    check_container_changes,
    check_image_changes,
    ours,
)

pytestmark = pytest.mark.root

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "podman"
NAMESPACE = {"rootful": "trusted", "rootless": "user"}


@pytest.fixture(scope="module", params=sorted(NAMESPACE))
def captured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, PodmanStore]]:
    """A captured store unpacked as it was archived (xattrs, whiteout devices, owners)."""
    kind = request.param
    archive, answers_path = FIXTURES / f"{kind}.tar.xz", FIXTURES / f"answers-{kind}.json"
    if not archive.is_file() or not answers_path.is_file():
        pytest.fail(f"{archive} is missing: run fixtures/podman/capture.py", pytrace=False)
    if os.geteuid() != 0:
        if os.environ.get("OVERLAYSCOPE_REQUIRE_ENGINE") == "1":
            pytest.fail("OVERLAYSCOPE_REQUIRE_ENGINE=1 but not root", pytrace=False)
        pytest.skip("not root: whiteout device nodes and overlay xattrs need root to unpack")
    answers = json.loads(answers_path.read_text())
    dest = tmp_path_factory.mktemp(f"podman-xattrs-{kind}")
    try:
        unpack_snapshot(archive, dest)
        yield kind, PodmanStore(dest, answers, Path(answers["graph_root"]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_the_host_reads_the_namespace_podman_wrote(captured: tuple[str, PodmanStore]) -> None:
    kind, store = captured
    namespace = NAMESPACE[kind]
    assert store.answers["overlay_encoding"]["xattr_prefixes"] == [f"{namespace}.overlay."]
    host = store.host()
    assert host.overlay_xattrs == namespace
    assert bool(host.uid_map) == (kind == "rootless")
    # the web container's /app/tmpdir was removed and made again: opaque, in that namespace
    upper = store.graph_dirs(store.container("web")["inspect"])[0]
    names = os.listxattr(upper / "app/tmpdir")
    assert f"{namespace}.overlay.opaque" in names
    assert not any(n.startswith(f"{_other(namespace)}.overlay.") for n in names)


def test_podmans_diff_is_ours(
    captured: tuple[str, PodmanStore], capsys: pytest.CaptureFixture[str]
) -> None:
    _, store = captured
    host = store.host()
    web = host.containers[store.container("web")["inspect"]["Id"]]
    entry = build_stack(host, web).layers[0].index.get("/app/tmpdir")
    assert entry is not None and entry.kind is Kind.OPAQUE_DIR
    for answer in store.containers:
        doc = ours(capsys, store, "container", answer["name"])
        check_container_changes(store, answer["name"], doc)
    check_image_changes(store, host)


def test_the_other_namespace_is_no_overlay_metadata(captured: tuple[str, PodmanStore]) -> None:
    _, store = captured
    host = store.host()
    host.overlay_xattrs = _other(host.overlay_xattrs)  # as if mounted the other way
    answer = store.container("web")
    stack = build_stack(host, host.containers[answer["inspect"]["Id"]])
    entry = stack.layers[0].index.get("/app/tmpdir")
    assert entry is not None and entry.kind is Kind.DIR and entry.xattrs is None
    mine = {
        (c.kind.value, c.path)
        for c in changes(stack, rule=ChangeRule.UPPER)
        if c.path not in INIT_INODES
    }
    theirs = change_set(answer["diff"])
    assert ("D", "/app/tmpdir") in theirs - mine  # no longer deleted and made again


def _other(namespace: str) -> str:
    return "user" if namespace == "trusted" else "trusted"
