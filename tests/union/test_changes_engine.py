"""`changes()` against the real engine's `docker diff`, container by container.

Each container does one thing to the image's layers; the test reads the
container's layers from `docker inspect`'s GraphDriver.Data, scans them,
and checks that `changes()` lists exactly what the daemon lists, with the
copy-up, content and metadata facts that the operation implies.
"""

from __future__ import annotations

import pytest

from overlayscope.union import Change, LayerStack, changes
from tests.engine import PrivateEngine
from tests.union.engine_stack import container_stack

pytestmark = pytest.mark.engine

DOCKERFILE = """FROM {base}
RUN mkdir -p /srv/data/sub && echo a > /srv/data/a && echo b > /srv/data/sub/b \\
 && echo x > /srv/file && echo log > /srv/log && echo keep > /srv/keep && mkdir /srv/empty
"""

_KIND = {0: "C", 1: "A", 2: "D"}


@pytest.fixture(scope="module")
def image(engine: PrivateEngine, base_image: str) -> str:
    return engine.build("overlayscope/union-changes:test", DOCKERFILE.format(base=base_image))


def run_and_diff(
    engine: PrivateEngine, image: str, name: str, script: str, docs: set[str] | None = None
) -> tuple[dict[str, Change], LayerStack]:
    """Run `script`, check `changes()` against the engine's diff (and against `docs`, the
    lines docs/union.md promises, when given)."""
    engine.run(image, ["sh", "-c", script], name=f"union-{name}", detach=False)
    expected = {
        (_KIND[c["Kind"]], c["Path"]) for c in engine.client.api.diff(f"union-{name}") or []
    }
    if docs is not None:
        assert {f"{kind} {path}" for kind, path in expected} == docs
    stack = container_stack(engine, f"union-{name}")
    got = changes(stack)
    assert {(c.kind.value, c.path) for c in got} == expected
    assert len(got) == len(expected)
    return {c.path: c for c in got}, stack


def test_append_to_a_lower_file(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine, image, "append", "echo more >> /etc/passwd", {"C /etc", "C /etc/passwd"}
    )
    passwd = found["/etc/passwd"]
    assert (passwd.kind, passwd.copy_up, passwd.content) == ("C", True, "changed")
    assert "size" in passwd.meta and "mode" not in passwd.meta
    assert found["/etc"].kind == "C" and found["/etc"].copy_up


def test_chmod_only(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine, image, "chmod", "chmod 600 /srv/file", {"C /srv", "C /srv/file"}
    )
    changed = found["/srv/file"]
    assert (changed.copy_up, changed.content, changed.meta) == (True, "same", ("mode",))


def test_touch_only(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine, image, "touch", "sleep 1; touch /srv/file", {"C /srv", "C /srv/file"}
    )
    changed = found["/srv/file"]
    assert (changed.copy_up, changed.content, changed.meta) == (True, "same", ("mtime",))


def test_delete_a_lower_file(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(engine, image, "rm-file", "rm /srv/log", {"C /srv", "D /srv/log"})
    assert (found["/srv/log"].kind, found["/srv/log"].entry) == ("D", "file")
    assert found["/srv"].kind == "C"


def test_delete_a_lower_dir(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(engine, image, "rm-dir", "rm -rf /srv/data", {"C /srv", "D /srv/data"})
    assert (found["/srv/data"].kind, found["/srv/data"].entry) == ("D", "dir")
    assert not any(path.startswith("/srv/data/") for path in found)


def test_rm_rf_then_mkdir(engine: PrivateEngine, image: str) -> None:
    found, stack = run_and_diff(
        engine,
        image,
        "remake-dir",
        "rm -rf /srv/data && mkdir /srv/data && echo n > /srv/data/n",
        {"C /srv", "C /srv/data", "D /srv/data/a", "D /srv/data/sub", "A /srv/data/n"},
    )
    assert stack.top.index.entries["/srv/data"].kind.value == "opaque-dir"
    assert found["/srv/data"].kind == "C" and not found["/srv/data"].copy_up
    assert found["/srv/data/a"].kind == "D" and found["/srv/data/sub"].kind == "D"
    assert "/srv/data/sub/b" not in found
    assert found["/srv/data/n"].kind == "A"


def test_mv_a_lower_file(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine, image, "mv", "mv /srv/file /srv/moved", {"C /srv", "D /srv/file", "A /srv/moved"}
    )
    assert found["/srv/file"].kind == "D" and found["/srv/moved"].kind == "A"


def test_hard_link_a_lower_file(engine: PrivateEngine, image: str) -> None:
    found, stack = run_and_diff(
        engine, image, "hardlink", "ln /srv/file /srv/hard", {"C /srv", "A /srv/hard"}
    )
    assert found["/srv/hard"].kind == "A"
    # The link copied /srv/file up, but nothing Docker compares changed: not listed.
    assert "/srv/file" not in found
    assert stack.top.index.get("/srv/file") is not None


def test_open_for_write_copies_up_silently(engine: PrivateEngine, image: str) -> None:
    found, stack = run_and_diff(engine, image, "open-rw", ": >> /srv/keep", set())
    assert "/srv/keep" not in found
    assert stack.top.index.get("/srv/keep") is not None


def test_nested_new_dirs(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine,
        image,
        "nested",
        "mkdir -p /n1/n2/n3 && echo x > /n1/n2/n3/f && mkdir /empty",
        {"A /n1", "A /n1/n2", "A /n1/n2/n3", "A /n1/n2/n3/f", "A /empty"},
    )
    for path in ("/n1", "/n1/n2", "/n1/n2/n3", "/n1/n2/n3/f", "/empty"):
        assert found[path].kind == "A"
    assert found["/n1/n2/n3/f"].entry == "file" and found["/n1"].entry.endswith("dir")


def test_large_new_file(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(
        engine, image, "large", "dd if=/dev/zero of=/srv/big bs=1048576 count=24 2>/dev/null"
    )
    big = found["/srv/big"]
    assert (big.kind, big.entry, big.size) == ("A", "file", 24 << 20)


def test_rewrite_with_the_same_bytes(engine: PrivateEngine, image: str) -> None:
    found, _ = run_and_diff(engine, image, "rewrite", "sleep 1; echo x > /srv/file")
    changed = found["/srv/file"]
    assert (changed.copy_up, changed.content) == (True, "same")
    assert "mtime" in changed.meta and "size" not in changed.meta


def test_rm_rf_then_mkdir_of_an_empty_lower_dir_is_no_change(
    engine: PrivateEngine, image: str
) -> None:
    _, stack = run_and_diff(
        engine, image, "remake-empty", "rm -rf /srv/empty && mkdir /srv/empty", set()
    )
    assert stack.top.index.entries["/srv/empty"].kind.value == "opaque-dir"
