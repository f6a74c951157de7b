"""Damage found in a data root, as data: one record per problem, never an exception."""

from __future__ import annotations

import errno
from enum import StrEnum

from overlayscope.record import record

# What every reader says when the operating system refused a look (EACCES, EPERM): the
# evidence is not damaged, the user lacks the rights to see it (docs/json.md).
PERMISSION_DETAIL = "permission denied — run as root"
_DENIED = frozenset({errno.EACCES, errno.EPERM})


class ProblemKind(StrEnum):
    """Stable problem kinds; part of the JSON contract (docs/json.md)."""

    UNREADABLE = "unreadable"  # an I/O error (not a refusal) on a record
    # The operating system refused to show a record or a layer dir (EACCES, EPERM): what is
    # there is unknown, never reported as missing, dangling or damaged.
    PERMISSION_DENIED = "permission-denied"
    BAD_METADATA = "bad-metadata"  # truncated, garbage or wrongly typed record
    SYMLINK_IN_ROOT = "symlink-in-root"  # a record or layer dir is a symlink: never followed
    DANGLING_LINK = "dangling-link"  # l/<short> points at a dir that is gone
    BAD_LINK = "bad-link"  # l/<short> is not a symlink of the form ../<id>/diff
    MISSING_LINK_FILE = "missing-link-file"  # overlay2/<id> has no `link`
    LINK_MISMATCH = "link-mismatch"  # `link` names a short link that does not lead back here
    MISSING_DIFF = "missing-diff"  # overlay2/<id> has no diff/
    LOWER_MISSING_LINK = "lower-missing-link"  # `lower` names a short link not in l/
    LOWER_CYCLE = "lower-cycle"  # `lower` names the dir itself or a short link twice
    LOWER_TOO_LONG = "lower-too-long"  # more lower layers than Docker ever creates
    LOWER_MISMATCH = "lower-mismatch"  # `lower` disagrees with the layerdb chain
    MISSING_LAYER_DIR = "missing-layer-dir"  # layerdb cache-id names a missing overlay2 dir
    CHAIN_ID_MISMATCH = "chain-id-mismatch"  # chainID != sha256(parent + " " + diffID)
    MISSING_PARENT = "missing-parent"  # layerdb parent names no layerdb record
    MISSING_LAYER = "missing-layer"  # an image's diff_ids lead to no layerdb record
    IMAGE_DIGEST_MISMATCH = "image-digest-mismatch"  # image config's sha256 is not its id
    MISSING_IMAGE = "missing-image"  # a tag or container names an image not in imagedb
    MOUNT_MISSING_DIR = "mount-missing-dir"  # layerdb mount whose rw or init dir is gone
    MOUNT_PARENT_MISMATCH = "mount-parent-mismatch"  # mount parent != the image's top layer
    MOUNT_WITHOUT_CONTAINER = "mount-without-container"  # layerdb mount, no container config
    CONTAINER_WITHOUT_MOUNT = "container-without-mount"  # container config, no layerdb mount
    SHARED_LAYER_DIR = "shared-layer-dir"  # one overlay2 dir claimed by two records
    DAEMON_MISMATCH = "daemon-mismatch"  # the daemon's GraphDriver data disagrees with disk
    DAEMON_UNAVAILABLE = "daemon-unavailable"  # a daemon named could not be reached in time
    BAD_DAEMON_REPLY = "bad-daemon-reply"  # the daemon answered what its API never does
    DUPLICATE_NAME = "duplicate-name"  # two containers carry one name (Docker's are unique)
    BAD_DATABASE = "bad-database"  # a metadata DB (bbolt) page or record that cannot be read
    MISSING_SNAPSHOT = "missing-snapshot"  # a snapshot record names one its snapshotter lacks
    MISSING_BLOB = "missing-blob"  # a record names a content blob that is not in the store
    BLOB_DIGEST_MISMATCH = "blob-digest-mismatch"  # a content blob's sha256 is not its name


@record
class Problem:
    """One problem: what kind, where on disk, and a sentence saying what is wrong."""

    kind: ProblemKind
    path: str
    detail: str


def is_denied(exc: OSError) -> bool:
    """True when `exc` is the operating system refusing access, not a fact about the file."""
    return exc.errno in _DENIED


def permission_problem(path: str) -> Problem:
    """The one problem every store reader reports where access to `path` was refused."""
    return Problem(ProblemKind.PERMISSION_DENIED, path, PERMISSION_DETAIL)
