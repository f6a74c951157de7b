"""What a containerd container changed, and what its merged view holds, against the engine.

- `container REF --json` for every container of the scenario against `ctr snapshots diff`
  of its rw snapshot (the tar taken when the scenario was built: a diff leaves a blob and
  view snapshots behind, so it is never taken again here), with the rules of
  tests/root/containerd_oracle.py `check_changes`.
- `where`, `ls`, `cat` (and the stack's own walk and reads) on images and containers
  against the kernel: a read-only overlay mount of the very dirs `ctr snapshots mounts`
  names for that stack. Every entry, its type and size, and every file's bytes.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlayscope.cli.main import main
from overlayscope.root.load import load_host
from overlayscope.root.model import Container, Host, Image
from overlayscope.union import read_merged
from overlayscope.union.host_stacks import build_stack
from tests.containerd.config import MOBY_NAMESPACE
from tests.containerd.engine import PrivateContainerd
from tests.containerd.scenario import ContainerdScenario, capture_answers
from tests.root.cli_helpers import run_json
from tests.root.containerd_oracle import (
    CONTAINER_LABELS,
    Scene,
    check_changes,
    scene_from_live,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def scene(containerd: PrivateContainerd, containerd_scenario: ContainerdScenario) -> Scene:
    return scene_from_live(containerd_scenario, capture_answers(containerd)["namespaces"])


@pytest.fixture(scope="module")
def host(scene: Scene) -> Host:
    return load_host(str(scene.root))


@pytest.mark.parametrize("label", CONTAINER_LABELS)
def test_changes_are_ctr_snapshots_diff(
    scene: Scene, label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    c = scene.container(label)
    code, doc = run_json(
        capsys, "--offline", "--root", str(scene.root), "--namespace", c.namespace,
        "container", c.id,
    )  # fmt: skip
    assert code == 0
    assert doc["id"] == c.id
    check_changes(scene, doc, c)


def test_an_opaque_dir_is_one_d_per_removed_file(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm -rf /app/tmpdir && mkdir /app/tmpdir`: on disk one opaque dir (the kernel's
    trusted.overlay.opaque), in containerd's tar a `.wh.` per vanished child, here a D per
    child and the dir itself shown as an opaque dir."""
    c = scene.container("ctr-opaque")
    upper = scene.stack_dirs(c.namespace, c.id)[0]
    assert os.getxattr(upper / "app" / "tmpdir", "trusted.overlay.opaque") == b"y"
    code, doc = run_json(capsys, "--offline", "--root", str(scene.root), "container", c.id)
    assert code == 0
    changes = {ch["path"]: ch for ch in doc["changes"]}
    assert changes["/app/tmpdir"]["entry"] == "opaque-dir"
    assert changes["/app/tmpdir/old.txt"]["kind"] == "D"
    assert changes["/app/tmpdir/new.txt"]["kind"] == "A"
    tar = [e[0] for e in scene.answers["diffs"][c.namespace][c.id]]
    assert "app/tmpdir/.wh.old.txt" in tar


# --------------------------------------------------------------------------- the kernel's view


@dataclass(frozen=True)
class Target:
    """A stack to compare: the REF the CLI is given, and the dirs the kernel mounts."""

    namespace: str
    ref: str
    dirs: list[Path]  # top first
    container: str | None  # the container id, for a container


def _target(scene: Scene, label: str) -> Target:
    if label.startswith("image:"):
        # An image's stack is what its containers stand on: a container's lowerdirs, minus
        # Docker 29's init layer.
        namespace, name, via = {
            "image:app": ("default", "docker.io/library/ovs-app:1", "ctr-add"),
            "image:web": (MOBY_NAMESPACE, "docker.io/library/ovs-web:1", "docker:web"),
        }[label]
        c = scene.container(via)
        lowers = scene.stack_dirs(namespace, scene.rw_key(c))[1:]
        return Target(namespace, name, lowers[1:] if c.kind == "docker29" else lowers, None)
    c = scene.container(label)
    return Target(c.namespace, c.id, scene.stack_dirs(c.namespace, scene.rw_key(c)), c.id)


@dataclass(frozen=True)
class KernelEntry:
    kind: str  # file, dir, symlink, other
    size: int
    target: str | None


def _kernel_tree(merged: Path) -> dict[str, KernelEntry]:
    """Every entry of the mounted merged view, by path inside it."""
    tree: dict[str, KernelEntry] = {}
    for top, dirs, files in os.walk(merged):
        for name in dirs + files:
            full = Path(top) / name
            st = full.lstat()
            kind = (
                "dir" if stat.S_ISDIR(st.st_mode)
                else "file" if stat.S_ISREG(st.st_mode)
                else "symlink" if stat.S_ISLNK(st.st_mode)
                else "other"
            )  # fmt: skip
            target = os.readlink(full) if kind == "symlink" else None
            tree["/" + str(full.relative_to(merged))] = KernelEntry(kind, st.st_size, target)
    return tree


def _kind(entry: str) -> str:
    return "dir" if entry in ("dir", "opaque-dir") else entry


@pytest.fixture
def mounted(
    request: pytest.FixtureRequest, containerd: PrivateContainerd, scene: Scene
) -> Iterator[tuple[Target, Path]]:
    target = _target(scene, request.param)
    for d in target.dirs:
        assert d.is_dir(), d
    with containerd.ro_overlay_mount(target.dirs) as merged:
        yield target, merged


STACKS = ("image:app", "image:web", "ctr-opaque", "ctr-delete", "ctr-hardlink", "ctr-add",
          "docker:web", "docker:batch", "k8s:nginx")  # fmt: skip


@pytest.mark.parametrize("mounted", STACKS, indirect=True)
def test_merged_view_is_the_kernels(
    scene: Scene, host: Host, mounted: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    target, merged = mounted
    kernel = _kernel_tree(merged)
    obj = _object(host, target)
    assert [Path(host.layers[lid].content_dir) for lid in obj.stack()] == target.dirs
    stack = build_stack(host, obj)
    ours = {
        m.path: KernelEntry(
            _kind(m.entry.kind.value),
            m.entry.size,
            m.entry.target,
        )
        for m in stack.walk()
        if m.path != "/"
    }
    # Directory sizes are the winning layer's dir: overlayfs shows the upper one's too.
    assert ours == kernel
    for path, entry in kernel.items():
        if entry.kind == "file":
            assert read_merged(stack, path) == (merged / path.lstrip("/")).read_bytes(), path

    base = ("--offline", "--root", str(scene.root), "--namespace", target.namespace)
    for path in ["/", *(p for p, e in kernel.items() if e.kind == "dir")]:
        code, listing = run_json(capsys, *base, "ls", target.ref, path)
        assert code == 0, path
        got = {e["name"]: (_kind(e["entry"]), e["size"]) for e in listing}
        want = {
            name: (
                kernel[f"{path.rstrip('/')}/{name}"].kind,
                kernel[f"{path.rstrip('/')}/{name}"].size,
            )
            for name in os.listdir(merged / path.lstrip("/"))
        }
        assert got == want, path
        assert all(e["entry"] != "whiteout" for e in listing)
    for path, entry in kernel.items():
        # busybox's ~270 applet symlinks all lead to /bin/busybox: /bin/sh stands for them
        applet = entry.target == "/bin/busybox" and path != "/bin/sh"
        if entry.kind == "file" or (entry.kind == "symlink" and not applet):
            _check_cat(capsys, base, target.ref, merged, path)


def _check_cat(
    capsys: pytest.CaptureFixture[str], base: tuple[str, ...], ref: str, merged: Path, path: str
) -> None:
    """`cat` resolves symlinks inside the container's root; the kernel's answer is the
    mount at the path it resolved to (an absolute target would leave the mount if the
    kernel followed it, so the final file is read at `resolved`). A symlink whose target
    the view lacks (Docker's /etc/mtab -> /proc/mounts) is refused, exit 3."""
    capsys.readouterr()
    code = main(["--json", *base, "cat", ref, path])
    out, err = capsys.readouterr()
    shown = merged / path.lstrip("/")
    if code == 3:
        assert shown.is_symlink() and "no such path" in err, (path, err)
        link = os.readlink(shown)
        beneath = merged / link.lstrip("/") if link.startswith("/") else shown.parent / link
        assert not os.path.lexists(beneath), path
        return
    assert code == 0, (path, err)
    doc = json.loads(out)
    resolved = merged / doc["resolved"].lstrip("/")
    assert stat.S_ISREG(resolved.lstat().st_mode), path
    assert base64.b64decode(doc["data"]) == resolved.read_bytes(), path
    if not doc["symlinks"]:
        assert doc["resolved"] == path
    elif not os.readlink(shown).startswith("/"):
        assert os.path.realpath(shown) == str(resolved)


def _layer_paths(dirs: list[Path]) -> Iterator[tuple[int, str, os.stat_result]]:
    """(layer position, path, lstat) of every entry of every layer of the stack."""
    for position, d in enumerate(dirs):
        for top, subdirs, files in os.walk(d):
            for name in subdirs + files:
                full = Path(top) / name
                yield position, "/" + str(full.relative_to(d)), full.lstat()


@pytest.mark.parametrize("mounted", ["ctr-delete", "ctr-opaque", "docker:batch", "image:app"],
                         indirect=True)  # fmt: skip
def test_where_agrees_with_the_kernel_on_every_layer_entry(
    scene: Scene,
    host: Host,
    mounted: tuple[Target, Path],
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """For every path any layer of the stack holds: visible exactly when the kernel shows
    it, and then won by the top-most layer holding it, whose entry the kernel shows (same
    type; for a file, the same bytes); a whiteout or an opaque dir hides the rest. The
    stack's provenance answers for every path; `where` (the CLI) for every path more than
    one layer holds or that is hidden, where the rules have something to decide."""
    target, merged = mounted
    obj = _object(host, target)
    stack = build_stack(host, obj)
    base = ("--offline", "--root", str(scene.root), "--namespace", target.namespace)
    holders: dict[str, list[int]] = {}
    for position, path, _st in _layer_paths(target.dirs):
        holders.setdefault(path, []).append(position)
    hidden_by: set[str] = set()
    asked = 0
    for path, positions in sorted(holders.items()):
        prov = stack.provenance(path)
        shown = merged / path.lstrip("/")
        assert prov.visible is os.path.lexists(shown), path
        assert sorted(h.position for h in prov.stack) == sorted(positions), path
        top = target.dirs[min(positions)]
        if prov.visible:
            assert prov.winner is not None and prov.winner.position == min(positions), path
            entry = top / path.lstrip("/")
            assert stat.S_IFMT(entry.lstat().st_mode) == stat.S_IFMT(shown.lstat().st_mode)
            if stat.S_ISREG(shown.lstat().st_mode):
                assert entry.read_bytes() == shown.read_bytes(), path
        else:
            assert prov.winner is None and prov.hidden_by is not None, path
            hidden_by.add(str(prov.hidden_by.kind))
        if len(positions) > 1 or not prov.visible:
            asked += 1
            code, doc = run_json(capsys, *base, "where", target.ref, path)
            assert code == 0, path
            assert doc["visible"] is prov.visible, path
            assert doc["winner"] == (top.parent.name if prov.visible else None), path
            assert [h["layer"] for h in doc["stack"]] == [
                target.dirs[p].parent.name for p in sorted(positions)
            ], path
            assert [h["state"] for h in doc["stack"]] == [str(h.state) for h in prov.stack]
    assert asked
    expected = {
        "ctr-delete": {"whiteout"},
        "ctr-opaque": {"whiteout", "opaque-dir"},
        "docker:batch": {"opaque-dir"},
        "image:app": {"whiteout", "opaque-dir"},
    }[request.node.callspec.params["mounted"]]
    assert expected <= hidden_by


def _object(host: Host, target: Target) -> Container | Image:
    if target.container:
        return host.containers[f"{target.namespace}/{target.container}"]
    return next(
        i for i in host.images.values() if i.namespace == target.namespace and target.ref in i.tags
    )
