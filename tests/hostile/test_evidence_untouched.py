"""The inspected tree is left as it was: no scan cache in it, and no access time changed.

- The scan cache (scan/cache.py) is never written inside the root, whatever says where it
  goes: `XDG_CACHE_HOME` inside the root, a symlink outside that points inside (the cache
  home itself, or the `overlayscope` dir below it), or a bind mount of the root.
  Real commands and the TUI run on a copy of the captured root; a manifest of the root
  (every path: mode, owner, size, mtime, ctime, device, xattrs) is the same after.
- On a `strictatime` mount, where every read would update an atime, a full `audit`,
  `audit --images --hash`, `timeline --all --images --hash` and `df --containers` change no
  dir or regular file's atime, on a captured root of every store. Symlinks may change, as
  docs/hostile.md says: reading a target (`readlink`) updates the link's atime and the
  kernel has no O_NOATIME for it; only links in layers' content dirs and `l/` dirs do.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from overlayscope.root.load import load_host
from overlayscope.scan.cache import lies_inside
from overlayscope.tui.app import build_app
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot, unpack_snapshot
from tests.hostile.cli import assert_answered, cli_env, run_sub
from tests.hostile.evidence import atimes, bind_mount, copy_tree, manifest, tmpfs
from tests.tui.conftest import SIZE, settle

pytestmark = pytest.mark.root

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# Every command that scans layers, the ones that keep image layers in the scan cache first.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("df", "--containers"),
    ("layers",),
    ("containers",),
    ("container", "web"),
    ("where", "web", "/app/data/big.txt"),
    ("efficiency", "scope/app:1"),
    ("audit", "--images", "--hash"),
    ("timeline", "--all", "--images"),
)


def _run_all(root: Path, cache_home: Path) -> None:
    env = cli_env(XDG_CACHE_HOME=str(cache_home))
    for args in COMMANDS:
        run = run_sub("--offline", "--root", str(root), *args, env=env)
        assert_answered(run, {0})


async def _run_tui(root: Path, monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> None:
    """The TUI's measure path: the overview measures sizes, a container screen builds its
    stack, an image screen measures its efficiency (all through the scan cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    host = load_host(str(root))
    web = next(c for c in host.containers.values() if c.name == "web")
    app_image = next(i for i in host.images.values() if "scope/app:1" in i.tags)
    for focus in (web, app_image):
        app = build_app(lambda: (host, "copy of the captured root"), focus=focus)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("q")


def _scan_files(tree: Path) -> list[Path]:
    return [p for p in tree.rglob("*") if p.name.endswith(".scan") or p.name == "overlayscope"]


@pytest.fixture
def root_copy(captured_root: CapturedRoot, tmp_path: Path) -> Path:
    return copy_tree(captured_root.path, tmp_path / "root")


def test_the_commands_do_fill_a_cache_outside_the_root(root_copy: Path, tmp_path: Path) -> None:
    """The control: with the cache outside, these commands do write entries, so their
    absence below is the refusal's doing."""
    home = tmp_path / "outside"
    _run_all(root_copy, home)
    assert len(list((home / "overlayscope" / "scan-cache").glob("*.scan"))) >= 5


@pytest.mark.parametrize(
    "where", ["xdg-inside", "symlinked-cache-home", "symlinked-cache-dir", "bind-mount"]
)
async def test_the_scan_cache_is_never_written_inside_the_root(
    root_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    with ExitStack() as stack:
        if where == "xdg-inside":
            home = root_copy / "tmp" / "xdg"
        elif where == "symlinked-cache-home":
            os.symlink(root_copy / "tmp", tmp_path / "link")
            home = tmp_path / "link"
        elif where == "symlinked-cache-dir":
            # the cache home is outside, but its overlayscope/ is a link to a dir of the root
            (root_copy / "tmp" / "ovs").mkdir()
            home = tmp_path / "home"
            home.mkdir()
            os.symlink(root_copy / "tmp" / "ovs", home / "overlayscope")
        else:
            bound = stack.enter_context(bind_mount(root_copy, tmp_path / "bound"))
            home = bound / "tmp" / "xdg"
        assert lies_inside(str(home / "overlayscope" / "scan-cache"), [str(root_copy)])
        before = manifest(root_copy)
        _run_all(root_copy, home)
        await _run_tui(root_copy, monkeypatch, home)
        assert _scan_files(root_copy) == []
        assert manifest(root_copy) == before


@pytest.mark.parametrize(
    ("layout", "inside"),
    [
        ("root/cache", True),  # plainly inside
        ("root", True),  # the root itself
        ("root-sibling/cache", False),  # a sibling whose name starts like the root's
        ("elsewhere/cache", False),
        ("link-to-root/cache", True),  # through a symlink to the root
        ("link-to-root/not/yet/made", True),  # ancestors that do not exist yet
        ("dangling-into-root/cache", True),  # a link to a path in the root not made yet
        ("link-elsewhere/cache", False),
    ],
)
def test_lies_inside_resolves_symlinks_of_the_cache_path(
    tmp_path: Path, layout: str, inside: bool
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "root-sibling").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(root, tmp_path / "link-to-root")
    os.symlink(root / "later", tmp_path / "dangling-into-root")
    os.symlink(tmp_path / "elsewhere", tmp_path / "link-elsewhere")
    assert lies_inside(str(tmp_path / layout), [str(tmp_path / "elsewhere-root"), str(root)]) is (
        inside
    )


def test_lies_inside_sees_a_bind_mount_of_the_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        skip_or_fail("needs root to bind-mount")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    with bind_mount(root, tmp_path / "bound") as bound:
        # realpath says /…/bound/sub/cache, no prefix of the root: the identity tells
        assert lies_inside(str(bound / "sub" / "cache"), [str(root)])
        assert not lies_inside(str(tmp_path / "other" / "cache"), [str(root)])


# -- access times on a strictatime mount --------------------------------------------------

# store → (archive under fixtures/, the root to pass inside the unpacked tree)
STORES = {
    "overlay2": ("snapshot/dataroot.tar.xz", "."),
    "containerd": ("containerd/root.tar.xz", "docker"),
    "podman-rootful": ("podman/rootful.tar.xz", "."),
    "podman-rootless": ("podman/rootless.tar.xz", "."),
    "legacy-overlay": ("legacy-overlay/root.tar.xz", "."),
}
ATIME_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("audit",),
    ("audit", "--images", "--hash"),
    ("timeline", "--all", "--images", "--hash"),
    ("df", "--containers"),
)


@pytest.fixture
def strictatime(tmp_path: Path) -> Iterator[Path]:
    """A strictatime tmpfs, shown to update atimes on a plain read and a plain listing."""
    if os.geteuid() != 0:
        skip_or_fail("needs root to mount a tmpfs")
    with tmpfs(tmp_path / "mnt", "strictatime") as mnt:
        control = mnt / "control"
        (control / "dir").mkdir(parents=True)
        (control / "file").write_bytes(b"x")
        os.utime(control / "file", ns=(10**9, 10**9))
        os.utime(control / "dir", ns=(10**9, 10**9))
        (control / "file").read_bytes()
        os.listdir(control / "dir")
        assert os.lstat(control / "file").st_atime_ns > 10**9, "a read did not update atime"
        assert os.lstat(control / "dir").st_atime_ns > 10**9, "a listing did not update atime"
        yield mnt


@pytest.mark.parametrize("store", sorted(STORES))
def test_no_dir_or_file_atime_changes_on_a_strictatime_mount(strictatime: Path, store: str) -> None:
    archive, inner = STORES[store]
    unpacked = unpack_snapshot(FIXTURES / archive, strictatime / "evidence")
    root = unpacked / inner
    host = load_host(str(root))
    content_dirs = [Path(layer.content_dir) for layer in host.layers.values() if layer.content_dir]
    before_all = manifest(unpacked)
    for args in ATIME_COMMANDS:
        before = atimes(unpacked)
        run = run_sub("--offline", "--root", str(root), *args, env=cli_env())
        assert_answered(run, {0})
        after = atimes(unpacked)
        assert after.keys() == before.keys()
        changed = [rel for rel in before if after[rel] != before[rel]]
        not_links = [rel for rel in changed if before[rel][0] != stat.S_IFLNK]
        assert not_links == [], f"{' '.join(args)} changed atimes of {not_links[:10]}"
        for rel in changed:  # symlinks: only those whose targets are read, as documented
            path = unpacked / rel
            in_layer = any(path.is_relative_to(d) for d in content_dirs)
            assert in_layer or path.parent.name == "l", f"{' '.join(args)}: symlink {rel}"
    assert manifest(unpacked) == before_all
