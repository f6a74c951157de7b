"""Timestamps: Docker's RFC 3339 strings to nanoseconds, and nanoseconds to ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339_ns(text: str | None) -> int | None:
    """Nanoseconds since the epoch of Docker's `created` (RFC 3339, up to 9 fraction digits).

    None for a missing or malformed value (the evidence may be damaged), and
    for Go's zero time (`0001-01-01T00:00:00Z`), which means "never".
    """
    if not text:
        return None
    m = _RFC3339.match(text.strip())
    if m is None:
        return None
    day, clock, fraction, zone = m.groups()
    try:
        base = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    if base.year <= 1:
        return None
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    seconds = (base.replace(tzinfo=UTC) - offset - _EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def iso_ns(ns: int) -> str:
    """UTC ISO 8601 with nanoseconds: `2026-11-22T16:30:24.123456789Z`."""
    seconds, rest = divmod(ns, 1_000_000_000)
    try:
        when = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return str(ns)  # beyond datetime's range (year 10000+): the raw count
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"
