"""A containerd root read offline: a `cp -a` copy answers as the live root does, and reading
the live root while containerd runs writes, locks and touches nothing.

The live root is the session's private containerd (running tasks, its DBs held open and
flock'ed by containerd); the copy is taken with `cp -a` beside it, Docker 29's data root
included. Every command's JSON on the copy equals the live root's, paths mapped (df's
allocated bytes aside: a copy is laid out on disk anew).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.containerd.engine import PrivateContainerd
from tests.containerd.scenario import ContainerdScenario
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine

APP = "docker.io/library/ovs-app:1"


def _cli(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "overlayscope", "--offline", "--root", str(root), *args]


def _run_json(root: Path, *args: str) -> Any:
    proc = subprocess.run(_cli(root, "--json", *args), capture_output=True, timeout=300)
    assert proc.returncode in (0, 1), (args, proc.stderr.decode(errors="replace"))
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def live(containerd_scenario: ContainerdScenario) -> Path:
    """The dir holding the live containerd/ and docker/ roots."""
    assert containerd_scenario.docker_root.parent == containerd_scenario.root.parent
    return containerd_scenario.root.parent


@pytest.fixture(scope="module")
def copy(live: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    dest = tmp_path_factory.mktemp("containerd-offline") / "copy"
    dest.mkdir()
    for name in ("containerd", "docker"):
        subprocess.run(["cp", "-a", str(live / name), str(dest)], check=True)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def _commands(sc: ContainerdScenario) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [
        ("containerd", "containers"),
        ("containerd", "images"),
        ("containerd", "layers"),
        ("containerd", "orphans"),
        ("containerd", "check"),
        ("containerd", "df", "--top", "1000", "--containers"),
        ("containerd", "where", "ctr-opaque", "/app/tmpdir/old.txt"),
        ("containerd", "where", APP, "/app/cache/old/entry.txt"),
        ("containerd", "ls", "ctr-add", "/app"),
        ("containerd", "cat", "ctr-add", "/app/current.conf"),
        ("containerd", "diff", "ctr-change", "/app/conf/app.conf"),
        ("containerd", "efficiency", APP),
        ("docker", "containers"),
        ("docker", "images"),
        ("docker", "df", "--top", "1000", "--containers"),
        ("docker", "container", "web"),
    ]
    out += [("containerd", "--namespace", c.namespace, "container", c.id)
            for c in sc.containers.values()]  # fmt: skip
    return out


def _comparable(doc: Any) -> Any:
    """df without the bytes a copy lays out anew on disk (allocated blocks, and what is
    sorted or summed by them); everything else as it is."""
    if isinstance(doc, dict):
        return {
            k: _comparable(v)
            for k, v in doc.items()
            if "allocated" not in k and not (k == "reclaimable" and isinstance(v, int)
                                             and not isinstance(v, bool))
        }  # fmt: skip
    if isinstance(doc, list):
        items = [_comparable(v) for v in doc]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return doc


def test_a_copy_answers_as_the_live_root(
    containerd_scenario: ContainerdScenario,
    live: Path,
    copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for where, *args in _commands(containerd_scenario):
        code, on_live = run_json(capsys, "--offline", "--root", str(live / where), *args)
        assert code in (0, 1), args
        code, on_copy = run_json(capsys, "--offline", "--root", str(copy / where), *args)
        assert code in (0, 1), args
        mapped = json.loads(json.dumps(on_live).replace(json.dumps(str(live))[1:-1],
                                                        json.dumps(str(copy))[1:-1]))  # fmt: skip
        if args[0] == "df" or "df" in args:
            mapped, on_copy = _comparable(mapped), _comparable(on_copy)
        assert mapped == on_copy, (where, args)


def _du(path: Path) -> int:
    out = subprocess.run(["du", "-sx", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return int(out.split()[0])


def test_the_copys_df_is_du_of_the_copy(copy: Path) -> None:
    df = _run_json(copy / "containerd", "df")
    assert df["total"]["allocated"] == _du(copy / "containerd")


# --------------------------------------------------------------------------- read-only, live

TRACED = (
    "open,openat,openat2,creat,flock,fcntl,truncate,ftruncate,rename,renameat,renameat2,"
    "unlink,unlinkat,rmdir,mkdir,mkdirat,link,linkat,symlink,symlinkat,mknod,mknodat,"
    "utimensat,utimes,futimesat,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,"
    "fremovexattr,chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown,mount,umount2,"
    "fsopen,fsmount,move_mount,open_tree"
)
READS = {"open", "openat", "openat2", "fcntl"}
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}
LOCKS = re.compile(r"F_(OFD_)?(SETLKW?|GETLK)|F_SETLEASE")
_CALL = re.compile(r"^(\d+ )?([a-z0-9_]+)\((.*)$")
# Where the containerd reader and the layer scans read: its DBs, its listings, blobs, layers.
STORE_READS = re.compile(
    r"/io\.containerd\.(metadata\.v1\.bolt/meta\.db|snapshotter\.v1\.overlayfs/(metadata\.db|"
    r"snapshots(/\d+/fs(/[^>\"]*)?)?)|content\.v1\.content/blobs/sha256(/[0-9a-f]{64})?)[>\"]"
)
LAYER_CONTENT = re.compile(r"/snapshots/\d+/fs([/>\"])")


def _strace(cmd: list[str], out_dir: Path) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    if shutil.which("strace") is None:
        skip_or_fail("strace not installed (apt-get install strace; `make test` does)")
    out_dir.mkdir()
    proc = subprocess.run(
        ["strace", "-ff", "-y", "-s", "4096", "-qq", "-e", f"trace={TRACED}",
         "-o", str(out_dir / "trace"), *cmd],
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    lines = []
    for file in sorted(out_dir.iterdir()):
        lines += file.read_text(errors="replace").splitlines()
    assert lines, "strace recorded nothing"
    return proc, lines


def _live_commands(sc: ContainerdScenario) -> dict[str, tuple[str, list[str]]]:
    web = sc.docker29["web"].id
    return {
        "containers": ("containerd", ["--json", "containers"]),
        "df": ("containerd", ["--no-cache", "--json", "df", "--containers"]),
        "container-running": ("containerd", ["--no-cache", "--json", "container", "ctr-running"]),
        "docker-container": ("docker", ["--no-cache", "--json", "container", web]),
        "docker-df": ("docker", ["--no-cache", "--json", "df"]),
    }


LIVE = ("containers", "df", "container-running", "docker-container", "docker-df")
# Read through Docker 29's data root, df shows namespace `moby` only: the other namespaces'
# snapshot dirs are then "other" bytes, which usage/rootwalk.py walks with plain listings
# and opens (no O_NOATIME), down into their layer content.


def _traced(
    containerd: PrivateContainerd, sc: ContainerdScenario, live: Path, tmp_path: Path, name: str
) -> list[tuple[str, str, set[str]]]:
    """(call, arguments, O_ flags) of every traced syscall that names a path under the roots,
    running command `name` on the live root while containerd runs."""
    where, args = _live_commands(sc)[name]
    assert containerd.pid is not None  # containerd runs, its DBs open and flock'ed
    proc, lines = _strace(_cli(live / where, *args), tmp_path / "trace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    json.loads(proc.stdout)
    out = []
    for line in lines:
        m = _CALL.match(line)
        if m is None:
            continue
        call, rest = m.group(2), m.group(3)
        assert call not in {"mount", "umount2", "fsopen", "fsmount", "move_mount",
                            "open_tree"}, f"mounted something: {line}"  # fmt: skip
        if str(live) in rest:
            out.append((call, rest, set(re.findall(r"O_[A-Z]+", rest))))
    assert any(STORE_READS.search(rest) for _, rest, _ in out), "the store was not read"
    return out


@pytest.mark.parametrize("name", LIVE)
def test_reading_the_live_root_writes_and_locks_nothing(
    containerd: PrivateContainerd,
    containerd_scenario: ContainerdScenario,
    live: Path,
    tmp_path: Path,
    name: str,
) -> None:
    """Under strace, the whole process tree: no syscall that changes anything under the
    roots, no open for writing, no lock (containerd holds flocks on both DBs: a reader that
    took one would wait, or block containerd), nothing mounted."""
    for call, rest, flags in _traced(containerd, containerd_scenario, live, tmp_path, name):
        assert call in READS, f"not a read: {call}({rest}"
        assert not flags & WRITE_FLAGS, f"opened for writing: {call}({rest}"
        if call == "fcntl":
            assert not LOCKS.search(rest), f"locked: {call}({rest}"


@pytest.mark.parametrize("name", LIVE)
def test_reading_the_live_root_reads_the_store_with_noatime(
    containerd: PrivateContainerd,
    containerd_scenario: ContainerdScenario,
    live: Path,
    tmp_path: Path,
    name: str,
) -> None:
    """The DBs, the store's own listings (snapshots/, blobs/sha256/), the blobs and every
    layer's content are opened with O_NOATIME (df's walk of the store's other dirs aside)."""
    for call, rest, flags in _traced(containerd, containerd_scenario, live, tmp_path, name):
        if call == "fcntl" or "O_PATH" in flags or " = -" in rest or not STORE_READS.search(rest):
            continue
        if name.endswith("df") and "O_DIRECTORY" in flags and not LAYER_CONTENT.search(rest):
            continue  # df's own walk of the store's dirs: see the directory atime test
        assert "O_NOATIME" in flags, f"read without O_NOATIME: {call}({rest}"


def _prime_atimes(roots: list[Path]) -> dict[str, int]:
    """Set every entry's atime (symlinks aside: the kernel updates theirs on readlink and
    no flag prevents it) a second before its mtime, so that a read would update it under
    relatime; return them."""
    old: dict[str, int] = {}
    for root in roots:
        for top, dirs, files in os.walk(root):
            for name in [".", *dirs, *files]:
                path = os.path.normpath(os.path.join(top, name))
                st = os.lstat(path)
                if os.path.islink(path):
                    continue
                stale = st.st_mtime_ns - 10**9
                os.utime(path, ns=(stale, st.st_mtime_ns), follow_symlinks=False)
                old[path] = stale
    return old


def _reads_update_atimes(directory: Path) -> bool:
    """Whether this filesystem updates access times at all (not mounted noatime): else the
    atime tests prove nothing."""
    probe = directory / "atime-probe"
    probe.write_bytes(b"probe")
    try:
        st = probe.stat()
        os.utime(probe, ns=(st.st_mtime_ns - 10**9, st.st_mtime_ns))
        probe.read_bytes()
        return probe.stat().st_atime_ns != st.st_mtime_ns - 10**9
    finally:
        probe.unlink()


def _atime_changes(live: Path, name: str, sc: ContainerdScenario) -> list[str]:
    if not _reads_update_atimes(live / "scratch"):
        pytest.skip(f"{live} is on a filesystem that does not update atimes (noatime)")
    where, args = _live_commands(sc)[name]
    old = _prime_atimes([live / "containerd", live / "docker"])
    proc = subprocess.run(_cli(live / where, *args), capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return sorted(p for p, atime in old.items() if os.lstat(p).st_atime_ns != atime)


@pytest.mark.parametrize("name", LIVE)
def test_reading_the_live_root_keeps_file_and_layer_atimes(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario, live: Path, name: str
) -> None:
    """No file under the roots (DBs, blobs, configs, layer files) and no entry of a layer's
    content has its access time changed (they are evidence: when a file was last read)."""
    changed = _atime_changes(live, name, containerd_scenario)
    files = [p for p in changed if not os.path.isdir(p)]
    content = [p for p in changed if LAYER_CONTENT.search(p + "/")]
    assert files == [] and content == [], (files, content)


@pytest.mark.parametrize("name", LIVE)
def test_reading_the_live_root_keeps_directory_atimes(
    containerd: PrivateContainerd, containerd_scenario: ContainerdScenario, live: Path, name: str
) -> None:
    assert _atime_changes(live, name, containerd_scenario) == []
