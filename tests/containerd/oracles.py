"""containerd's own answers, parsed: the text `ctr snapshots …` prints, and the List replies of
the Images, Content and Leases services (what `ctr images ls`, `ctr content ls` and
`ctr leases ls` call), decoded with exact sizes. PrivateContainerd's oracles run the commands
and calls; these read what comes back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.containerd.config import ContainerdError
from tests.containerd.mounts import SnapshotMount
from tests.containerd.protobuf import pb_decode, pb_int, pb_raw, pb_str, pb_strmap, pb_time


def parse_snapshots_ls(text: str) -> dict[str, tuple[str, str]]:
    """`ctr snapshots ls`: key -> (parent or "", kind: "Active"/"Committed"/"View")."""
    out = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
        elif len(parts) == 2:
            out[parts[0]] = ("", parts[1])
    return out


def parse_snapshots_usage(text: str) -> dict[str, tuple[int, int]]:
    """`ctr snapshots usage -b`: key -> (bytes, inodes)."""
    out = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = (int(parts[1]), int(parts[2]))
    return out


def parse_snapshot_mounts(text: str) -> list[SnapshotMount]:
    """`ctr snapshots mounts /mnt KEY`: the mount commands it prints, as SnapshotMounts."""
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # "mount -t overlay overlay /mnt -o index=off,workdir=…,upperdir=…,lowerdir=…"
        words = line.split()
        if words[:2] != ["mount", "-t"] or "-o" not in words:
            raise ContainerdError(f"unexpected ctr snapshots mounts line: {line!r}")
        opts = words[words.index("-o") + 1]
        mounts.append(SnapshotMount(words[2], words[3], tuple(opts.split(","))))
    return mounts


def parse_snapshots_tree(text: str) -> dict[str, str]:
    """`ctr snapshots tree`: key -> parent key ("" for a root), read from the indentation."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key = line.strip().removeprefix("\\_").strip()
        depth = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[key] = stack[-1][1] if stack else ""
        stack.append((depth, key))
    return parents


def decode_images(reply: bytes) -> list[dict[str, Any]]:
    """An Images.List reply: name, labels, target {mediaType, digest, size}, times; by name."""
    images = []
    for raw in pb_decode(reply).get(1, []):
        assert isinstance(raw, bytes)
        f = pb_decode(raw)
        target = pb_decode(pb_raw(f, 3))
        images.append(
            {
                "name": pb_str(f, 1),
                "labels": pb_strmap(f, 2),
                "target": {
                    "mediaType": pb_str(target, 1),
                    "digest": pb_str(target, 2),
                    "size": pb_int(target, 3),
                },
                "created_at": pb_time(f, 7),
                "updated_at": pb_time(f, 8),
            }
        )
    return sorted(images, key=lambda i: i["name"])


def decode_content(replies: Iterable[bytes]) -> list[dict[str, Any]]:
    """The replies of a Content.List stream: digest, exact size, labels, times; by digest."""
    blobs = []
    for reply in replies:
        for raw in pb_decode(reply).get(1, []):
            assert isinstance(raw, bytes)
            f = pb_decode(raw)
            blobs.append(
                {
                    "digest": pb_str(f, 1),
                    "size": pb_int(f, 2),
                    "labels": pb_strmap(f, 5),
                    "created_at": pb_time(f, 3),
                    "updated_at": pb_time(f, 4),
                }
            )
    return sorted(blobs, key=lambda b: b["digest"])


def decode_leases(reply: bytes) -> list[dict[str, Any]]:
    """A Leases.List reply: id, labels, created_at; by id (resources are another call)."""
    leases = []
    for raw in pb_decode(reply).get(1, []):
        assert isinstance(raw, bytes)
        f = pb_decode(raw)
        leases.append({"id": pb_str(f, 1), "labels": pb_strmap(f, 3), "created_at": pb_time(f, 2)})
    return sorted(leases, key=lambda le: le["id"])
