"""Fuzzing the union engine: random layer stacks against the invariants of overlayfs lookup.

Hypothesis builds stacks of 1-4 layers over a small name space (hostile names included:
ESC, a newline, a byte that is not UTF-8), with files, dirs, opaque dirs, whiteouts and
symlinks (loops included), then checks what must hold whatever the stack:

- `provenance(p).winner` is `lookup(p)`/`winner(p)`, for every path any layer holds;
- `walk()` is exactly the visible paths, each once, parents first, no whiteout;
  `listdir(d)` is exactly d's children in the walk (so listdir ⊆ walk);
- a visible path's parent is a visible dir; at most one hit wins;
- `changes` of a stack whose top layer is empty is empty; every change is where its kind
  says (A: new only, D: old only, C: both), sorted, unique, and its parent dir is listed;
- `resolve_merged` either answers with a visible, symlink-free path or raises one of
  overlayscope's own errors (a loop: `UnsafePath`), never anything else.

In memory (fast, many examples) and on disk (real files scanned by the real scanner).
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlayscope.errors import OverlayscopeError, UnsafePath
from overlayscope.scan import scan_tree
from overlayscope.scan.entry import Entry, Kind, LayerIndex, OverlayXattrs, join, parent_of
from overlayscope.union import LayerStack, changes, resolve_merged
from tests.hostile.fuzzing import fuzz_settings

NAMES = ["a", "b", "c\x1b[2J", "new\nline", "x\udcff"]  # \udcff: the byte 0xff on disk
KINDS = ["file", "dir", "opaque", "whiteout", "symlink"]
IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Spec:
    kind: str
    size: int = 0
    mtime: int = 0
    mode: int = 0o644
    target: str = ""


Layer = dict[str, Spec]


def _paths(depth: int = 3) -> list[str]:
    out, level = [], ["/"]
    for _ in range(depth):
        level = [join(p, n) for p in level for n in NAMES]
        out += level
    return out


PATHS = _paths()
TARGETS = st.sampled_from(
    [p for p in PATHS[:30]] + ["..", "../..", "a/../b", "/", "a", "/nowhere", "b/c\x1b[2J"]
)
SPECS = st.builds(
    Spec,
    kind=st.sampled_from(KINDS),
    size=st.integers(0, 3),
    mtime=st.integers(0, 2),
    mode=st.sampled_from([0o644, 0o600, 0o755]),
    target=TARGETS,
)


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    """One layer: entries at random paths, parents made dirs, nothing under a non-dir."""
    chosen = draw(st.dictionaries(st.sampled_from(PATHS), SPECS, max_size=12))
    layer: Layer = {}
    for path in sorted(chosen, key=lambda p: p.count("/")):
        parent = parent_of(path)
        blocked = False
        while parent != "/":
            if parent in layer and layer[parent].kind not in ("dir", "opaque"):
                blocked = True
            parent = parent_of(parent)
        if blocked:
            continue
        parent = parent_of(path)
        while parent != "/" and parent not in layer:
            layer[parent] = Spec("dir", mode=0o755)
            parent = parent_of(parent)
        if path in layer:  # made a parent dir already: keep it one
            continue
        layer[path] = chosen[path]
    return layer


STACKS = st.lists(layers(), min_size=1, max_size=4)

_MODE = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "opaque": stat.S_IFDIR,
    "whiteout": stat.S_IFCHR,
    "symlink": stat.S_IFLNK,
}
_KIND = {
    "file": Kind.FILE,
    "dir": Kind.DIR,
    "opaque": Kind.OPAQUE_DIR,
    "whiteout": Kind.WHITEOUT,
    "symlink": Kind.SYMLINK,
}


def index_of(layer: Layer, name: str) -> LayerIndex:
    entries: dict[str, Entry] = {"/": _entry("/", Spec("dir", mode=0o755), 0)}
    children: dict[str, list[str]] = {"/": []}
    for i, (path, spec) in enumerate(sorted(layer.items(), key=lambda kv: os.fsencode(kv[0]))):
        entries[path] = _entry(path, spec, i + 1)
        children.setdefault(parent_of(path), []).append(path)
        if spec.kind in ("dir", "opaque"):
            children.setdefault(path, [])
    return LayerIndex(f"/nonexistent/{name}/diff", entries, children)


def _entry(path: str, spec: Spec, ino: int) -> Entry:
    kind = _KIND[spec.kind]
    size = len(os.fsencode(spec.target)) if kind is Kind.SYMLINK else spec.size
    return Entry(
        path=path,
        kind=kind,
        mode=_MODE[spec.kind] | (0o777 if kind is Kind.SYMLINK else spec.mode),
        uid=0,
        gid=0,
        size=0 if kind is Kind.WHITEOUT else size,
        blocks=0,
        mtime_ns=spec.mtime * 1_000_000_000,
        ctime_ns=0,
        ino=ino,
        nlink=1,
        target=spec.target if kind is Kind.SYMLINK else None,
        xattrs=OverlayXattrs(opaque=True) if kind is Kind.OPAQUE_DIR else None,
    )


def stack_of(specs: list[Layer]) -> LayerStack:
    return LayerStack.of(
        (f"L{i}", "rw" if i == 0 else "image", index_of(layer, f"L{i}"))
        for i, layer in enumerate(specs)
    )


# -- the invariants ---------------------------------------------------------------------------


def check_stack(stack: LayerStack) -> None:
    resolutions = list(stack.resolutions())
    held = [r.path for r in resolutions]
    assert len(held) == len(set(held))
    visible: set[str] = set()
    for res in resolutions:
        prov = stack.provenance(res.path)
        found = stack.lookup(res.path)
        winner = stack.winner(res.path)
        assert prov.winner == winner == res.winner
        assert prov.visible == (found is not None) == (winner is not None)
        if winner is not None:
            assert found == (winner.entry, winner.layer_id)
            assert winner.entry.kind is not Kind.WHITEOUT
            visible.add(res.path)
        wins = [h for h in prov.stack if str(h.state) == "wins"]
        assert len(wins) == (1 if winner is not None else 0)
        assert [h.position for h in prov.stack] == sorted({h.position for h in prov.stack})
    walked = [m.path for m in stack.walk()]
    assert len(walked) == len(set(walked)), "walk lists a path twice"
    assert set(walked) == visible
    seen: set[str] = set()
    for merged in stack.walk():
        assert merged.entry.kind is not Kind.WHITEOUT
        assert merged.path == "/" or parent_of(merged.path) in seen, "walk: child before parent"
        seen.add(merged.path)
        assert stack.lookup(merged.path) == (merged.entry, merged.layer_id)
        if merged.path != "/":
            parent = stack.lookup(parent_of(merged.path))
            assert parent is not None and parent[0].kind.is_dir
        if merged.entry.kind.is_dir:
            listing = {e.path for e in stack.listdir(merged.path)}
            assert listing <= set(walked)
            assert listing == {p for p in walked if p != "/" and parent_of(p) == merged.path}
    for path in PATHS[:40]:
        _check_resolve(stack, path)


def _check_resolve(stack: LayerStack, path: str) -> None:
    try:
        where = resolve_merged(stack, path)
    except OverlayscopeError:
        return  # PathNotFound or UnsafePath (a loop): one clear error
    found = stack.lookup(where.path)
    assert found is not None and found[0] == where.entry
    parts = where.path.strip("/").split("/") if where.path != "/" else []
    for i in range(1, len(parts)):
        prefix = "/" + "/".join(parts[:i])
        hit = stack.lookup(prefix)
        assert hit is not None and hit[0].kind.is_dir, f"{where.path}: {prefix} not a dir"
    assert where.entry.kind is not Kind.SYMLINK


def check_changes(stack: LayerStack) -> None:
    found = changes(stack, compare_content=False)
    paths = [c.path for c in found]
    assert paths == sorted(paths, key=os.fsencode) and len(paths) == len(set(paths))
    below = stack.below()
    kinds = {c.path: str(c.kind) for c in found}
    for change in found:
        now, before = stack.lookup(change.path), below.lookup(change.path)
        if change.kind == "D":
            assert now is None and before is not None, change
        elif change.kind == "A":
            assert now is not None, change
        else:
            assert now is not None and before is not None, change
        parent = parent_of(change.path)
        if parent != "/":
            assert kinds.get(parent) in ("A", "C"), f"{change.path}: parent {parent} unlisted"


@given(STACKS)
@fuzz_settings(scale=5)
def test_random_stacks_keep_the_lookup_invariants(specs: list[Layer]) -> None:
    stack = stack_of(specs)
    check_stack(stack)
    if len(specs) > 1:
        check_changes(stack)


@given(st.lists(layers(), min_size=1, max_size=3))
@fuzz_settings(scale=5)
def test_an_empty_top_layer_changes_nothing(specs: list[Layer]) -> None:
    stack = stack_of([{}, *specs])
    assert changes(stack, compare_content=False) == []
    assert changes(stack) == []


@given(STACKS, st.sampled_from(PATHS[:20]))
@fuzz_settings(scale=5)
def test_a_symlink_loop_is_unsafe_path(specs: list[Layer], path: str) -> None:
    """Two links naming each other on top of any stack: resolving either is UnsafePath."""
    top = dict(specs[0])
    for p in [k for k in top if k.startswith(("/loop1", "/loop2"))]:
        del top[p]
    top["/loop1"] = Spec("symlink", target="loop2")
    top["/loop2"] = Spec("symlink", target="/loop1")
    stack = stack_of([top, *specs[1:]])
    for start in ("/loop1", "/loop2", "/loop1/a", "/loop2/../loop1"):
        with pytest.raises(UnsafePath):
            resolve_merged(stack, start)
    check_stack(stack)


# -- the same on disk, through the real scanner --------------------------------------------


def materialize(layer: Layer, diff: Path) -> None:
    diff.mkdir(parents=True)
    for path, spec in sorted(layer.items(), key=lambda kv: kv[0].count("/")):
        where = os.fsencode(diff) + os.fsencode(path)
        if spec.kind in ("dir", "opaque"):
            os.mkdir(where, spec.mode)
            if spec.kind == "opaque":
                os.setxattr(where, "trusted.overlay.opaque", b"y")
        elif spec.kind == "file":
            with open(where, "wb") as f:
                f.write(b"x" * spec.size)
            os.chmod(where, spec.mode)
        elif spec.kind == "whiteout":
            os.mknod(where, stat.S_IFCHR, os.makedev(0, 0))
        else:
            os.symlink(os.fsencode(spec.target), where)
        if spec.kind != "symlink":
            os.utime(where, ns=(0, spec.mtime * 1_000_000_000))


@pytest.mark.skipif(not IS_ROOT, reason="whiteouts and trusted.* xattrs need root")
@given(STACKS)
@fuzz_settings(scale=1)
def test_random_stacks_on_disk(specs: list[Layer]) -> None:
    with tempfile.TemporaryDirectory(prefix="overlayscope-fuzz-") as tmp:
        indexes = []
        for i, layer in enumerate(specs):
            diff = Path(tmp) / f"L{i}" / "diff"
            materialize(layer, diff)
            indexes.append((f"L{i}", "rw" if i == 0 else "image", scan_tree(diff)))
        stack = LayerStack.of(indexes)
        for _, _, index in indexes:
            assert not index.problems
        check_stack(stack)
        if len(specs) > 1:
            check_changes(stack)
            changes(stack)  # with content comparison: reads the real files
