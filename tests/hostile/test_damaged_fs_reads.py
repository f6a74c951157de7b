"""A layer dir the filesystem itself cannot read (an I/O error, not a refusal): the same
partial-read guarantees as tests/hostile/test_partial_reads.py (issue #15, item 4;
docs/hostile.md).

The captured snapshot (a real dockerd's root) is put into an ext4 image (`mkfs.ext4 -d`,
xattrs and device nodes kept), the directory block of one dir of the `web` container's
rw layer is overwritten on the image, and the image is mounted read-only from a loop
device. The kernel then refuses to list that dir (ext4's directory block checksum fails:
EBADMSG, "Bad message"), exactly as on a damaged disk; everything else reads. Each CLI run
mounts the image in a private mount namespace of its own (`unshare`), so no mount outlives
it or leaks into another namespace. Answers are compared with the engine's
(`captured_root.answers`); nothing is hard-coded.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlayscope.errors import ExitCode
from tests.conftest import skip_or_fail
from tests.engine import CapturedRoot
from tests.hostile.cli import Run, assert_answered, check_json, cli_env, run_sub
from tests.hostile.test_partial_reads import Copy, _beneath, _engine_diff, _warned

pytestmark = pytest.mark.root

INCOMPLETE = int(ExitCode.INCOMPLETE)
BLOCK = 4096
CLOSED = "/app/conf"  # in web's rw layer: a rewritten file and a deleted one (engine's C, D)
# Mounts the loop device ($1) read-only on $2 in a new private mount namespace, then runs
# the rest; `noload`: no journal replay, nothing written to the image.
_MOUNT = 'mount -o ro,noload,errors=continue "$1" "$2" && shift 2 && exec "$@"'
_TOOLS = ("mkfs.ext4", "debugfs", "losetup", "unshare", "mount")


class Damaged(Copy):
    """The snapshot on a damaged ext4 image; `run` mounts it for one CLI run."""

    device: str

    def run(self, *args: str, blind: bool = False) -> Run:
        prefix = ("unshare", "--mount", "--propagation", "private", "--",
                  "sh", "-c", _MOUNT, "sh", self.device, str(self.root))  # fmt: skip
        return run_sub("--offline", "--no-cache", "--root", str(self.root), *args,
                       env=cli_env(), prefix=prefix)  # fmt: skip


def _sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture
def damaged(captured_root: CapturedRoot, tmp_path: Path) -> Iterator[Damaged]:
    if os.geteuid() != 0:
        skip_or_fail("not root: cannot attach a loop device or mount")
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"missing {', '.join(missing)} (e2fsprogs, util-linux)")
    image = tmp_path / "root.ext4"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    made = _sh("mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-O", "metadata_csum",
               "-d", str(captured_root.path), str(image))  # fmt: skip
    if made.returncode != 0:
        skip_or_fail(f"mkfs.ext4 -d cannot build the image: {made.stderr.strip()}")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    copy = Damaged(mnt, captured_root.answers, captured_root.capture_data_root)

    # The closed dir's blocks, as the image holds them, overwritten: its checksum fails.
    inside = "/" + str(copy.upper("web").relative_to(mnt)) + CLOSED
    blocks = _sh("debugfs", "-R", f"blocks {inside}", str(image)).stdout.split()
    assert blocks, f"debugfs found no block for {inside}"
    with image.open("r+b") as f:
        for block in blocks:
            f.seek(int(block) * BLOCK)
            f.write(b"\xa5" * BLOCK)

    attached = _sh("losetup", "--find", "--show", "--read-only", str(image))
    if attached.returncode != 0:
        skip_or_fail(f"no loop device: {attached.stderr.strip()}")
    copy.device = attached.stdout.strip()
    try:
        probe = _sh("unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", _MOUNT, "sh", copy.device, str(mnt), "true")  # fmt: skip
        if probe.returncode != 0:
            skip_or_fail(f"cannot mount in a private namespace: {probe.stderr.strip()}")
        yield copy
    finally:
        _sh("losetup", "-d", copy.device)


def _problem(doc: dict[str, object]) -> dict[str, str]:
    problems = doc["problems"]
    assert isinstance(problems, list) and len(problems) == 1, problems
    found: dict[str, str] = problems[0]
    return found


def test_container_and_where_through_a_dir_the_disk_cannot_read(damaged: Damaged) -> None:
    """`container` lists every change but those beneath the damaged dir, names it with the
    kernel's error (an `error`, not a `permission`) and exits 4; `where` of the file the
    container deleted there says unknown, not "not visible"."""
    host_path = str(damaged.upper("web") / CLOSED.lstrip("/"))
    engine = _engine_diff(damaged, "web")
    assert any(_beneath(p, CLOSED) for _, p in engine)  # the case has something to lose
    bad_message = os.strerror(errno.EBADMSG)

    run = damaged.run("--json", "container", "web")
    assert_answered(run, {INCOMPLETE})
    doc = run.json()
    check_json("container", doc)
    # /app/conf itself is C in the engine's list only for what changed beneath it (its own
    # stat is the image's): unknown too, so left out with the rest (chmod 000 in
    # test_partial_reads.py changes its mode, which is why it stays there)
    assert {(c["kind"], c["path"]) for c in doc["changes"]} == {
        (k, p) for k, p in engine if p != CLOSED and not _beneath(p, CLOSED)
    }
    problem = _problem(doc)
    assert problem["kind"] == "unreadable" and problem["path"] == host_path
    assert problem["layer_path"] == CLOSED and problem["role"] == "rw"
    assert problem["detail"].startswith(f"{bad_message} (error)")

    human = damaged.run("container", "web")
    assert_answered(human, {INCOMPLETE})
    assert _warned(human, host_path) and bad_message in human.err.decode()

    deleted = next(p for k, p in engine if k == "D" and _beneath(p, CLOSED))
    where = damaged.run("--json", "where", "web", deleted)
    assert_answered(where, {INCOMPLETE})
    found = where.json()
    check_json("where", found)
    assert found["known"] is False and found["winner"] is None
    assert {hit["state"] for hit in found["stack"]} == {"unknown"}
    assert _problem(found)["path"] == host_path


def test_ls_and_sizes_through_a_dir_the_disk_cannot_read(damaged: Damaged) -> None:
    """`ls` of the damaged dir marks what the image shows there `known: false` (the
    deleted file is never shown as present); `containers` gives web no size rather than
    a smaller one, the others the engine's `SizeRw`; both exit 4."""
    host_path = str(damaged.upper("web") / CLOSED.lstrip("/"))
    deleted = {p for k, p in _engine_diff(damaged, "web") if k == "D" and _beneath(p, CLOSED)}

    listing = damaged.run("--json", "ls", "web", CLOSED)
    assert_answered(listing, {INCOMPLETE})
    entries = listing.json()
    check_json("ls", entries)
    assert _warned(listing, host_path)
    assert entries and all(e["known"] is False for e in entries)
    assert deleted <= {e["path"] for e in entries}

    sized = damaged.run("--json", "containers")
    assert_answered(sized, {INCOMPLETE})
    sizes = {c["name"]: c["size"] for c in sized.json()}
    assert sizes.pop("web") is None
    assert sizes == {
        c["name"]: c["size_rw"] for c in damaged.answers["containers"] if c["name"] != "web"
    }
    assert _warned(sized, host_path)
