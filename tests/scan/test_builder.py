"""The fast Entry construction gives exactly what the dataclass constructor gives."""

from __future__ import annotations

import dataclasses

import pytest

from overlayscope.scan import builder
from overlayscope.scan.entry import Entry, Kind, OverlayXattrs
from overlayscope.scan.walker import Record

RECORD: Record = (
    "name", Kind.OPAQUE_DIR, 0o40755, 1, 2, 4096, 8, 10, 20, 12345, 3, 0, None,
    OverlayXattrs(opaque=True),
)  # fmt: skip


@pytest.mark.parametrize("fast", [True, False])
def test_made_entry_equals_constructed(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    if not fast:  # as if Entry had gained a field: the maker must fall back
        monkeypatch.setattr(builder, "_RECORD_FIELDS", ("path",))
    make = builder._entry_maker()
    entry = make("/a/name", RECORD)
    expected = Entry("/a/name", *RECORD[1:])
    assert entry == expected and hash(entry) == hash(expected)
    assert repr(entry) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.size = 1  # type: ignore[misc]
