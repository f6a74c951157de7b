"""`LayerStack` against a running container's real overlay mount, and built whiteouts."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from overlayscope.union import BlockerKind, HitState, read_merged
from tests.engine import PrivateEngine
from tests.union.engine_stack import container_stack

pytestmark = pytest.mark.engine

DOCKERFILE = """FROM {base}
RUN mkdir -p /srv/d/sub && echo old > /srv/d/old && echo f > /srv/d/sub/f && echo g > /etc/gone
RUN rm /etc/gone && rm -rf /srv/d && mkdir /srv/d && echo new > /srv/d/new \\
 && ln -s ../etc/passwd /srv/pw
"""


def _kernel_tree(merged: Path) -> dict[str, str]:
    tree: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(merged):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            try:
                mode = full.lstat().st_mode
            except FileNotFoundError:
                continue  # a whiteout listed by readdir of a dir that is not merged
            kind = "dir" if stat.S_ISDIR(mode) else "symlink" if stat.S_ISLNK(mode) else "file"
            tree["/" + str(full.relative_to(merged))] = kind
    return tree


def test_running_container_matches_its_mount(engine: PrivateEngine, base_image: str) -> None:
    image = engine.build("overlayscope/union-stack:test", DOCKERFILE.format(base=base_image))
    name = "union-live"
    engine.run(
        image, ["sh", "-c", "echo hi > /srv/d/mine && rm /srv/d/new && sleep 600"], name=name
    )
    try:
        [inspected] = engine.inspect(name)
        merged = Path(inspected["GraphDriver"]["Data"]["MergedDir"])
        # The shell's work is done once /srv/d/mine exists and /srv/d/new is gone.
        deadline = time.monotonic() + 30
        while (merged / "srv/d/new").exists() or not (merged / "srv/d/mine").exists():
            assert time.monotonic() < deadline, "the container never did its work"
            time.sleep(0.1)
        stack = container_stack(engine, name)
        ours = {
            m.path: "dir" if m.entry.kind.is_dir else m.entry.kind.value
            for m in stack.walk()
            if m.path != "/"
        }
        assert ours == _kernel_tree(merged)

        gone = stack.provenance("/etc/gone")
        assert not gone.visible
        assert gone.hidden_by is not None and gone.hidden_by.kind is BlockerKind.WHITEOUT
        assert [h.state for h in gone.stack] == [HitState.WHITEOUT, HitState.HIDDEN_BY_WHITEOUT]

        old = stack.provenance("/srv/d/old")
        assert not old.visible and old.hidden_by is not None
        assert old.hidden_by.kind is BlockerKind.OPAQUE_DIR and old.hidden_by.path == "/srv/d"

        mine = stack.provenance("/srv/d/mine")
        assert mine.winner is not None and mine.winner.role == "rw"
        new = stack.provenance("/srv/d/new")
        assert not new.visible and new.stack[0].role == "rw"
        assert read_merged(stack, "/srv/pw") == (merged / "etc/passwd").read_bytes()
    finally:
        engine.docker("rm", "-f", name)
