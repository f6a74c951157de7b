"""Each finding kind from real layer trees: planted in a top layer over a small base image.

Table-driven: a case writes entries into the audited layer and names the findings it must
produce, as (kind, severity, path), and the kinds it must not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from overlayscope.audit.findings import FindingKind, Severity
from overlayscope.audit.ioc import parse_iocs
from tests.audit.trees import (
    ELF,
    IMAGE_CREATED,
    NEW,
    OLD,
    REFERENCE,
    Tree,
    audit_layer,
    base_image,
    kinds,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted.* need root")

H, M, L, INFO = "high", "medium", "low", "info"
FUTURE = REFERENCE + 365 * 86_400 * 1_000_000_000

Case = tuple[str, Callable[[Tree], object], set[tuple[str, str, str]], set[str]]

CASES: list[Case] = [
    # -- executables and libraries
    ("elf added in /usr/local/bin", lambda t: t.file("/usr/local/bin/x", ELF, 0o755),
     {("executable-added", M, "/usr/local/bin/x")}, set()),
    ("elf without exec bits", lambda t: t.file("/opt/blob", ELF + b"data", 0o644),
     {("executable-added", M, "/opt/blob")}, set()),
    ("shared library by name", lambda t: t.file("/usr/lib/libevil.so.1", b"not elf", 0o644),
     {("executable-added", M, "/usr/lib/libevil.so.1")}, set()),
    ("executable in /tmp", lambda t: t.file("/tmp/x", ELF, 0o755),
     {("executable-added", H, "/tmp/x")}, set()),
    ("executable in /dev/shm", lambda t: t.file("/dev/shm/m", b"#!/bin/sh\n", 0o700),
     {("executable-added", H, "/dev/shm/m")}, set()),
    ("executable in a hidden dir", lambda t: t.file("/home/alice/.cache/x", ELF, 0o755),
     {("executable-added", H, "/home/alice/.cache/x")}, set()),
    ("made executable", lambda t: t.file("/app/data.txt", b"data\n", 0o755, OLD),
     {("executable-added", M, "/app/data.txt")}, set()),
    ("executable rewritten", lambda t: t.file("/usr/bin/tool", ELF + b"trojan", 0o755),
     {("executable-modified", H, "/usr/bin/tool")}, set()),
    ("executable replaced by a symlink", lambda t: t.link("/usr/bin/tool", "/tmp/x"),
     {("executable-modified", H, "/usr/bin/tool")}, set()),
    ("executable copied up by chmod only",
     lambda t: t.file("/usr/bin/tool", ELF + b"tool", 0o700, OLD),
     set(), {"executable-modified", "executable-added"}),
    # -- setuid, setgid
    ("setuid on a copy", lambda t: t.file("/bin/busybox-copy", ELF, 0o4755),
     {("setuid-added", H, "/bin/busybox-copy"), ("executable-added", M, "/bin/busybox-copy")},
     set()),
    ("setgid added to an existing binary", lambda t: t.file("/bin/sh", ELF + b"sh", 0o2755, OLD),
     {("setuid-added", H, "/bin/sh")}, {"executable-modified"}),
    ("setuid kept by a copy-up", lambda t: t.file("/bin/su", ELF + b"su", 0o4755, NEW),
     set(), {"setuid-added"}),
    # -- sensitive files
    ("uid 0 account", lambda t: t.file(
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nevil:x:0:0::/:/bin/sh\n",
        mtime=NEW),
     {("sensitive-modified", H, "/etc/passwd")}, set()),
    ("system user added, locked", lambda t: t.file(
        "/etc/shadow", b"root:*:19000:0:99999:7:::\nsvc:!:19000::::::\n", 0o640),
     {("sensitive-modified", M, "/etc/shadow")}, set()),
    ("password hash set", lambda t: t.file(
        "/etc/shadow", b"root:$6$salt$hash:19000:0:99999:7:::\n", 0o640),
     {("sensitive-modified", H, "/etc/shadow")}, set()),
    ("sudo group gains a member", lambda t: t.file(
        "/etc/group", b"root:x:0:\nsudo:x:27:mallory\nnogroup:x:65534:\n"),
     {("sensitive-modified", H, "/etc/group")}, set()),
    ("shadow made world-readable", lambda t: t.file(
        "/etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o644, OLD),
     {("sensitive-modified", H, "/etc/shadow")}, set()),
    ("sudoers NOPASSWD", lambda t: t.file("/etc/sudoers.d/x", b"mallory ALL=(ALL) NOPASSWD: ALL\n"),
     {("sensitive-modified", H, "/etc/sudoers.d/x")}, set()),
    ("ld.so.preload", lambda t: t.file("/etc/ld.so.preload", b"/tmp/evil.so\n"),
     {("sensitive-modified", H, "/etc/ld.so.preload")}, set()),
    ("authorized_keys", lambda t: t.file("/root/.ssh/authorized_keys", b"ssh-ed25519 AAAA x\n"),
     {("sensitive-modified", H, "/root/.ssh/authorized_keys")}, set()),
    ("user crontab", lambda t: t.file("/var/spool/cron/crontabs/root", b"* * * * * /tmp/x\n"),
     {("sensitive-modified", H, "/var/spool/cron/crontabs/root")}, set()),
    ("cron job added (a package does this)", lambda t: t.file("/etc/cron.d/pkg", b"0 * * * * x\n"),
     {("sensitive-modified", M, "/etc/cron.d/pkg")}, set()),
    ("cron job edited in place", lambda t: t.file("/etc/cron.d/existing", b"* * * * * /tmp/x\n"),
     {("sensitive-modified", H, "/etc/cron.d/existing")}, set()),
    ("profile snippet added", lambda t: t.file("/etc/profile.d/pkg.sh", b"export X=1\n"),
     {("sensitive-modified", L, "/etc/profile.d/pkg.sh")}, set()),
    ("profile edited", lambda t: t.file("/etc/profile", b"PATH=/bin\ncurl x | sh\n"),
     {("sensitive-modified", M, "/etc/profile")}, set()),
    ("bashrc in a home", lambda t: t.file("/home/alice/.bashrc", b"alias ls=x\n"),
     {("sensitive-modified", L, "/home/alice/.bashrc")}, set()),
    ("systemd unit added", lambda t: t.file("/etc/systemd/system/x.service", b"[Service]\n"),
     {("sensitive-modified", L, "/etc/systemd/system/x.service")}, set()),
    ("shell history", lambda t: t.file("/root/.ash_history", b"id\n"),
     {("sensitive-modified", INFO, "/root/.ash_history")}, set()),
    ("sensitive file turned into a symlink", lambda t: t.link("/etc/shadow", "/tmp/shadow"),
     {("sensitive-modified", M, "/etc/shadow")}, set()),
    ("same bytes, touched", lambda t: t.file("/etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n", 0o644, NEW),
     set(), {"sensitive-modified"}),
    # -- deletions
    ("account file deleted", lambda t: t.whiteout("/etc/group"),
     {("sensitive-deleted", M, "/etc/group")}, set()),
    ("cron dir deleted", lambda t: t.whiteout("/etc/cron.d"),
     {("sensitive-deleted", M, "/etc/cron.d/existing")}, set()),
    ("etc re-made opaque", lambda t: t.dir("/etc", opaque=True).file("/etc/hostname"),
     {("sensitive-deleted", M, "/etc/passwd"), ("sensitive-deleted", M, "/etc/shadow"),
      ("sensitive-deleted", M, "/etc/cron.d/existing")}, set()),
    ("stray whiteout", lambda t: t.whiteout("/etc/nothing"), set(), {"sensitive-deleted"}),
    # -- symlinks
    ("link to shadow", lambda t: t.link("/tmp/s", "/etc/shadow"),
     {("symlink-sensitive", H, "/tmp/s")}, set()),
    ("link climbing out", lambda t: t.link("/tmp/up", "../../../../etc/shadow"),
     {("symlink-escape", H, "/tmp/up"), ("symlink-sensitive", H, "/tmp/up")}, set()),
    ("link climbing out, harmless target", lambda t: t.link("/app/x", "../../../srv"),
     {("symlink-escape", H, "/app/x")}, {"symlink-sensitive"}),
    ("link to the docker socket", lambda t: t.link("/app/sock", "/var/run/docker.sock"),
     {("symlink-sensitive", H, "/app/sock")}, set()),
    ("link to pid 1's root", lambda t: t.link("/app/host", "/proc/1/root"),
     {("symlink-sensitive", H, "/app/host")}, set()),
    ("relative link inside", lambda t: t.link("/app/lib", "../usr/lib"),
     set(), {"symlink-escape", "symlink-sensitive"}),
    # -- names
    ("escape sequence in a name", lambda t: t.file("/tmp/a\x1b[31mb"),
     {("name-control", H, "/tmp/a\x1b[31mb")}, set()),
    ("newline in a name", lambda t: t.file("/app/a\nb"), {("name-control", H, "/app/a\nb")},
     set()),
    ("right-to-left override", lambda t: t.file("/app/x\u202efdp.exe"),
     {("name-invisible", H, "/app/x\u202efdp.exe")}, set()),
    ("zero-width space", lambda t: t.file("/app/ru\u200bn.sh"),
     {("name-invisible", H, "/app/ru\u200bn.sh")}, set()),
    ("cyrillic look-alike of a sibling", lambda t: t.file("/etc/p\u0430sswd"),
     {("name-confusable", H, "/etc/p\u0430sswd")}, set()),
    ("mixed-script name", lambda t: t.file("/app/c\u043enfig"),
     {("name-confusable", M, "/app/c\u043enfig")}, set()),
    ("fullwidth letters", lambda t: t.file("/app/\uff53\uff48"),
     {("name-confusable", H, "/app/\uff53\uff48")}, set()),
    ("a russian name is just a name", lambda t: t.file("/app/\u043e\u0442\u0447\u0435\u0442.txt"),
     set(), {"name-confusable"}),
    ("trailing space", lambda t: t.file("/app/run.sh "),
     {("name-whitespace", M, "/app/run.sh ")}, set()),
    ("dots only", lambda t: t.dir("/app/..."), {("name-whitespace", M, "/app/...")}, set()),
    ("undecodable bytes", lambda t: t.file("/app/\udcff\udcfe"),
     {("name-undecodable", M, "/app/\udcff\udcfe")}, set()),
    ("hidden dir in /tmp", lambda t: t.dir("/tmp/.hid"), {("hidden-dir", M, "/tmp/.hid")}, set()),
    ("hidden dir deep in /var/tmp", lambda t: t.dir("/var/tmp/a/.b"),
     {("hidden-dir", M, "/var/tmp/a/.b")}, set()),
    ("hidden dir elsewhere", lambda t: t.dir("/app/.git"), set(), {"hidden-dir"}),
    # -- times
    ("mtime in the future", lambda t: t.file("/f", mtime=FUTURE), {("future-mtime", M, "/f")},
     set()),
    ("added, dated before the image", lambda t: t.file("/app/old.txt", mtime=OLD),
     {("mtime-before-image", L, "/app/old.txt")}, set()),
    ("changed but backdated", lambda t: t.file("/app/data.txt", b"tampered\n", mtime=OLD),
     {("mtime-before-image", M, "/app/data.txt")}, set()),
    ("changed normally", lambda t: t.file("/app/data.txt", b"more data\n", mtime=NEW),
     set(), {"mtime-before-image", "future-mtime"}),
    # -- devices and overlay xattrs
    ("device node", lambda t: t.device("/app/mem", 1, 1), {("device-added", M, "/app/mem")},
     set()),
    ("redirect xattr", lambda t: t.dir("/app/moved").xattr(
        "/app/moved", "trusted.overlay.redirect", b"/../../etc"),
     {("overlay-redirect", M, "/app/moved")}, set()),
    ("metacopy xattr", lambda t: t.file("/app/data.txt", b"").xattr(
        "/app/data.txt", "trusted.overlay.metacopy", b""),
     {("overlay-metacopy", M, "/app/data.txt")}, set()),
    # -- benign
    ("a new data file under /app", lambda t: t.file("/app/new.txt", b"hello\n"), set(),
     {str(k) for k in FindingKind}),
]  # fmt: skip


@pytest.mark.parametrize(("build", "expected", "absent"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_finding(
    tmp_path: Path,
    build: Callable[[Tree], object],
    expected: set[tuple[str, str, str]],
    absent: set[str],
) -> None:
    found = audit_layer(tmp_path, build)
    got = kinds(found)
    assert expected <= got, f"missing {expected - got}; got {got}"
    assert not {k for k, _, _ in got} & absent, got
    for f in found:
        assert f.detail and f.detail.isprintable(), f.detail  # evidence is escaped in details


def test_a_package_install_is_not_high(tmp_path: Path) -> None:
    """What `apt-get install` does to a container: binaries, libraries, a system user, a cron
    job, a profile snippet, a unit. Every finding is real, none is high."""

    def install(t: Tree) -> None:
        t.file("/usr/bin/newtool", ELF + b"newtool", 0o755)
        t.file("/usr/lib/x86_64-linux-gnu/libnew.so.1.2", ELF + b"lib", 0o644)
        t.file("/usr/share/doc/newtool/README", b"docs\n")
        t.file(
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/"
            b"false\nsvc:x:100:101::/nonexistent:/usr/sbin/nologin\n",
            mtime=NEW,
        )
        t.file("/etc/group", b"root:x:0:\nsudo:x:27:\nnogroup:x:65534:\nsvc:x:101:\n")
        t.file("/etc/shadow", b"root:*:19000:0:99999:7:::\nsvc:!:19000::::::\n", 0o640)
        t.file("/etc/cron.daily/newtool", b"#!/bin/sh\nnewtool --rotate\n", 0o755)
        t.file("/etc/profile.d/newtool.sh", b"export NEWTOOL=1\n")
        t.file("/lib/systemd/system/newtool.service", b"[Service]\nExecStart=/usr/bin/newtool\n")
        t.file("/etc/ld.so.conf.d/newtool.conf", b"/usr/lib/newtool\n")

    found = audit_layer(tmp_path, install)
    assert found, "the install is visible"
    assert not [f for f in found if f.severity is Severity.HIGH], kinds(found)
    assert ("executable-added", M, "/usr/bin/newtool") in kinds(found)


def test_image_layers_are_one_step_lower(tmp_path: Path) -> None:
    def build(t: Tree) -> None:
        t.file("/usr/bin/newtool", ELF, 0o755)  # installed by a RUN line: info
        t.file("/tmp/x", ELF, 0o755)  # odd place: high in a container, medium here
        t.file("/bin/copy", ELF, 0o4755)  # setuid: medium here

    got = kinds(audit_layer(tmp_path, build, role="image"))
    assert ("executable-added", INFO, "/usr/bin/newtool") in got
    assert ("executable-added", M, "/tmp/x") in got
    assert ("setuid-added", M, "/bin/copy") in got


def test_ioc_matches_are_high_everywhere(tmp_path: Path) -> None:
    iocs = parse_iocs("# test list\n/tmp/*.sh\nxmrig\n", "iocs.txt")

    def build(t: Tree) -> None:
        t.file("/tmp/drop.sh", b"#!/bin/sh\n")
        t.file("/usr/local/bin/xmrig", b"miner")
        t.whiteout("/app/data.txt")

    for role in ("rw", "image"):
        got = kinds(audit_layer(tmp_path / role, build, role=role, iocs=iocs))
        assert ("ioc-match", H, "/tmp/drop.sh") in got
        assert ("ioc-match", H, "/usr/local/bin/xmrig") in got
        assert not any(p == "/app/data.txt" and k == "ioc-match" for k, _, p in got)


def test_init_layer_stubs_are_not_findings(tmp_path: Path) -> None:
    def stubs(t: Tree) -> None:
        for path in ("/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
                     "/dev/console"):  # fmt: skip
            t.file(path, b"", 0o755)
        for path in ("/dev/pts", "/dev/shm", "/proc", "/sys"):
            t.dir(path)
        t.link("/etc/mtab", "/proc/mounts")

    assert audit_layer(tmp_path / "clean", stubs, role="init") == []

    def tampered(t: Tree) -> None:
        stubs(t)
        t.file("/etc/hosts", b"10.0.0.1 bank.example\n", 0o755)
        t.file("/usr/bin/extra", ELF, 0o755)

    got = kinds(audit_layer(tmp_path / "tampered", tampered, role="init"))
    assert ("init-layer", M, "/etc/hosts") in got
    assert ("init-layer", M, "/usr/bin/extra") in got
    assert ("executable-added", M, "/usr/bin/extra") in got


def test_no_image_date_no_mtime_finding(tmp_path: Path) -> None:
    got = audit_layer(tmp_path, lambda t: t.file("/app/old", mtime=OLD), created_ns=None)
    assert not [f for f in got if f.kind is FindingKind.MTIME_BEFORE_IMAGE]
    assert IMAGE_CREATED > OLD


def test_base_layer_audited_alone(tmp_path: Path) -> None:
    """The bottom layer of an image has nothing beneath: everything in it is added."""
    got = kinds(audit_layer(tmp_path, base_image, role="image", lower=()))
    assert ("setuid-added", M, "/bin/su") in got
    assert ("executable-added", INFO, "/bin/sh") in got
