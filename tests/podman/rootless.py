"""The throwaway system user a rootless private podman runs as: made with a subordinate
uid/gid range on start, removed on stop with every line it left in /etc."""

from __future__ import annotations

import contextlib
import pwd
from dataclasses import dataclass
from pathlib import Path

from tests.podman.config import PodmanUnavailable, run_root_tool

# Subordinate ids given to the rootless user: one 64 Ki range above every range already listed.
SUBID_COUNT = 65536
SUBID_FLOOR = 100000


@dataclass(frozen=True)
class RootlessUser:
    """The throwaway system user a rootless engine runs as, and its subordinate ranges."""

    name: str
    uid: int
    gid: int
    subuid_start: int
    subgid_start: int
    count: int = SUBID_COUNT
    backups_before: tuple[str, ...] = ()  # SHADOW_BACKUPS that existed before useradd

    def maps_host_uid(self, uid: int) -> bool:
        """True for the user's own uid and every uid of its subordinate range."""
        return uid == self.uid or self.subuid_start <= uid < self.subuid_start + self.count


# The backups shadow's tools (useradd, usermod, userdel) write beside the user databases.
SHADOW_BACKUPS = tuple(
    Path(f"/etc/{name}-") for name in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
)


def _next_subid_start(path: Path) -> int:
    """The first multiple of SUBID_COUNT above every range listed in /etc/subuid or subgid."""
    top = SUBID_FLOOR
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                top = max(top, int(parts[1]) + int(parts[2]))
    return -(-top // SUBID_COUNT) * SUBID_COUNT


def create_rootless_user(name: str, home: Path) -> RootlessUser:
    """useradd a system user `name` (no home created, no login) and give it subordinate ids."""
    backups = tuple(str(p) for p in SHADOW_BACKUPS if p.exists())
    res = run_root_tool(
        "useradd",
        "--system",
        "--no-create-home",
        f"--home-dir={home}",
        "--shell=/usr/sbin/nologin",
        "--user-group",
        name,
    )
    if res.returncode != 0:
        raise PodmanUnavailable(f"useradd {name} failed: {res.stderr.strip()}")
    entry = pwd.getpwnam(name)
    uid_start = _next_subid_start(Path("/etc/subuid"))
    gid_start = _next_subid_start(Path("/etc/subgid"))
    user = RootlessUser(
        name, entry.pw_uid, entry.pw_gid, uid_start, gid_start, backups_before=backups
    )
    res = run_root_tool(
        "usermod",
        f"--add-subuids={uid_start}-{uid_start + SUBID_COUNT - 1}",
        f"--add-subgids={gid_start}-{gid_start + SUBID_COUNT - 1}",
        name,
    )
    if res.returncode != 0:
        remove_rootless_user(user)
        raise PodmanUnavailable(f"usermod --add-subuids for {name} failed: {res.stderr.strip()}")
    return user


def remove_rootless_user(user: RootlessUser) -> list[str]:
    """userdel the user; make sure its /etc/subuid and /etc/subgid lines are gone and that no
    backup file (/etc/passwd- ...) still names it. Other lines are left as they were.

    Returns the problems met (empty when all went well).
    """
    problems = []
    with contextlib.suppress(KeyError):
        pwd.getpwnam(user.name)
        res = run_root_tool("userdel", user.name)
        if res.returncode != 0:
            problems.append(f"userdel {user.name}: {res.stderr.strip()}")
    # shadow's userdel removes subordinate ranges on Debian 12; older ones did not.
    for path in (Path("/etc/subuid"), Path("/etc/subgid")):
        _drop_lines(path, f"{user.name}:")
    for path in SHADOW_BACKUPS:
        left = _drop_lines(path, f"{user.name}:")
        if left == "" and str(path) not in user.backups_before:
            path.unlink()  # a backup that only our useradd made
    return problems


def _drop_lines(path: Path, prefix: str) -> str | None:
    """Remove the lines of `path` starting with `prefix`, in place (owner and mode kept);
    return what is left, or None when there is no such file."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return None
    kept = [line for line in lines if not line.startswith(prefix)]
    if kept != lines:
        path.write_text("".join(kept))
    return "".join(kept)
