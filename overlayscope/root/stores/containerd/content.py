"""containerd's content store: `io.containerd.content.v1.content/blobs/sha256/<hex>`.

Image indexes, manifests and configs are small JSON blobs read here (checked against
their digest, never through a symlink); compressed layer blobs are only listed and sized.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Any

from overlayscope.digest import sha256
from overlayscope.record import field, record
from overlayscope.root.problems import Problem, ProblemKind
from overlayscope.root.records import (
    MissingRecord,
    RecordError,
    list_dir,
    lstat_or_none,
    read_bytes,
)

PLUGIN_DIR = "io.containerd.content.v1.content"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_JSON_BLOB = 8 * 1024 * 1024  # manifests and configs are kilobytes; more is not one


@record(frozen=False, slots=False)
class ContentStore:
    path: str  # <containerd root>/io.containerd.content.v1.content
    blobs: dict[str, str] = field(default_factory=dict)  # digest → file path
    problems: list[Problem] = field(default_factory=list)
    # blobs/sha256/ could be listed, no symlink on the way (or there is no store at all);
    # else no blob is read either.
    listed: bool = True
    _json: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def blob_path(self, digest: str) -> str:
        algorithm, _, hexpart = digest.partition(":")
        return os.path.join(self.path, "blobs", algorithm, hexpart)

    def json(self, digest: str, why: str) -> dict[str, Any] | None:
        """The JSON object in blob `digest` (`why`: what needs it, for the problem), or None
        with a problem when it is missing, damaged or not its digest."""
        if not self.listed:
            return None  # the store could not be seen (a symlink on the way): never read
        if digest in self._json:
            return self._json[digest]
        self._json[digest] = value = self._read_json(digest, why)
        return value

    def _read_json(self, digest: str, why: str) -> dict[str, Any] | None:
        algorithm, _, hexpart = digest.partition(":")
        path = self.blob_path(digest)
        if algorithm != "sha256" or not _HEX64.match(hexpart):
            self.problems.append(
                Problem(ProblemKind.BAD_METADATA, self.path, f"{why}: bad digest {digest[:80]!r}")
            )
            return None
        try:
            raw = read_bytes(path, MAX_JSON_BLOB)
        except MissingRecord:
            self.problems.append(
                Problem(ProblemKind.MISSING_BLOB, path, f"{why}: not in the store")
            )
            return None
        except RecordError as exc:
            self.problems.append(exc.problem)
            return None
        if sha256(raw).hexdigest() != hexpart:
            self.problems.append(
                Problem(ProblemKind.BLOB_DIGEST_MISMATCH, path, "content's sha256 is not its name")
            )
            return None
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            self.problems.append(Problem(ProblemKind.BAD_METADATA, path, f"invalid JSON: {exc}"))
            return None
        if not isinstance(value, dict):
            self.problems.append(Problem(ProblemKind.BAD_METADATA, path, "not a JSON object"))
            return None
        return value


def read_content(path: str) -> ContentStore:
    """List the blobs of the content store at `path` (not their bytes)."""
    store = ContentStore(path=path)
    sha_dir = os.path.join(path, "blobs", "sha256")
    for d in (path, os.path.join(path, "blobs")):
        st = lstat_or_none(d)
        if st is not None and stat.S_ISLNK(st.st_mode):
            # Never listed nor read through: what is beneath could be anywhere on the host.
            store.problems.append(
                Problem(ProblemKind.SYMLINK_IN_ROOT, d, "is a symlink; not followed")
            )
            store.listed = False
            return store
    try:
        names = list_dir(sha_dir)
    except RecordError as exc:
        if lstat_or_none(sha_dir) is not None:
            store.problems.append(exc.problem)
            store.listed = False
        return store
    for name in names:
        if _HEX64.match(name):
            store.blobs["sha256:" + name] = os.path.join(sha_dir, name)
    return store
