"""Findings planted by real containers of a private dockerd, found with the right severity.

Each container does its deed with the image's own busybox; the audit then reads the engine's
data root from disk (offline, as an analyst would read a copy). Every path a finding names is
one the engine itself lists in `docker diff`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from overlayscope.audit import AuditOptions, AuditReport, Finding, audit, parse_iocs
from overlayscope.root.load import load_host
from tests.engine import PrivateEngine
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine

DOCKERFILE = """FROM {base}
RUN mkdir -p /app /opt /usr/local/bin /etc/cron.d /root/.ssh /var/spool/cron/crontabs \\
 && echo data > /app/existing.txt \\
 && cp /bin/busybox /usr/local/bin/tool \\
 && echo 'root:*:19000:0:99999:7:::' > /etc/shadow && chmod 640 /etc/shadow
"""

PLANT = r"""set -e
cp /bin/busybox /usr/local/bin/x
cp /bin/busybox /bin/busybox-copy && chmod u+s /bin/busybox-copy
cp /bin/busybox /tmp/.x
echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd
echo 'evil:$6$salt$0123456789abcdef:19000:0:99999:7:::' >> /etc/shadow
echo 'ssh-ed25519 AAAAC3Nza evil@example' > /root/.ssh/authorized_keys
echo /tmp/evil.so > /etc/ld.so.preload
echo '* * * * * /tmp/.x' > /var/spool/cron/crontabs/root
echo '* * * * * root /tmp/.x' > /etc/cron.d/evil
mkdir /tmp/.hid
ln -s /etc/shadow /tmp/s
ln -s ../../../../../../etc/shadow /tmp/up
touch -d 2099-01-01 /f
rm /etc/group
touch "/tmp/$(printf 'a\033[31mb')"
touch "/tmp/$(printf 'x\342\200\256fdp.sh')"
touch "/etc/p$(printf '\320\260')sswd"
touch '/tmp/trailing '
echo x >> /usr/local/bin/tool
echo tampered >> /app/existing.txt && touch -d '2000-01-02 00:00:00' /app/existing.txt
mknod /tmp/mem c 1 1
echo payload > /opt/payload
"""

PAYLOAD_SHA256 = hashlib.sha256(b"payload\n").hexdigest()

EXPECTED = {
    ("executable-added", "medium", "/usr/local/bin/x"),
    ("executable-added", "medium", "/bin/busybox-copy"),
    ("setuid-added", "high", "/bin/busybox-copy"),
    ("executable-added", "high", "/tmp/.x"),
    ("sensitive-modified", "high", "/etc/passwd"),
    ("sensitive-modified", "high", "/etc/shadow"),
    ("sensitive-modified", "high", "/root/.ssh/authorized_keys"),
    ("sensitive-modified", "high", "/etc/ld.so.preload"),
    ("sensitive-modified", "high", "/var/spool/cron/crontabs/root"),
    ("sensitive-modified", "medium", "/etc/cron.d/evil"),
    ("hidden-dir", "medium", "/tmp/.hid"),
    ("symlink-sensitive", "high", "/tmp/s"),
    ("symlink-escape", "high", "/tmp/up"),
    ("future-mtime", "medium", "/f"),
    ("sensitive-deleted", "medium", "/etc/group"),
    ("name-control", "high", "/tmp/a\x1b[31mb"),
    ("name-invisible", "high", "/tmp/x\u202efdp.sh"),
    ("name-confusable", "high", "/etc/p\u0430sswd"),
    ("name-whitespace", "medium", "/tmp/trailing "),
    ("executable-modified", "high", "/usr/local/bin/tool"),
    ("mtime-before-image", "medium", "/app/existing.txt"),
    ("device-added", "medium", "/tmp/mem"),
    ("ioc-match", "high", "/opt/payload"),
    ("ioc-match", "high", "/tmp/x\u202efdp.sh"),
}

# What `apt-get install` does: tools, a library, a system user (locked), a cron job, a
# profile snippet, a unit, a linker path. Real changes, none of them high.
PACKAGE = r"""set -e
mkdir -p /usr/lib/pkg /etc/cron.daily /etc/profile.d /lib/systemd/system /etc/ld.so.conf.d
cp /bin/busybox /usr/bin/pkgtool
cp /bin/busybox /usr/lib/pkg/libpkg.so.1
echo 'svc:x:100:101::/nonexistent:/sbin/nologin' >> /etc/passwd
echo 'svc:x:101:' >> /etc/group
echo 'svc:!:19000::::::' >> /etc/shadow
printf '#!/bin/sh\npkgtool rotate\n' > /etc/cron.daily/pkg && chmod 755 /etc/cron.daily/pkg
echo 'export PKG=1' > /etc/profile.d/pkg.sh
printf '[Service]\nExecStart=/usr/bin/pkgtool\n' > /lib/systemd/system/pkg.service
echo /usr/lib/pkg > /etc/ld.so.conf.d/pkg.conf
mkdir -p /usr/share/doc/pkg && echo docs > /usr/share/doc/pkg/README
"""


@pytest.fixture(scope="module")
def scene(engine: PrivateEngine, base_image: str) -> Iterator[dict[str, Any]]:
    image = engine.build("overlayscope/audit:test", DOCKERFILE.format(base=base_image))
    ids = {
        "planted": engine.run(image, ["sh", "-c", PLANT + "\nexit 0"], name="audit-planted"),
        "benign": engine.run(
            image, ["sh", "-c", "mkdir -p /app/data && echo hi > /app/data/new.txt"],
            name="audit-benign",
        ),
        "package": engine.run(image, ["sh", "-c", PACKAGE], name="audit-package"),
        # Running: writes to /etc/hosts go to Docker's bind-mounted file, never a layer.
        "running": engine.run(
            image, ["sh", "-c", "echo '10.0.0.1 bank.example' >> /etc/hosts; sleep 600"],
            name="audit-running",
        ),
    }  # fmt: skip
    for name in ("planted", "benign", "package"):
        engine.docker("wait", ids[name])
    iocs = parse_iocs(f"{PAYLOAD_SHA256}\n/tmp/*.sh\n", "iocs.txt")
    report = audit(load_host(str(engine.data_root)), AuditOptions(hash=True, iocs=iocs))
    yield {"ids": ids, "report": report, "image": image}
    engine.docker("rm", "-f", ids["running"])


def _of(report: AuditReport, container: str) -> list[Finding]:
    return [f for f in report.findings if f.container == container]


def _kinds(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(str(f.kind), str(f.severity), f.path) for f in findings}


def test_every_planted_finding_is_found(engine: PrivateEngine, scene: dict[str, Any]) -> None:
    [inspected] = engine.inspect(scene["ids"]["planted"])
    assert inspected["State"]["ExitCode"] == 0, engine.docker("logs", scene["ids"]["planted"])
    found = _of(scene["report"], scene["ids"]["planted"])
    got = _kinds(found)
    assert got >= EXPECTED, f"missing: {sorted(EXPECTED - got)}"
    assert all(f.role == "rw" for f in found)  # nothing from the init layer


def test_findings_name_what_docker_diff_lists(engine: PrivateEngine, scene: dict[str, Any]) -> None:
    diff = {c["Path"] for c in engine.client.api.diff(scene["ids"]["planted"]) or []}
    for f in _of(scene["report"], scene["ids"]["planted"]):
        assert f.path in diff, f


def test_hashes_are_the_files_sha256(scene: dict[str, Any]) -> None:
    planted = scene["ids"]["planted"]
    hashes = {h.path: h for h in scene["report"].hashes if h.container == planted}
    assert hashes["/opt/payload"].sha256 == PAYLOAD_SHA256
    assert hashes["/opt/payload"].change == "added"
    assert hashes["/etc/passwd"].change == "changed"
    payload = next(f for f in scene["report"].findings if f.path == "/opt/payload")
    assert payload.sha256 == PAYLOAD_SHA256


def test_benign_and_running_containers_stay_quiet(scene: dict[str, Any]) -> None:
    report = scene["report"]
    assert _of(report, scene["ids"]["benign"]) == []
    # /etc/hosts was written, but into Docker's own file: the init stubs stay stubs.
    assert _of(report, scene["ids"]["running"]) == []


def test_a_package_install_is_not_high(scene: dict[str, Any]) -> None:
    found = _of(scene["report"], scene["ids"]["package"])
    got = _kinds(found)
    assert ("executable-added", "medium", "/usr/bin/pkgtool") in got
    assert ("sensitive-modified", "medium", "/etc/shadow") in got
    assert ("sensitive-modified", "medium", "/etc/cron.daily/pkg") in got
    assert not [f for f in found if str(f.severity) == "high"], sorted(got)


def test_cli_exit_status_on_the_engine_root(
    capsys: pytest.CaptureFixture[str], engine: PrivateEngine, scene: dict[str, Any]
) -> None:
    root = str(engine.data_root)
    code, report = run_json(capsys, "--root", root, "--offline", "audit")
    assert code == 0  # findings alone never fail the run
    assert report["summary"]["high"] >= 1
    code, _ = run_json(capsys, "--root", root, "--offline", "audit", "--fail-on", "high")
    assert code == 1
