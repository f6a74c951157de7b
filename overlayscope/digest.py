"""SHA-256 of what a record holds, without loading OpenSSL for it.

`hashlib` loads OpenSSL's libcrypto when imported (~2 ms, at every command that reads a
Docker root: image configs are named by their digest). For the small inputs every command
hashes — an image config, a chain id, a scan-cache file — CPython's built-in
implementation needs nothing loaded and gives the same digest; OpenSSL's, five times
faster, is worth loading for a large input (a file's content, an archive, a large cache
file): `hashlib` there, where it is used.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

# Inputs at least this large are summed by OpenSSL's implementation (`large_sha256`)
LARGE = 1 << 20


class Hash(Protocol):
    """What a SHA-256 object offers (hashlib's interface)."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


_builtin: Any = None
with contextlib.suppress(ImportError):  # CPython 3.11's module; 3.12 on: _sha2
    from _sha256 import sha256 as _builtin  # type: ignore[no-redef]
if _builtin is None:
    with contextlib.suppress(ImportError):
        from _sha2 import sha256 as _builtin  # type: ignore[no-redef]


def sha256(data: bytes | bytearray | memoryview = b"") -> Hash:
    """A SHA-256 object fed `data`, for small inputs (`hashlib.sha256`'s interface)."""
    if _builtin is None:  # an interpreter without the built-in module: OpenSSL's
        return large_sha256(data)
    made: Hash = _builtin(data)
    return made


def large_sha256(data: bytes | bytearray | memoryview = b"") -> Hash:
    """A SHA-256 object fed `data`, from OpenSSL (loaded on first use)."""
    import hashlib

    return hashlib.sha256(data)
