"""The union engine against the kernel: random layer stacks, mounted for real.

Each example writes 2-4 random layers (files, dirs, opaque dirs, whiteouts,
symlinks) as real trees, scans them with `scan_tree`, mounts them read-only
with overlayfs, and checks that the merged tree `LayerStack` computes is the
kernel's, path by path: the kind, and which layer shows (a file's data and a
symlink's target name their layer, a dir's mtime is its layer's).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayscope.scan import scan_tree
from overlayscope.scan.entry import Kind
from overlayscope.union import LayerStack, StackLayer
from tests.union.builders import materialize
from tests.union.kernel import mounted_overlay, overlay_base_dir

pytestmark = pytest.mark.root

# A soak run: OVERLAYSCOPE_UNION_EXAMPLES=5000 pytest tests/union/test_kernel_property.py
EXAMPLES = int(os.environ.get("OVERLAYSCOPE_UNION_EXAMPLES", "60"))
NAMES = ("a", "b", "c")
MAX_DEPTH = 3
S = 1_000_000_000


@st.composite
def layer_lines(draw: st.DrawFn, layer: int) -> list[str]:
    """Spec lines for one random layer; every dir's mtime names the layer."""
    mtime = f"mtime={(layer + 1) * 1000 * S}"

    def subtree(prefix: str, depth: int) -> list[str]:
        lines: list[str] = []
        for name in NAMES:
            path = f"{prefix}/{name}"
            choices = "--fdowl" if depth < MAX_DEPTH else "--fwl"
            kind = draw(st.sampled_from(choices))
            if kind == "f":
                lines.append(f"f {path}")
            elif kind == "w":
                lines.append(f"w {path}")
            elif kind == "l":
                lines.append(f"l {path} -> L{layer}")
            elif kind in "do":
                lines.append(f"{kind} {path} {mtime}")
                lines.extend(subtree(path, depth + 1))
        return lines

    return subtree("", 1)


stacks = st.integers(min_value=2, max_value=4).flatmap(
    lambda n: st.tuples(*(layer_lines(i) for i in range(n)))
)


def kernel_view(mount: Path) -> tuple[dict[str, tuple[str, object]], set[str]]:
    """path -> (kind, what shows) for every entry the kernel lets us lstat; and the ghosts."""
    view: dict[str, tuple[str, object]] = {"/": ("dir", mount.lstat().st_mtime_ns)}
    ghosts: set[str] = set()
    todo = [mount]
    while todo:
        here = todo.pop()
        with os.scandir(here) as it:
            for dirent in it:
                rel = "/" + os.path.relpath(dirent.path, mount)
                try:
                    st_ = os.lstat(dirent.path)
                except FileNotFoundError:
                    # readdir of a dir that is not merged lists whiteouts that lookup hides.
                    ghosts.add(rel)
                    continue
                if stat.S_ISDIR(st_.st_mode):
                    view[rel] = ("dir", st_.st_mtime_ns)
                    todo.append(Path(dirent.path))
                elif stat.S_ISLNK(st_.st_mode):
                    view[rel] = ("symlink", os.readlink(dirent.path))
                elif stat.S_ISREG(st_.st_mode):
                    view[rel] = ("file", Path(dirent.path).read_text())
                else:
                    view[rel] = ("other", st_.st_rdev)
    return view, ghosts


def engine_view(stack: LayerStack) -> dict[str, tuple[str, object]]:
    view: dict[str, tuple[str, object]] = {}
    for merged in stack.walk():
        entry = merged.entry
        if entry.kind.is_dir:
            view[merged.path] = ("dir", entry.mtime_ns)
        elif entry.kind is Kind.SYMLINK:
            view[merged.path] = ("symlink", entry.target)
        elif entry.kind is Kind.FILE:
            view[merged.path] = ("file", f"{merged.layer_id}:{merged.path}")
        else:
            view[merged.path] = ("other", entry.rdev)
    return view


@pytest.fixture(scope="module")
def base_dir() -> Path:
    base, why = overlay_base_dir()
    if base is None:
        pytest.skip(why)
    return base


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(layers=stacks)
def test_merged_tree_matches_the_kernel(base_dir: Path, layers: tuple[list[str], ...]) -> None:
    work = Path(tempfile.mkdtemp(prefix="overlayscope-union-", dir=base_dir))
    try:
        dirs = []
        for i, lines in enumerate(layers):
            layer_dir = materialize(work / f"L{i}", lines, layer_id=f"L{i}")
            root_mtime = (i + 1) * 1000 * S
            os.utime(layer_dir, ns=(root_mtime, root_mtime))
            dirs.append(layer_dir)
        stack = LayerStack(
            tuple(StackLayer(f"L{i}", "image", scan_tree(d)) for i, d in enumerate(dirs))
        )
        mount = work / "merged"
        mount.mkdir()
        with mounted_overlay(dirs, mount):
            kernel, ghosts = kernel_view(mount)
            # Lookups of every path any layer holds, hidden ones included.
            every_path = {p for layer in stack.layers for p in layer.index.entries}
            kernel_lookups = {p: os.path.lexists(mount / p.lstrip("/")) for p in every_path}
        assert engine_view(stack) == kernel
        resolutions = list(stack.resolutions())
        assert [r.path for r in resolutions if r.visible] == [m.path for m in stack.walk()]
        assert sorted(r.path for r in resolutions) == sorted(every_path)
        for path, exists in kernel_lookups.items():
            assert (stack.lookup(path) is not None) is exists, path
            assert stack.provenance(path).visible is exists, path
        for ghost in ghosts:
            assert stack.lookup(ghost) is None
            assert any(
                (e := layer.index.get(ghost)) is not None and e.kind is Kind.WHITEOUT
                for layer in stack.layers
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
