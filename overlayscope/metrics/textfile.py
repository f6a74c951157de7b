"""node_exporter's textfile collector: the exposition written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile

DEFAULT_NAME = "overlayscope.prom"


def write_textfile(directory: str, name: str, data: bytes) -> str:
    """Write `data` to `directory/name` atomically; return the path.

    A temporary file in the same dir (a dot-name not ending in `.prom`, which the collector
    never reads), synced, readable by all (node_exporter runs as another user, whatever our
    umask), then renamed over the old file: a scrape sees the old figures or the new ones,
    never half of them.
    """
    path = os.path.join(directory, name)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
