"""Merged views of a podman store's containers and images, held to the kernel's own.

`kernel_view` mounts layer dirs read-only with the kernel's overlayfs (the oracle for
every merged view); `check_merged_view` compares a `LayerStack` with it entry by entry, and
`check_file_commands` the `where`, `ls`, `cat` and `diff` commands path by path. Used by
tests/union/test_podman_changes.py (live engine) and tests/root/test_podman_captured.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from overlayscope.union.stack import LayerStack
from tests.podman_checks import PodmanStore, ours


@contextlib.contextmanager
def kernel_view(layers: Sequence[Path], *, userxattr: bool) -> Iterator[Path]:
    """The kernel's own merged view of `layers` (content dirs, top first): a read-only
    overlay mount with no upper dir (`userxattr` for a rootless store's `user.overlay.*`),
    made in a temp dir and always unmounted. One layer is its own view."""
    if len(layers) == 1:
        yield layers[0]
        return
    options = "ro,lowerdir=" + ":".join(str(p) for p in layers)
    if userxattr:
        options += ",userxattr"
    target = Path(tempfile.mkdtemp(prefix="podman-view-", dir="/tmp"))
    try:
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
            check=True,
            capture_output=True,
        )
        try:
            yield target
        finally:
            subprocess.run(["umount", str(target)], check=True, capture_output=True)
    finally:
        target.rmdir()


def kernel_entries(view: Path) -> dict[str, os.stat_result]:
    """Every entry of a merged view but its root, by path inside it, lstat'ed."""
    out: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(view):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            out["/" + os.path.relpath(full, view)] = os.lstat(full)
    return out


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_merged_view(stack: LayerStack, view: Path, content_dirs: Mapping[str, Path]) -> int:
    """Every visible entry of our merged view against the kernel's: same paths, kinds,
    modes, owners, sizes, symlink targets, and each regular file's bytes (read from the
    layer we say it comes from) equal to the kernel's. Returns how many were compared."""
    kernel = kernel_entries(view)
    merged = {m.path: m for m in stack.walk() if m.path != "/"}
    assert set(merged) == set(kernel)
    for path, m in merged.items():
        st, e = kernel[path], m.entry
        what = f"{path} (from {m.layer_id[:12]})"
        assert _kind(st.st_mode) == ("dir" if e.kind.is_dir else str(e.kind)), what
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (
            stat.S_IMODE(e.mode),
            e.uid,
            e.gid,
        ), what
        if stat.S_ISDIR(st.st_mode):
            continue
        assert st.st_size == e.size, what
        in_layer = content_dirs[m.layer_id] / path.lstrip("/")
        if stat.S_ISLNK(st.st_mode):
            assert os.readlink(in_layer) == os.readlink(view / path.lstrip("/")), what
        elif stat.S_ISREG(st.st_mode):
            assert _sha256(in_layer) == _sha256(view / path.lstrip("/")), what
    return len(merged)


def resolve_in(view: Path, path: str) -> str:
    """`path` with its symlinks followed inside the view's root (an absolute target is
    taken from the view's root, `..` never climbs above it), as the container sees it."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        if name == ".":
            continue
        here = view.joinpath(*done, name)
        if here.is_symlink():
            hops += 1
            assert hops < 40, path
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(name)
    return "/" + "/".join(done)


def check_file_commands(
    capsys: pytest.CaptureFixture[str],
    store: PodmanStore,
    ref: str,
    view: Path,
    below: Path | None,
    paths: Sequence[str],
) -> None:
    """`where`, `ls`, `cat`, `diff` on `ref` against the kernel's view of it (`below`: the
    view without its top layer, for `diff`'s old side; None when there is nothing beneath)."""
    for path in paths:
        inside = view / path.lstrip("/")
        where = ours(capsys, store, "where", ref, path)
        assert where["visible"] is os.path.lexists(inside), path
        if not where["visible"]:
            continue
        winner = store.root / "overlay" / where["winner"] / "diff" / path.lstrip("/")
        st, won = os.lstat(inside), os.lstat(winner)
        assert (st.st_mode, st.st_size) == (won.st_mode, won.st_size), path
        assert [h["layer"] for h in where["stack"] if h["state"] == "wins"] == [where["winner"]]
        holders = [
            h["layer"] for h in where["stack"] if h["entry"] not in ("whiteout", "opaque-dir")
        ]
        assert all(
            os.path.lexists(store.root / "overlay" / lid / "diff" / path.lstrip("/"))
            for lid in holders
        ), path
        if stat.S_ISDIR(st.st_mode):
            listed = ours(capsys, store, "ls", ref, path)
            kernel = {e.name: e for e in os.scandir(inside)}
            assert {e["name"] for e in listed} == set(kernel), path
            for e in listed:
                kst = kernel[e["name"]].stat(follow_symlinks=False)
                entry = "dir" if e["entry"] == "opaque-dir" else e["entry"]
                assert entry == _kind(kst.st_mode), (path, e)
                if entry != "dir":
                    assert e["size"] == kst.st_size, (path, e)
            continue
        resolved = resolve_in(view, path)
        target = view / resolved.lstrip("/")
        if not target.is_file():
            continue
        cat = ours(capsys, store, "cat", ref, path)
        assert cat["resolved"] == resolved, path
        assert base64.b64decode(cat["data"]) == target.read_bytes(), path
        if stat.S_ISLNK(st.st_mode):
            continue  # `diff` compares the link itself
        diff = ours(capsys, store, "diff", ref, path)
        assert diff["new"]["sha256"] == _sha256(inside), path
        old = below / path.lstrip("/") if below is not None else None
        if old is None or not os.path.lexists(old):
            assert diff["old"] is None, path
        elif old.is_file() and not old.is_symlink():
            assert diff["old"]["sha256"] == _sha256(old), path
            assert diff["identical"] is (_sha256(old) == _sha256(inside)), path
        else:
            assert diff["old"]["entry"] == _kind(os.lstat(old).st_mode), path


# Paths whose views the scenario changed in some container or image, or that hold
# symlinks, hard links, whiteouts and opaque dirs.
SCENARIO_PATHS = (
    "/app",
    "/app/conf",
    "/app/conf/app.conf",
    "/app/conf/extra.conf",
    "/app/current.conf",
    "/app/lib",
    "/app/lib/app.conf.rel",
    "/app/lib/b.txt",
    "/app/data/big.txt",
    "/app/data/doomed.txt",
    "/app/cache",
    "/app/cache/old",
    "/app/tmpdir",
    "/app/logs",
    "/app/notes.txt",
    "/app/perm.txt",
    "/app/bin/tool-link",
    "/srv/www/index.html",
    "/opt/tool/run.sh",
    "/etc/hosts",
    "/etc/mtab",
    "/bin/sh",
)
