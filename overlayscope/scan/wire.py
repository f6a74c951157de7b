"""Framing between the scan driver and its worker processes.

A frame is an 8-byte little-endian length and a pickle. Both ends are this
package (the worker is started from our own module), so pickle is safe here.
Tasks go down as `(layer_id, content_dir, read_xattrs, make_sums, overlay_xattrs)` (the
last: the namespace whose overlay xattrs are metadata, or None). A worker sends `Message`s up:
its entry count now and then while it walks a layer, then the layer itself in the
compact layout (`Columns`: a few arrays and byte strings, which pickle as raw
memory, so the parent spends next to nothing receiving a layer).
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any, TypeAlias

_HEADER = struct.Struct("<Q")

# (layer id, payload, layer finished, traceback text if the worker failed). The payload
# is the entries walked so far while a layer is in progress, and `(Columns, problems)`
# once it is finished. A worker says it is ready for a (first) layer with READY.
Message: TypeAlias = tuple["str | None", Any, bool, "str | None"]
READY: Message = (None, None, True, None)
Task: TypeAlias = tuple[str, str, bool, bool, "str | None"]


def write_frame(stream: IO[bytes], obj: object) -> None:
    """Pickle `obj` onto `stream` as one frame and flush it."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's pickled bytes, or None at a clean end of stream."""
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
