"""Ids and timestamps shaped as containerd, CRI and Docker make them."""

from __future__ import annotations

import datetime as dt
import hashlib
import time


def rfc3339(seconds: int, nanos: int) -> str:
    """Seconds and nanoseconds since the epoch as Go's time.RFC3339Nano in UTC."""
    if seconds >= 1 << 63:  # a negative int64 on the wire (Go's zero time)
        seconds -= 1 << 64
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return when.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + "Z"


def now_rfc3339() -> str:
    """Now, as Go's time.RFC3339Nano in UTC (Docker's and containerd's timestamps)."""
    ns = time.time_ns()
    return rfc3339(ns // 1_000_000_000, ns % 1_000_000_000)


def stable_id(seed: str) -> str:
    """A 64-hex id (as CRI and Docker make them) derived from `seed`, stable across runs."""
    return hashlib.sha256(f"overlayscope/{seed}".encode()).hexdigest()


def stable_uuid(seed: str) -> str:
    """A version-4-shaped UUID (as a pod uid) derived from `seed`."""
    h = stable_id(seed)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"
