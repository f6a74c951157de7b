"""Sensitive files: which paths matter, how severe a change to each is, what the content says.

A class gives two severities: for a file *added* by the layer (a package
install adds cron jobs, profile snippets and units all the time) and for a
file that existed beneath and was *changed* (editing a system file in place
is rarer and worse). The account files are read: a new uid-0 account, a
password hash or an empty password, a new member of a privileged group, or a
NOPASSWD sudo rule makes the finding high whatever the class says.
"""

from __future__ import annotations

import fnmatch
import re

from overlayscope.audit.findings import Severity
from overlayscope.record import record

HIGH, MEDIUM, LOW, INFO = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO
_HOMES = ("/root", "/home/*")


def _in_homes(*names: str) -> tuple[str, ...]:
    return tuple(f"{home}/{name}" for home in _HOMES for name in names)


@record
class SensitiveClass:
    name: str  # account, sudo, preload, ssh-keys, cron, user-cron, profile, init, pam, history
    what: str  # a phrase for the detail line
    added: Severity
    changed: Severity
    patterns: tuple[str, ...]  # fnmatch patterns on the container path ('*' spans '/')
    link_target: bool = False  # a symlink pointing here is suspicious (credentials, keys)


CLASSES: tuple[SensitiveClass, ...] = (
    SensitiveClass(
        "preload",
        "the dynamic linker's preload list (loads a library into every process)",
        HIGH,
        HIGH,
        ("/etc/ld.so.preload",),
        link_target=True,
    ),
    SensitiveClass(
        "ssh-keys",
        "SSH authorized keys (a login that needs no password)",
        HIGH,
        HIGH,
        (*_in_homes(".ssh/authorized_keys", ".ssh/authorized_keys2"), "/etc/ssh/authorized_keys*"),
        link_target=True,
    ),
    SensitiveClass(
        "sudo",
        "sudo rules",
        MEDIUM,
        HIGH,
        ("/etc/sudoers", "/etc/sudoers.d/*"),
        link_target=True,
    ),
    SensitiveClass(
        "account",
        "an account database",
        MEDIUM,
        MEDIUM,
        tuple(f"/etc/{n}{b}" for n in ("passwd", "shadow", "group", "gshadow") for b in ("", "-")),
        link_target=True,
    ),
    SensitiveClass(
        "user-cron",
        "a user crontab",
        HIGH,
        HIGH,
        ("/var/spool/cron/*",),
    ),
    SensitiveClass(
        "cron",
        "a system cron job",
        MEDIUM,
        HIGH,
        (
            "/etc/crontab",
            "/etc/anacrontab",
            "/etc/cron.d/*",
            "/etc/cron.hourly/*",
            "/etc/cron.daily/*",
            "/etc/cron.weekly/*",
            "/etc/cron.monthly/*",
            "/etc/periodic/*",
        ),
    ),
    SensitiveClass(
        "linker",
        "the dynamic linker's search path",
        LOW,
        MEDIUM,
        ("/etc/ld.so.conf", "/etc/ld.so.conf.d/*"),
    ),
    SensitiveClass(
        "pam",
        "a PAM configuration (how logins are checked)",
        LOW,
        HIGH,
        ("/etc/pam.d/*", "/etc/pam.conf", "/etc/security/*"),
    ),
    SensitiveClass(
        "init",
        "a service definition (systemd unit or init script)",
        LOW,
        MEDIUM,
        (
            "/etc/systemd/system/*",
            "/etc/systemd/user/*",
            "/lib/systemd/system/*",
            "/usr/lib/systemd/system/*",
            "/usr/lib/systemd/user/*",
            "/etc/init.d/*",
            "/etc/rc.local",
            "/etc/rc*.d/*",
            "/etc/inittab",
            "/etc/supervisor/*",
            "/etc/supervisord.conf",
        ),
    ),
    SensitiveClass(
        "profile",
        "a shell start-up file (runs at every login or shell)",
        LOW,
        MEDIUM,
        (
            "/etc/profile",
            "/etc/profile.d/*",
            "/etc/environment",
            "/etc/bash.bashrc",
            "/etc/bashrc",
            "/etc/zshrc",
            "/etc/zprofile",
            "/etc/zshenv",
            "/etc/zsh/*",
            *_in_homes(
                ".bashrc",
                ".bash_profile",
                ".bash_login",
                ".bash_logout",
                ".profile",
                ".zshrc",
                ".zprofile",
                ".zshenv",
                ".zlogin",
                ".ashrc",
                ".shrc",
            ),
        ),
    ),
    SensitiveClass(
        "history",
        "a shell history or login record (an interactive session; cleared to hide one)",
        INFO,
        MEDIUM,
        (
            *_in_homes(".bash_history", ".ash_history", ".sh_history", ".zsh_history", ".history"),
            "/var/log/wtmp",
            "/var/log/btmp",
            "/var/log/lastlog",
            "/var/log/auth.log",
        ),
    ),
)

_COMPILED = tuple((c, tuple(re.compile(fnmatch.translate(p)) for p in c.patterns)) for c in CLASSES)

# Symlink targets that only make sense as a way out of the container or to its secrets.
ESCAPE_TARGETS = tuple(
    re.compile(fnmatch.translate(p))
    for p in (
        "/proc/*/root",
        "/proc/*/root/*",
        "/proc/*/cwd",
        "/proc/*/cwd/*",
        "/proc/*/environ",
        "/proc/*/mem",
        "/proc/*/fd/*",
        "/proc/kcore",
        "/proc/sysrq-trigger",
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/var/run/containerd/*",
        "/run/containerd/*",
        "/var/lib/docker",
        "/var/lib/docker/*",
        "/dev/mem",
        "/dev/kmem",
        "/dev/sd*",
        "/dev/vd*",
        "/dev/nvme*",
        "/dev/xvd*",
    )
)


def classify(path: str) -> SensitiveClass | None:
    """The sensitive class of a container path, if any."""
    for cls, patterns in _COMPILED:
        if any(p.match(path) for p in patterns):
            return cls
    return None


def escape_target(path: str) -> bool:
    return any(p.match(path) for p in ESCAPE_TARGETS)


_PRIVILEGED_GROUPS = frozenset(
    {"root", "sudo", "wheel", "admin", "adm", "docker", "disk", "shadow", "lxd", "kvm"}
)
_LOCKED = ("!", "*", "x")


def content_alerts(path: str, old: bytes | None, new: bytes) -> list[str]:
    """What the lines a layer added to an account or sudo file mean; [] when nothing grave.

    `old` is the version beneath (None when the file is new). Only lines that
    are new or changed are judged, so an account the image already had is
    never reported again.
    """
    name = path.rsplit("/", 1)[-1].rstrip("-")
    old_lines = set(_lines(old)) if old is not None else set()
    added = [line for line in _lines(new) if line not in old_lines]
    alerts: list[str] = []
    for line in added:
        fields = line.split(":")
        if name == "passwd" and len(fields) >= 4:
            if fields[2].strip() == "0" and fields[0] != "root":
                alerts.append(f"account {fields[0]!r} has uid 0 (root)")
            elif fields[1] == "":
                alerts.append(f"account {fields[0]!r} has an empty password field")
        elif name in ("shadow", "gshadow") and len(fields) >= 2:
            if fields[1] == "":
                alerts.append(f"{fields[0]!r} can log in with no password")
            elif not fields[1].startswith(_LOCKED):
                alerts.append(f"a password hash was set for {fields[0]!r}")
        elif name == "group" and len(fields) >= 4:
            members = {m for m in fields[3].split(",") if m}
            before = _members(fields[0], old_lines)
            gained = sorted(members - before)
            if gained and (fields[0] in _PRIVILEGED_GROUPS or fields[2].strip() == "0"):
                who = "member" if len(gained) == 1 else "members"
                alerts.append(f"group {fields[0]!r} gained {who} {', '.join(gained)}")
            elif fields[2].strip() == "0" and fields[0] != "root":
                alerts.append(f"group {fields[0]!r} has gid 0")
        elif (name == "sudoers" or "/sudoers.d/" in path) and "NOPASSWD" in line:
            alerts.append(f"a sudo rule needs no password: {line.strip()[:80]!r}")
    return alerts


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "surrogateescape")
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def _members(group: str, old_lines: set[str]) -> set[str]:
    for line in old_lines:
        fields = line.split(":")
        if fields[0] == group and len(fields) >= 4:
            return {m for m in fields[3].split(",") if m}
    return set()
