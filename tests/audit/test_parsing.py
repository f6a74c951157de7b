"""Pure logic, table-driven: names, account-file lines, IOC lists, Docker's timestamps."""

from __future__ import annotations

import pytest

from overlayscope.audit.findings import FindingKind, Severity
from overlayscope.audit.ioc import IocError, parse_iocs
from overlayscope.audit.names import name_issues, skeleton
from overlayscope.audit.paths import may_hold_sensitive, resolve_target
from overlayscope.audit.sensitive import classify, content_alerts
from overlayscope.audit.times import iso_ns, parse_rfc3339_ns


@pytest.mark.parametrize(
    ("name", "siblings", "expected"),
    [
        ("passwd", (), []),
        ("..", (), []),
        (".bashrc", (), []),
        ("a\x1bb", (), [FindingKind.NAME_CONTROL]),
        ("a\x85b", (), [FindingKind.NAME_CONTROL]),
        ("a\u202eb", (), [FindingKind.NAME_INVISIBLE]),
        ("a\u00a0b", (), [FindingKind.NAME_INVISIBLE]),
        ("\u3164", (), [FindingKind.NAME_INVISIBLE]),
        ("p\u0430sswd", {"passwd"}, [FindingKind.NAME_CONFUSABLE]),
        ("\u0440\u0455", (), [FindingKind.NAME_CONFUSABLE]),  # "рѕ" imitates ps
        ("\u043c\u0438\u0440", (), []),  # "мир": Russian, imitates nothing
        ("caf\u00e9", (), []),  # an accent is not a look-alike
        ("x\udcff", (), [FindingKind.NAME_UNDECODABLE]),
        (" lead", (), [FindingKind.NAME_WHITESPACE]),
        ("...", (), [FindingKind.NAME_WHITESPACE]),
        (". .", (), [FindingKind.NAME_WHITESPACE]),
    ],
)
def test_name_issues(name: str, siblings: set[str], expected: list[FindingKind]) -> None:
    assert [i.kind for i in name_issues(name, siblings)] == expected


def test_confusable_severity_depends_on_what_it_imitates() -> None:
    [alone] = name_issues("c\u043enfig.yaml")
    [sibling] = name_issues("c\u043enfig.yaml", {"config.yaml"})
    assert (alone.severity, sibling.severity) == (Severity.MEDIUM, Severity.HIGH)
    assert skeleton("\uff50\uff41\uff53\uff53\uff57\uff44") == "passwd"


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("/etc/passwd", "account"),
        ("/etc/shadow-", "account"),
        ("/etc/sudoers.d/90-x", "sudo"),
        ("/root/.ssh/authorized_keys", "ssh-keys"),
        ("/home/bob/.ssh/authorized_keys2", "ssh-keys"),
        ("/var/spool/cron/crontabs/root", "user-cron"),
        ("/etc/cron.daily/logrotate", "cron"),
        ("/etc/ld.so.preload", "preload"),
        ("/etc/systemd/system/multi-user.target.wants/x.service", "init"),
        ("/home/bob/.bashrc", "profile"),
        ("/root/.ash_history", "history"),
        ("/etc/hosts", None),
        ("/etc/passwdx", None),
        ("/app/etc/passwd", None),
    ],
)
def test_classify(path: str, cls: str | None) -> None:
    found = classify(path)
    assert (found.name if found else None) == cls


ROOT = b"root:x:0:0::/root:/bin/sh\n"


@pytest.mark.parametrize(
    ("path", "old", "new", "alerts"),
    [
        ("/etc/passwd", ROOT, ROOT + b"x:x:0:0::/:/bin/sh\n", 1),
        ("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n", b"root:x:0:0::/root:/bin/bash\n", 0),
        ("/etc/passwd", None, b"root::0:0::/root:/bin/sh\n", 1),  # no password field
        ("/etc/passwd", b"", b"svc:x:100:100::/:/usr/sbin/nologin\n", 0),
        ("/etc/shadow", b"root:*:1::::::\n", b"root:*:1::::::\nsvc:!:1::::::\n", 0),
        ("/etc/shadow", b"root:*:1::::::\n", b"root::1::::::\n", 1),
        ("/etc/shadow", b"root:*:1::::::\n", b"root:$y$j9T$abc:1::::::\n", 1),
        ("/etc/group", b"sudo:x:27:\n", b"sudo:x:27:eve\n", 1),
        ("/etc/group", b"sudo:x:27:bob\n", b"sudo:x:27:bob\n", 0),
        ("/etc/group", b"users:x:100:\n", b"users:x:100:eve\n", 0),
        ("/etc/group", b"", b"wheel2:x:0:\n", 1),
        ("/etc/sudoers", b"root ALL=(ALL) ALL\n", b"root ALL=(ALL) ALL\n# NOPASSWD\n", 0),
        ("/etc/sudoers", b"", b"eve ALL=(ALL) NOPASSWD: ALL\n", 1),
    ],
)  # fmt: skip
def test_content_alerts(path: str, old: bytes | None, new: bytes, alerts: int) -> None:
    assert len(content_alerts(path, old, new)) == alerts


@pytest.mark.parametrize(
    ("link", "target", "where", "climbs"),
    [
        ("/tmp/s", "/etc/shadow", "/etc/shadow", False),
        ("/tmp/s", "../etc/shadow", "/etc/shadow", False),
        ("/tmp/s", "../../etc/shadow", "/etc/shadow", True),
        ("/a/b/c", "./../x/./y", "/a/x/y", False),
        ("/x", "/../../..", "/", True),
        ("/x", "", "/", False),
    ],
)
def test_resolve_target(link: str, target: str, where: str, climbs: bool) -> None:
    assert resolve_target(link, target) == (where, climbs)


def test_may_hold_sensitive() -> None:
    assert may_hold_sensitive("/etc")
    assert may_hold_sensitive("/home/alice")
    assert may_hold_sensitive("/etc/cron.d")
    assert not may_hold_sensitive("/app")
    assert not may_hold_sensitive("/usr/share/doc")


def test_ioc_list() -> None:
    digest = "AB" * 32
    iocs = parse_iocs(f"# a comment\n\n  {digest}  \n/tmp/*.sh\nxmrig\n/etc/cron.d/evil\n", "f")
    assert iocs.hashes == {digest.lower()}
    assert iocs.match_hash(digest.lower())
    assert iocs.match_path("/tmp/a.sh") == ["/tmp/*.sh"]
    assert iocs.match_path("/tmp/sub/a.sh") == ["/tmp/*.sh"]  # '*' spans '/'
    assert iocs.match_path("/opt/xmrig") == ["xmrig"]  # no '/': the last component
    assert iocs.match_path("/opt/xmrig/readme") == []
    assert iocs.match_path("/etc/cron.d/evil") == ["/etc/cron.d/evil"]
    assert iocs.match_path("/etc/cron.d/evil2") == []


@pytest.mark.parametrize("line", ["d41d8cd98f00b204e9800998ecf8427e", "a" * 40])
def test_ioc_refuses_other_hashes(line: str) -> None:
    with pytest.raises(IocError, match="only SHA-256"):
        parse_iocs(line)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("2026-11-22T16:30:21.802013512Z", 1795365021_802013512),
        ("2026-11-22T16:30:21.8Z", 1795365021_800000000),
        ("2026-11-22T17:30:21+01:00", 1795365021_000000000),
        ("0001-01-01T00:00:00Z", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rfc3339(text: str | None, ns: int | None) -> None:
    assert parse_rfc3339_ns(text) == ns


def test_iso_ns() -> None:
    assert iso_ns(1795365021_802013512) == "2026-11-22T16:30:21.802013512Z"
    assert iso_ns(-1) == "1969-12-31T23:59:59.999999999Z"
