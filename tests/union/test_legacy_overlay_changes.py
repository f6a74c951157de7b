"""Changes and provenance on Docker's legacy `overlay` driver, against the real engine.

What a container changed must be exactly `docker diff`. Where a path comes from is held to
three oracles: the layer tarballs the engine itself gives (`docker save`: the topmost layer
holding a path is the one that wins, a `.wh.` entry deletes it), the Dockerfile (which step
created or last changed it, `APP_PATHS`), and the kernel's own merged view (a read-only
overlay mount of the image's top `root/`, or of a stopped container's `upper/` over it; a
running container's `merged/`).
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.load import load_host
from overlayscope.root.model import Host
from overlayscope.union import LayerStack, read_merged
from overlayscope.union.host_stacks import build_stack
from tests.conftest import skip_or_fail
from tests.legacy_overlay_engine import (
    APP,
    APP_DELETED,
    APP_PATHS,
    CONTAINERS,
    DANGLE,
    TOOL,
    LegacyScenario,
    dir_id,
    legacy_overlay,
)
from tests.legacy_overlay_oracles import (
    SavedLayer,
    kernel_tree,
    kind_of,
    saved_layers,
    tar_winners,
)
from tests.root.cli_helpers import run_json, run_text
from tests.union.kernel import mounted_overlay, overlay_base_dir

pytestmark = pytest.mark.engine
__all__ = ["legacy_overlay"]  # the fixture, for pytest

_KIND = {0: "C", 1: "A", 2: "D"}


@pytest.fixture(scope="module")
def host(legacy_overlay: LegacyScenario) -> Host:
    return load_host(str(legacy_overlay.data_root))


@pytest.fixture(scope="module")
def kernel_dir() -> Path:
    base, why = overlay_base_dir()
    if base is None:
        skip_or_fail(why)
    assert base is not None
    return base


def _cli(capsys: pytest.CaptureFixture[str], scenario: LegacyScenario, *args: str) -> Any:
    code, out = run_json(capsys, "--offline", "--root", str(scenario.data_root), *args)
    assert code == 0, out
    return out


# --------------------------------------------------------------------------- docker diff


@pytest.mark.parametrize("name", CONTAINERS)
def test_container_is_docker_diff(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    expected = sorted(
        (c["Path"], _KIND[c["Kind"]]) for c in legacy_overlay.engine.client.api.diff(name) or []
    )
    got = _cli(capsys, legacy_overlay, "container", name)
    assert isinstance(got, dict)
    changes = [(c["path"], c["kind"]) for c in got["changes"]]
    assert sorted(changes) == expected
    assert [c[0].encode() for c in changes] == sorted(c[0].encode() for c in changes)
    [inspected] = legacy_overlay.engine.inspect(name)
    rw = dir_id(inspected["GraphDriver"]["Data"]["UpperDir"])
    assert [layer["id"] for layer in got["layers"][:2]] == [rw, rw + "-init"]
    if name != "fresh":
        assert expected, "every container but `fresh` changed something"


def test_a_fresh_containers_rw_layer_is_a_copy_of_its_init_layer(
    legacy_overlay: LegacyScenario,
) -> None:
    """moby's `Create`: the rw `upper/` starts as a copy (new inodes, same stat) of the init
    layer's, which is why the rw layer alone is not what the container changed."""
    [inspected] = legacy_overlay.engine.inspect("fresh")
    upper = Path(inspected["GraphDriver"]["Data"]["UpperDir"])
    init_upper = upper.parent.with_name(upper.parent.name + "-init") / "upper"
    rw, init = _stats(upper), _stats(init_upper)
    assert set(rw) == set(init) and len(rw) > 3  # /.dockerenv, /etc/hosts, … and their dirs
    for path, (kind, ino, size, mtime) in rw.items():
        assert init[path][0] == kind and init[path][2:] == (size, mtime), path
        if kind == "file":
            assert ino != init[path][1], f"{path} is a copy, not a link"
    assert legacy_overlay.engine.client.api.diff("fresh") in (None, [])


def _stats(top: Path) -> dict[str, tuple[str, int, int, int]]:
    """path → (kind, inode, size, mtime_ns) of everything under `top`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            kind = kind_of(st.st_mode)
            rel = "/" + os.path.relpath(os.path.join(dirpath, name), top)
            out[rel] = (kind, st.st_ino, 0 if kind == "dir" else st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- provenance


@pytest.fixture(scope="module")
def saved(
    legacy_overlay: LegacyScenario, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[SavedLayer]]:
    scratch = tmp_path_factory.mktemp("saved")
    return {
        image: saved_layers(legacy_overlay.engine, image, scratch) for image in (APP, TOOL, DANGLE)
    }


def _image_stack(host: Host, image_id: str) -> LayerStack:
    return build_stack(host, host.images[image_id])


@pytest.mark.parametrize("tag", [APP, TOOL, DANGLE])
def test_every_paths_winner_is_the_topmost_layer_tarball_holding_it(
    legacy_overlay: LegacyScenario,
    host: Host,
    saved: dict[str, list[SavedLayer]],
    tag: str,
) -> None:
    image = host.images[legacy_overlay.images[tag]]
    assert [layer.diff_id for layer in saved[tag]] == [il.diff_id for il in image.layers]
    ids = [il.id or "" for il in image.layers]
    expected = tar_winners(list(zip(ids, saved[tag], strict=True)))
    stack = _image_stack(host, image.id)
    ours = {m.path: m.layer_id for m in stack.walk() if m.path != "/"}
    assert set(ours) == set(expected)
    wrong = {p: (ours[p][:12], expected[p][:12]) for p in ours if ours[p] != expected[p]}
    assert wrong == {}, "path: (our winner, the tarballs')"


_TAR_KIND = {
    "file": "file",
    "hardlink": "file",
    "dir": "dir",
    "symlink": "symlink",
    "other": "other",
}


@pytest.mark.parametrize("tag", [APP, TOOL, DANGLE])
def test_each_layers_derived_diff_is_its_tarball(
    legacy_overlay: LegacyScenario,
    host: Host,
    saved: dict[str, list[SavedLayer]],
    tag: str,
) -> None:
    """A full tree over another becomes exactly what the layer's tarball holds: the same
    paths, files as files (a tar hard link too), dirs, symlinks, and a whiteout where the
    tarball has a `.wh.` entry."""
    image = host.images[legacy_overlay.images[tag]]
    stack = _image_stack(host, image.id)
    for layer, tarball in zip(reversed(stack.layers), saved[tag], strict=True):
        ours = {
            path: "whiteout" if e.kind.value == "whiteout" else "dir" if e.kind.is_dir
            else e.kind.value
            for path, e in layer.index.entries.items()
            if path != "/"
        }  # fmt: skip
        theirs = {p: _TAR_KIND[k] for p, k in tarball.entries.items()}
        theirs.update((p, "whiteout") for p in tarball.whiteouts)
        assert ours == theirs, legacy_overlay.step_of(layer.id) if tag == APP else layer.id


def test_where_names_the_step_that_last_changed_each_path(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    for path, step in APP_PATHS.items():
        got = _cli(capsys, legacy_overlay, "where", APP, path)
        assert isinstance(got, dict)
        assert got["visible"], path
        assert got["winner"] == legacy_overlay.steps[step], (path, step)
        hidden = [h for h in got["stack"] if h["state"] != "wins"]
        assert all(h["state"] == "hidden-by-file" for h in hidden), path
        assert len(got["stack"]) == 1 + len(hidden)


def test_where_hides_deleted_paths_behind_the_deleting_steps_whiteout(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    for path, step in APP_DELETED.items():
        got = _cli(capsys, legacy_overlay, "where", APP, path)
        assert isinstance(got, dict)
        assert not got["visible"] and got["winner"] is None, path
        top, *below = got["stack"]
        assert (top["layer"], top["state"], top["entry"]) == (
            legacy_overlay.steps[step],
            "whiteout",
            "whiteout",
        ), path
        assert [h["layer"] for h in below] == [legacy_overlay.steps["tree"]], path
        assert below[0]["state"] == "hidden-by-whiteout"
        assert below[0]["hidden_by"] == {
            "layer": legacy_overlay.steps[step],
            "path": path,
            "kind": "whiteout",
        }
    # beneath a deleted dir: hidden by its parent's whiteout
    got = _cli(capsys, legacy_overlay, "where", APP, "/app/junk/sub/k.txt")
    assert isinstance(got, dict) and not got["visible"]
    [hit] = got["stack"]
    assert hit["layer"] == legacy_overlay.steps["tree"]
    assert hit["hidden_by"] == {
        "layer": legacy_overlay.steps["changes"],
        "path": "/app/junk",
        "kind": "whiteout",
    }


def test_an_init_stub_the_container_deleted_stays_deleted(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm /.dockerenv` left no whiteout (the rw mount's only lower is the image, which has
    none); the init layer beneath in our stack must not bring it back."""
    [inspected] = legacy_overlay.engine.inspect("stubs")
    upper = Path(inspected["GraphDriver"]["Data"]["UpperDir"])
    assert not os.path.lexists(upper / ".dockerenv")
    assert os.path.lexists(upper.parent.with_name(upper.parent.name + "-init") / "upper/.dockerenv")
    got = _cli(capsys, legacy_overlay, "where", "stubs", "/.dockerenv")
    assert not got["visible"]
    assert [(h["role"], h["state"]) for h in got["stack"]] == [
        ("rw", "whiteout"),
        ("init", "hidden-by-whiteout"),
    ]
    listed = {e["name"] for e in _cli(capsys, legacy_overlay, "ls", "stubs", "/")}
    assert ".dockerenv" not in listed and "bin" in listed


# --------------------------------------------------------------------------- kernel views


@pytest.fixture(scope="module")
def image_mount(legacy_overlay: LegacyScenario, kernel_dir: Path) -> Iterator[Path]:
    """The app image as the kernel shows it: a read-only overlay of its top `root/` (under
    an empty dir: overlayfs wants two lower dirs without an upper)."""
    [inspected] = legacy_overlay.engine.inspect(APP)
    root = Path(inspected["GraphDriver"]["Data"]["RootDir"])
    work = kernel_dir / f"overlayscope-legacy-{os.getpid()}"
    (work / "empty").mkdir(parents=True)
    (work / "image").mkdir()
    try:
        with mounted_overlay([work / "empty", root], work / "image") as merged:
            yield merged
    finally:
        for d in ("empty", "image"):
            (work / d).rmdir()
        work.rmdir()


@contextlib.contextmanager
def _container_mount(scenario: LegacyScenario, name: str, kernel_dir: Path) -> Iterator[Path]:
    """A container that does not run, as the kernel shows it: its `upper/` over
    `LowerDir`, read-only, the way dockerd mounts it (`lowerdir=` the image's top `root/`
    alone: the init layer is not beneath)."""
    [inspected] = scenario.engine.inspect(name)
    data = inspected["GraphDriver"]["Data"]
    target = kernel_dir / f"overlayscope-legacy-{name}-{os.getpid()}"
    target.mkdir()
    try:
        with mounted_overlay([Path(data["UpperDir"]), Path(data["LowerDir"])], target) as merged:
            yield merged
    finally:
        target.rmdir()


@pytest.fixture(scope="module")
def stopped_mount(legacy_overlay: LegacyScenario, kernel_dir: Path) -> Iterator[Path]:
    with _container_mount(legacy_overlay, "stopped", kernel_dir) as merged:
        yield merged


def _ours(stack: LayerStack) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for m in stack.walk():
        if m.path != "/":
            kind = kind_of(m.entry.mode)
            out[m.path] = (kind, 0 if kind == "dir" else m.entry.size)
    return out


def _same_as_kernel(stack: LayerStack, merged: Path) -> None:
    tree = kernel_tree(merged)
    assert _ours(stack) == tree
    for path, (kind, _) in tree.items():
        on_kernel = merged / path.lstrip("/")
        if kind == "file":
            assert read_merged(stack, path) == on_kernel.read_bytes(), path
        elif kind == "symlink":
            found = stack.lookup(path)
            assert found is not None and found[0].target == os.readlink(on_kernel), path


def test_image_merged_view_is_the_kernels(host: Host, image_mount: Path) -> None:
    app = next(i for i in host.images.values() if APP in i.tags)
    _same_as_kernel(_image_stack(host, app.id), image_mount)


@pytest.mark.parametrize("name", ["stopped", "stubs", "tool-exited", "fresh"])
def test_container_merged_view_is_the_kernels(
    legacy_overlay: LegacyScenario, host: Host, kernel_dir: Path, name: str
) -> None:
    stack = build_stack(host, host.containers[legacy_overlay.containers[name]])
    with _container_mount(legacy_overlay, name, kernel_dir) as merged:
        _same_as_kernel(stack, merged)


def test_running_container_merged_view_is_the_kernels(
    legacy_overlay: LegacyScenario, host: Host
) -> None:
    [inspected] = legacy_overlay.engine.inspect("web")
    assert inspected["State"]["Running"]
    stack = build_stack(host, host.containers[legacy_overlay.containers["web"]])
    _same_as_kernel(stack, Path(inspected["GraphDriver"]["Data"]["MergedDir"]))


@pytest.mark.parametrize("name", ["web", "stopped"])
def test_container_winners_are_its_upper_dir_then_the_images_tarballs(
    legacy_overlay: LegacyScenario,
    host: Host,
    saved: dict[str, list[SavedLayer]],
    name: str,
) -> None:
    """In a container, what its `upper/` holds wins (the init layer's stubs were copied
    there); everything else comes from the image as its tarballs say."""
    container = host.containers[legacy_overlay.containers[name]]
    [inspected] = legacy_overlay.engine.inspect(name)
    upper = Path(inspected["GraphDriver"]["Data"]["UpperDir"])
    image = host.images[container.image_id]
    image_winner = tar_winners(
        list(zip([il.id or "" for il in image.layers], saved[APP], strict=True))
    )
    stack = build_stack(host, container)
    for m in stack.walk():
        if m.path == "/":
            continue
        if os.path.lexists(upper / m.path.lstrip("/")):
            assert (m.layer_id, m.role) == (container.layer, "rw"), m.path
        else:
            assert m.layer_id == image_winner[m.path], m.path


def test_where_ls_cat_in_a_container_agree_with_the_kernel(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str], stopped_mount: Path
) -> None:
    steps = legacy_overlay.steps
    [inspected] = legacy_overlay.engine.inspect("stopped")
    rw = dir_id(inspected["GraphDriver"]["Data"]["UpperDir"])
    _ls_and_cat_agree(capsys, legacy_overlay, "stopped", stopped_mount)
    by_name = {e["name"]: e for e in _cli(capsys, legacy_overlay, "ls", "stopped", "/app/lib")}
    assert "b.txt" not in by_name  # the container removed it
    assert by_name["a.txt"]["layer"] == steps["tree"]
    assert by_name["p1"]["layer"] == by_name["p2"]["layer"] == steps["links"]
    assert by_name["app.conf.rel"]["layer"] == steps["changes"]
    # the file the container appended to, and one it deleted
    big = _cli(capsys, legacy_overlay, "where", "stopped", "/app/data/big.txt")
    assert isinstance(big, dict)
    assert [(h["layer"], h["state"]) for h in big["stack"]] == [
        (rw, "wins"),
        (steps["changes"], "hidden-by-file"),
        (steps["tree"], "hidden-by-file"),
    ]
    notes = _cli(capsys, legacy_overlay, "where", "stopped", "/app/notes.txt")
    assert isinstance(notes, dict) and not notes["visible"]
    assert [(h["layer"], h["state"]) for h in notes["stack"]] == [
        (rw, "whiteout"),
        (steps["tree"], "hidden-by-whiteout"),
    ]
    current = _cli(capsys, legacy_overlay, "cat", "stopped", "/app/current.conf")
    assert isinstance(current, dict)
    assert (current["symlinks"], current["layer"]) == (["/app/current.conf"], steps["tree"])
    changed = _cli(capsys, legacy_overlay, "cat", "stopped", "/app/data/big.txt")
    assert isinstance(changed, dict) and changed["layer"] == rw


def test_ls_and_cat_of_the_image_agree_with_the_kernel(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str], image_mount: Path
) -> None:
    _ls_and_cat_agree(capsys, legacy_overlay, APP, image_mount)
    listed = {e["name"]: e["layer"] for e in _cli(capsys, legacy_overlay, "ls", APP, "/app")}
    assert listed["current.conf"] == listed["cache"] == legacy_overlay.steps["changes"]
    assert listed["notes.txt"] == legacy_overlay.steps["tree"]


def test_ls_and_cat_of_the_running_container_agree_with_the_kernel(
    legacy_overlay: LegacyScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    [inspected] = legacy_overlay.engine.inspect("web")
    merged = Path(inspected["GraphDriver"]["Data"]["MergedDir"])
    _ls_and_cat_agree(capsys, legacy_overlay, "web", merged)
    rw = dir_id(inspected["GraphDriver"]["Data"]["UpperDir"])
    listed = {e["name"]: e["layer"] for e in _cli(capsys, legacy_overlay, "ls", "web", "/srv/www")}
    assert set(listed.values()) == {rw}


_LISTED = ("/", "/app", "/app/lib", "/app/data", "/app/cache", "/app/tmpdir", "/etc", "/srv/www")
_READ = (
    "/app/data/big.txt", "/app/conf/app.conf", "/app/current.conf", "/app/lib/app.conf.rel",
    "/app/lib/p2", "/app/tmpdir/new.txt", "/etc/passwd", "/etc/hosts", "/srv/www/index.html",
)  # fmt: skip


def _ls_and_cat_agree(
    capsys: pytest.CaptureFixture[str], scenario: LegacyScenario, ref: str, merged: Path
) -> None:
    """`ls` of some dirs and `cat` of some files of `ref` are what the kernel shows."""
    for d in _LISTED:
        here = merged / d.lstrip("/")
        if not here.is_dir():
            continue
        listed = _cli(capsys, scenario, "ls", ref, d)
        assert sorted(e["name"] for e in listed) == sorted(os.listdir(here)), (ref, d)
        for e in listed:  # the kernel shows an opaque dir as a dir
            kind = "dir" if e["entry"] == "opaque-dir" else e["entry"]
            assert kind == kind_of((here / e["name"]).lstat().st_mode), (ref, e["path"])
    for path in _READ:
        if not os.path.lexists(merged / path.lstrip("/")):
            continue
        resolved = _resolve_in(merged, path)
        if not os.path.exists(merged / resolved[1:]):  # a dangling symlink: refused too
            code, out, err = run_text(capsys, "--offline", "--root", str(scenario.data_root),
                                      "cat", ref, path)  # fmt: skip
            assert code != 0 and out == "" and "does not exist" in err, (ref, path)
            continue
        got = _cli(capsys, scenario, "cat", ref, path)
        assert got["resolved"] == resolved, (ref, path)
        assert base64.b64decode(got["data"]) == (merged / resolved[1:]).read_bytes(), (ref, path)


def _resolve_in(root: Path, path: str) -> str:
    """`path` with its symlinks followed inside `root` (as the container would)."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    for _ in range(40):
        if not parts:
            return "/" + "/".join(done)
        name = parts.pop(0)
        here = root.joinpath(*done, name)
        if here.is_symlink():
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
        elif name == "..":
            done = done[:-1]
        elif name != ".":
            done.append(name)
    raise AssertionError(f"too many symlinks in {path}")
