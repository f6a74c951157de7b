"""The audit's own walk and the timeline tell xattr whiteouts by the namespace the host's
mounts read (`Host.overlay_xattrs`): the other namespace's `overlay.whiteout` is a plain
xattr, and the file an empty file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.audit.timeline import timeline, timeline_layers
from overlayscope.audit.walk import walk_layer, whiteout_xattrs
from overlayscope.root.model import Container, Host, Layer, Role

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* xattrs need root")


def _diff(tmp_path: Path) -> Path:
    diff = tmp_path / "diff"
    diff.mkdir()
    for name, attr in (("t", "trusted.overlay.whiteout"), ("u", "user.overlay.whiteout")):
        (diff / name).write_bytes(b"")
        os.setxattr(diff / name, attr, b"")
    return diff


@pytest.mark.parametrize(
    ("read", "whiteouts"), [("trusted", {"/t"}), ("user", {"/u"}), (None, {"/t", "/u"})]
)
def test_walk_layer(tmp_path: Path, read: str | None, whiteouts: set[str]) -> None:
    diff = _diff(tmp_path)
    walked = {w.path: w.whiteout for w in walk_layer(str(diff), [], overlay_xattrs=read)}
    assert {p for p, w in walked.items() if w} == whiteouts
    assert set(walked) == {"/", "/t", "/u"}


def test_whiteout_xattrs() -> None:
    assert whiteout_xattrs("trusted") == ("trusted.overlay.whiteout",)
    assert whiteout_xattrs("user") == ("user.overlay.whiteout",)
    assert whiteout_xattrs(None) == ("trusted.overlay.whiteout", "user.overlay.whiteout")
    with pytest.raises(ValueError):
        whiteout_xattrs("security")


@pytest.mark.parametrize("read", ["trusted", "user"])
def test_timeline_follows_the_host(tmp_path: Path, read: str) -> None:
    diff = _diff(tmp_path)
    layer = Layer("ab" * 32, str(tmp_path), str(diff), None, (), Role.RW, container="c")
    container = Container(
        "c", "web", "", "exited", None, None, None, layer.id, None, None, (), None, ""
    )
    host = Host(root=str(tmp_path), driver="overlay2", overlay_xattrs=read)
    host.layers[layer.id] = layer
    host.containers[container.key] = container
    layers = timeline_layers(host, container)
    assert [(t.layer_id, t.overlay_xattrs) for t in layers] == [(layer.id, read)]
    types = {e.path: e.type for e in timeline(layers)}
    assert types == {
        "/t": "whiteout" if read == "trusted" else "file",
        "/u": "whiteout" if read == "user" else "file",
    }
