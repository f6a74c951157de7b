"""A rootless store's id map: the ids its files carry are the host's, not the container's.

Rootless Podman runs in a user namespace: the container's root is the user's own uid and
gid, and container ids 1..N are the user's subordinate range from /etc/subuid and
/etc/subgid (`newuidmap`). The graph root belongs to that user, which is how a rootless
store is told from a rootful one. The subordinate ranges are this machine's: for a store
copied from another host, or whose user is gone, only the root mapping is known.
"""

from __future__ import annotations

import os
import pwd

from overlayscope.root.model import IdMap


def rootless_maps(
    root: str, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid"
) -> tuple[tuple[IdMap, ...], tuple[IdMap, ...]]:
    """(uid map, gid map) of the store at `root`; ((), ()) for a rootful store."""
    try:
        st = os.lstat(root)
    except OSError:
        return (), ()
    if st.st_uid == 0:
        return (), ()
    try:
        name = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        name = None
    uids = (IdMap(0, st.st_uid, 1), *_subordinate(subuid, name, st.st_uid))
    gids = (IdMap(0, st.st_gid, 1), *_subordinate(subgid, name, st.st_uid))
    return uids, gids


def _subordinate(path: str, name: str | None, uid: int) -> tuple[IdMap, ...]:
    """The user's subordinate ranges in `path` (`NAME:START:COUNT` or `UID:START:COUNT`
    lines), mapped from container id 1 on, in file order, as `newuidmap` is given them."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    out: list[IdMap] = []
    inside = 1
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start < 0 or count <= 0:
            continue
        out.append(IdMap(inside, start, count))
        inside += count
    return tuple(out)
