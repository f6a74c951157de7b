"""Just enough of protobuf's wire format for the few containerd messages the harness sends
and reads: varints (wire type 0) and length-delimited fields (wire type 2: strings, bytes,
messages, map entries). A message is built as a concatenation of already-encoded fields."""

from __future__ import annotations

from collections.abc import Mapping

from tests.containerd.ids import rfc3339


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited field (string, bytes or embedded message)."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def pb_string(number: int, value: str) -> bytes:
    """A string field; empty strings are left out, as proto3 does."""
    return pb_bytes(number, value.encode()) if value else b""


def pb_uint(number: int, value: int) -> bytes:
    """A varint field (uint32/uint64/bool/enum); zero is left out, as proto3 does."""
    return _varint(number << 3) + _varint(value) if value else b""


def pb_map(number: int, entries: Mapping[str, str]) -> bytes:
    """A map<string, string> field: one embedded {1: key, 2: value} entry per item."""
    return b"".join(
        pb_bytes(number, pb_bytes(1, k.encode()) + pb_bytes(2, v.encode()))
        for k, v in sorted(entries.items())
    )


def pb_any(type_url: str, value: bytes) -> bytes:
    """A google.protobuf.Any message body."""
    return pb_string(1, type_url) + pb_bytes(2, value)


def pb_decode(data: bytes) -> dict[int, list[int | bytes]]:
    """Decode one message level: field number -> values (ints, or bytes to decode further)."""
    fields: dict[int, list[int | bytes]] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value = varint()
        elif wire == 2:
            length = varint()
            value, i = data[i : i + length], i + length
        elif wire == 1:
            value, i = int.from_bytes(data[i : i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(data[i : i + 4], "little"), i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def pb_str(fields: Mapping[int, list[int | bytes]], number: int) -> str:
    """A decoded message's string field (its last value), "" when absent."""
    values = fields.get(number) or [b""]
    value = values[-1]
    return value.decode() if isinstance(value, bytes) else str(value)


def pb_strmap(fields: Mapping[int, list[int | bytes]], number: int) -> dict[str, str]:
    """A decoded message's map<string, string> field."""
    out = {}
    for entry in fields.get(number, []):
        assert isinstance(entry, bytes)
        kv = pb_decode(entry)
        out[pb_str(kv, 1)] = pb_str(kv, 2)
    return out


def pb_raw(fields: Mapping[int, list[int | bytes]], number: int) -> bytes:
    """A decoded message's length-delimited field, raw (an embedded message to decode)."""
    value = (fields.get(number) or [b""])[-1]
    return value if isinstance(value, bytes) else b""


def pb_int(fields: Mapping[int, list[int | bytes]], number: int) -> int:
    """A decoded message's varint field, 0 when absent."""
    value = (fields.get(number) or [0])[-1]
    return value if isinstance(value, int) else 0


def pb_time(fields: Mapping[int, list[int | bytes]], number: int) -> str:
    """A Timestamp field as RFC 3339 with nanoseconds (Go's time.RFC3339Nano, UTC)."""
    ts = pb_decode(pb_raw(fields, number))
    return rfc3339(pb_int(ts, 1), pb_int(ts, 2))
