"""Framing between the scan driver and its worker processes.

A frame is an 8-byte little-endian length and a pickle. Both ends are this
package (the worker is started from our own module), so pickle is safe here.

Down, to a worker: a `Task`, `(layer_id, job, content_dir, part, read_xattrs, make_sums,
overlay_xattrs, cold)`: walk a layer (`part` None) or the subtree `part` (`split.Part`) of
it that another walk delegated (`cold`: that walk found the page cache cold); `job`
numbers it. Or `SPLIT`, while it walks: hand some of
the walk's subtrees back (a worker that is not walking answers with none).

Up, `Message`s `(what, job, payload)`: `("ready", None, None)` first; `("progress", job,
entries so far)` about ten times a second; `("parts", job, ([Part, ...], cold))`
answering `SPLIT`; `("done", job, (Columns or None, problems, splices, cold))`, the walk's piece
in the compact layout (a few arrays and byte strings, which pickle as raw memory, so the parent
spends next to nothing receiving a layer); `("crash", job, traceback text)`.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any, TypeAlias

_HEADER = struct.Struct("<Q")

Message: TypeAlias = tuple[str, "int | None", Any]
READY: Message = ("ready", None, None)
# layer id, job number, content dir, part (None: the whole layer), xattrs, sums, namespace,
# cold
Task: TypeAlias = tuple[
    str, int, str, "tuple[bytes, int, int] | None", bool, bool, "str | None", bool
]
SPLIT = ("split",)


def write_frame(stream: IO[bytes], obj: object) -> None:
    """Pickle `obj` onto `stream` as one frame and flush it."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    header = _HEADER.pack(len(data))
    if len(data) < 1 << 16:  # one write: a small frame is not worth two syscalls
        stream.write(header + data)
    else:  # nor is a big one worth a copy
        stream.write(header)
        stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's pickled bytes, or None at a clean end of stream. Works on a raw
    (unbuffered) stream too, whose reads may return less than asked."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    data = _read_exactly(stream, length)
    if data is None:
        raise EOFError("stream ended inside a frame")
    return data


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            if chunks:
                raise EOFError("stream ended inside a frame")
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
