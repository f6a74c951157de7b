"""`--root ARCHIVE`: a forensic copy gets the archive's bytes, never its privileges, and
nothing of it lands outside the dir it is unpacked into (overlayscope/untar.py).

- A real data root archived by GNU tar with hostile files planted in a container's layer
  (setuid and setgid files owned by another user, a sticky dir, a block device, a char
  device, a FIFO, a file capability, a non-overlay xattr, a sparse file): unpacked into a
  0700 dir, with no setuid/setgid/sticky bit, no owner but ours, no device node but the
  whiteouts (0/0), no FIFO, no xattr but overlay's; every whiteout, overlay xattr, file's
  bytes, symlink target and hole the same as GNU tar's own unpack; and the commands'
  answers the same as on that unpack.
- Archives built member by member (tarfile) with an absolute path, a `..` escape, a
  symlink then a file through it (absolute and relative), hard links out or to nothing, a
  file over a dir: refused whole, one line, exit 3; nothing written outside, nothing kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from overlayscope.snapshot import unpack
from overlayscope.untar import ArchiveRefused
from tests.engine import CapturedRoot
from tests.hostile.cli import assert_answered, cli_env, run_sub
from tests.hostile.evidence import copy_tree, manifest

pytestmark = pytest.mark.root

# CAP_NET_RAW, permitted and effective: struct vfs_cap_data, revision 2.
CAPABILITY = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
SPECIALS = {"evil/sda": "block", "evil/null": "char", "evil/fifo": "fifo"}


def _upper(captured_root: CapturedRoot, root: Path, name: str) -> Path:
    answer = next(c for c in captured_root.answers["containers"] if c["name"] == name)
    upper = Path(answer["graph_driver"]["Data"]["UpperDir"])
    return root / upper.relative_to(captured_root.capture_data_root)


def _plant(upper: Path) -> None:
    evil = upper / "evil"
    evil.mkdir()
    for name, mode in (("suid", 0o4755), ("sgid", 0o2755)):
        (evil / name).write_bytes(b"#!/bin/sh\nid\n")
        os.chown(evil / name, 1234, 5678)
        os.chmod(evil / name, mode)
    (evil / "sticky").mkdir()
    os.chmod(evil / "sticky", 0o1777)
    os.mknod(evil / "sda", stat.S_IFBLK | 0o660, os.makedev(8, 0))
    os.mknod(evil / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(evil / "fifo")
    (evil / "cap").write_bytes(b"\x7fELF")
    os.setxattr(evil / "cap", "security.capability", CAPABILITY)
    (evil / "tagged").write_bytes(b"x")
    os.setxattr(evil / "tagged", "user.other", b"not overlay's")
    with (evil / "sparse").open("wb") as f:  # 64 MiB, two 4 KiB runs of data
        f.write(b"a" * 4096)
        f.seek(64 << 20)
        f.write(b"z" * 4096)


def _tree(root: Path) -> dict[str, tuple[int, int, int, str | None, dict[str, bytes]]]:
    """path → (type, mode bits, rdev, content sha256 or link target, overlay xattrs)."""
    out = {}
    for rel, e in manifest(root).items():
        path = root / rel
        what: str | None = None
        if stat.S_ISREG(e.mode):
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(e.mode):
            what = os.readlink(path)
        xattrs = {n: v for n, v in e.xattrs if n.startswith(("trusted.overlay.", "user.overlay."))}
        out[rel] = (stat.S_IFMT(e.mode), stat.S_IMODE(e.mode), e.rdev, what, xattrs)
    return out


def test_a_real_root_unpacks_to_its_bytes_without_privileges(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    root = copy_tree(captured_root.path, tmp_path / "root")
    upper = _upper(captured_root, root, "web")
    _plant(upper)
    archive = tmp_path / "evidence.tar.xz"
    subprocess.run(
        ["tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sparse",
         "--numeric-owner", "-cJf", str(archive), "-C", str(root), "."],
        check=True,
    )  # fmt: skip
    home = tmp_path / "cache"
    env = cli_env(XDG_CACHE_HOME=str(home))
    on_archive = run_sub("--json", "--offline", "--root", str(archive), "container", "web", env=env)
    assert_answered(on_archive, {0})
    snapshots = home / "overlayscope" / "snapshots"
    (base,) = [p for p in snapshots.iterdir()]
    unpacked = base / "root"

    # a 0700 dir of ours holds it
    for d in (snapshots, base):
        st = os.lstat(d)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), d
    # no privilege came along
    rel_upper = str(upper.relative_to(root))
    for rel, e in manifest(unpacked).items():
        assert e.uid == os.geteuid() and e.gid == os.getegid(), rel
        assert not e.mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), rel
        assert not stat.S_ISBLK(e.mode) and not stat.S_ISFIFO(e.mode), rel
        assert not stat.S_ISCHR(e.mode) or e.rdev == 0, rel  # whiteouts only
        names = {n for n, _ in e.xattrs}
        assert names <= {n for n in names if n.startswith(("trusted.overlay.", "user.overlay."))}
    # everything else is as GNU tar unpacks it (`root` itself: cp -a of such an unpack)
    theirs, ours = _tree(root), _tree(unpacked)
    left_out = {f"{rel_upper}/{p}" for p in SPECIALS} | {"volumes/backingFsBlockDev"}
    assert set(theirs) - set(ours) == left_out and set(ours) <= set(theirs)
    for rel, (kind, mode, rdev, what, xattrs) in ours.items():
        assert (kind, rdev, what, xattrs) == theirs[rel][:1] + theirs[rel][2:], rel
        assert mode == theirs[rel][1] & 0o777, rel
    whiteouts = {rel for rel, t in theirs.items() if t[0] == stat.S_IFCHR and t[2] == 0}
    assert whiteouts and whiteouts <= set(ours)
    assert any(t[4] for t in ours.values())  # overlay xattrs (opaque dirs, origins) came along
    sparse = unpacked / rel_upper / "evil" / "sparse"
    assert os.lstat(sparse).st_blocks * 512 < 1 << 20  # its hole stayed a hole
    record = json.loads((base / "unpacked.json").read_text())
    assert record["complete"] is True and record["left_out"] == len(left_out)

    # the answers are those of GNU tar's unpack, the left-out specials aside
    on_copy = run_sub("--json", "--offline", "--root", str(root), "container", "web", env=env)
    assert_answered(on_copy, {0})
    gone = {"/" + p for p in SPECIALS}
    expected = [c for c in on_copy.json()["changes"] if c["path"] not in gone]
    got = on_archive.json()["changes"]
    assert [(c["path"], c["kind"], c["size"]) for c in got] == [
        (c["path"], c["kind"], c["size"]) for c in expected
    ]
    for name in ("stopped", "tool-exited"):  # whiteouts and opaque dirs: identical answers
        a = run_sub("--json", "--offline", "--root", str(archive), "container", name, env=env)
        b = run_sub("--json", "--offline", "--root", str(root), "container", name, env=env)
        assert_answered(a, {0})
        assert a.json()["changes"] == b.json()["changes"]
    human = run_sub("--offline", "--root", str(archive), "df", env=env)
    assert_answered(human, {0})
    assert f"{len(left_out)} device nodes or FIFOs left out" in human.text


# -- archives built member by member --------------------------------------------------


def _member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:xz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _hostile(case: str, outside: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    data = b"planted\n"
    d = _member("d", tarfile.DIRTYPE, mode=0o755)
    if case == "absolute-path":
        return [(_member(str(outside / "abs")), data)]
    if case == "dotdot":
        return [(d, None), (_member("d/../../escape"), data)]
    if case == "symlink-then-file":
        return [(_member("ln", tarfile.SYMTYPE, linkname=str(outside)), None),
                (_member("ln/planted"), data)]  # fmt: skip
    if case == "relative-symlink-then-file":
        return [(d, None), (_member("d/ln", tarfile.SYMTYPE, linkname="../../../../../.."), None),
                (_member("d/ln" + str(outside) + "/planted"), data)]  # fmt: skip
    if case == "hard-link-absolute":
        return [(_member("h", tarfile.LNKTYPE, linkname=str(outside / "target")), None)]
    if case == "hard-link-dotdot":
        return [(d, None), (_member("d/h", tarfile.LNKTYPE, linkname="../../target"), None)]
    if case == "hard-link-to-nothing":
        return [(_member("h", tarfile.LNKTYPE, linkname="nothing/here"), None)]
    if case == "file-over-a-dir":
        return [(d, None), (_member("d"), data)]
    raise AssertionError(case)


REFUSED = [
    "absolute-path", "dotdot", "symlink-then-file", "relative-symlink-then-file",
    "hard-link-absolute", "hard-link-dotdot", "hard-link-to-nothing", "file-over-a-dir",
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSED)
def test_an_escaping_member_refuses_the_archive(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_bytes(b"precious\n")
    archive = _archive(tmp_path / f"{case}.tar.xz", _hostile(case, outside))
    before = manifest(tmp_path)
    home = tmp_path / "cache"
    run = run_sub(
        "--offline", "--root", str(archive), "layers", env=cli_env(XDG_CACHE_HOME=str(home))
    )
    assert_answered(run, {3})
    assert "archive refused" in run.err.decode() and "member" in run.err.decode(), str(run)
    assert manifest(outside) == {k[len("outside/") :] or ".": v for k, v in before.items()
                                 if k == "outside" or k.startswith("outside/")}  # fmt: skip
    assert (outside / "target").read_bytes() == b"precious\n"
    snapshots = home / "overlayscope" / "snapshots"
    assert list(snapshots.iterdir()) == []  # nothing of it kept, not even a partial unpack


def test_members_are_stripped_of_privileges(tmp_path: Path) -> None:
    """In the library: each kind of member, and what becomes of it."""
    if os.geteuid() != 0:
        pytest.skip("whiteouts and trusted.* xattrs need root")
    pax = {"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.other": "z"}
    members = [
        (_member("d", tarfile.DIRTYPE, mode=0o3777, uid=1234, gid=5678, pax_headers=pax), None),
        (_member("d/suid", mode=0o6755, uid=1234, gid=5678, mtime=1_000_000_000,
                 pax_headers={"SCHILY.xattr.security.capability":
                              CAPABILITY.decode("utf-8", "surrogateescape")}), b"#!/bin/sh\n"),
        (_member("d/link", tarfile.LNKTYPE, linkname="d/suid"), None),
        (_member("d/wh", tarfile.CHRTYPE, devmajor=0, devminor=0, mode=0o600), None),
        (_member("d/wh2", tarfile.LNKTYPE, linkname="d/wh"), None),
        (_member("d/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None),
        (_member("d/sda2", tarfile.LNKTYPE, linkname="d/sda"), None),
        (_member("d/tty", tarfile.CHRTYPE, devmajor=5, devminor=0), None),
        (_member("d/fifo", tarfile.FIFOTYPE), None),
        (_member("d/abs", tarfile.SYMTYPE, linkname="/etc/shadow"), None),  # data, kept
        (_member("x", tarfile.SYMTYPE, linkname=str(tmp_path / "outside-file")), None),
        (_member("x"), b"replaces the link, not what it names\n"),
    ]  # fmt: skip
    (tmp_path / "outside-file").write_bytes(b"precious\n")
    archive = _archive(tmp_path / "a.tar.xz", members)
    snap = unpack(str(archive), tmp_path / "cache")
    root = Path(snap.root)
    assert snap.complete and snap.left_out == 4  # sda, sda2 (a hard link to it), tty, fifo
    d = root / "d"
    st = os.lstat(d)
    assert stat.S_IMODE(st.st_mode) == 0o777 and st.st_uid == os.geteuid()
    assert os.getxattr(d, "trusted.overlay.opaque") == b"y"
    assert os.listxattr(d) == ["trusted.overlay.opaque"]
    st = os.lstat(d / "suid")
    assert stat.S_IMODE(st.st_mode) == 0o755 and (st.st_uid, st.st_gid) == (0, 0)
    assert st.st_mtime_ns == 1_000_000_000 * 10**9 and st.st_nlink == 2
    assert os.listxattr(d / "suid") == []  # no file capability
    assert os.lstat(d / "link").st_ino == st.st_ino
    for wh in ("wh", "wh2"):
        st = os.lstat(d / wh)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert sorted(os.listdir(d)) == ["abs", "link", "suid", "wh", "wh2"]
    assert os.readlink(d / "abs") == "/etc/shadow"
    assert (root / "x").read_bytes() == b"replaces the link, not what it names\n"
    assert (tmp_path / "outside-file").read_bytes() == b"precious\n"
    assert "device node" in snap.note


def test_the_library_refusal_names_the_member(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.xz", _hostile("dotdot", tmp_path))
    with pytest.raises(ArchiveRefused, match=r"member 'd/\.\./\.\./escape' climbs out"):
        unpack(str(archive), tmp_path / "cache")
    assert not (tmp_path.parent / "escape").exists()
