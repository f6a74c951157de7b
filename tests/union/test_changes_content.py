"""Change facts that need file data: content same/changed, capabilities, on real trees."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from overlayscope.union import changes
from tests.union.real import real_stack

S = 1_000_000_000


def test_content_changed_and_same(tmp_path: Path) -> None:
    st = real_stack(
        tmp_path,
        (
            "c:rw",
            f"d /etc mtime={S}\n"
            f"f /etc/appended data=abcdef mtime={2 * S}\n"
            f"f /etc/rewritten data=xyz mtime={2 * S}\n"
            f"f /etc/touched data=same mtime={2 * S}\n"
            f"f /etc/chmodded data=same mode=600 mtime={S}\n",
        ),
        (
            "img",
            f"d /etc mtime={S}\n"
            f"f /etc/appended data=abc mtime={S}\n"
            f"f /etc/rewritten data=abc mtime={S}\n"
            f"f /etc/touched data=same mtime={S}\n"
            f"f /etc/chmodded data=same mtime={S}\n",
        ),
    )
    by_path = {c.path: c for c in changes(st)}
    assert {p: (c.kind, c.content, c.copy_up, c.meta) for p, c in by_path.items()} == {
        "/etc": ("C", None, True, ()),
        "/etc/appended": ("C", "changed", True, ("mtime", "size")),
        "/etc/rewritten": ("C", "changed", True, ("mtime",)),
        "/etc/touched": ("C", "same", True, ("mtime",)),
        "/etc/chmodded": ("C", "same", True, ("mode",)),
    }


def test_compare_content_off_reads_nothing(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("c:rw", f"f /x data=b mtime={2 * S}"), ("img", "f /x data=a"))
    [change] = changes(st, compare_content=False)
    assert change.content is None


@pytest.mark.root
def test_capability_only_change(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("setting security.capability needs CAP_SETFCAP")
    st = real_stack(
        tmp_path,
        ("c:rw", f"f /bin/ping data=elf mtime={S}"),
        ("img", f"f /bin/ping data=elf mtime={S}"),
    )
    # VFS_CAP_REVISION_2 with cap_net_raw (13) permitted: `setcap cap_net_raw+p`.
    cap = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)
    os.setxattr(tmp_path / "c/diff/bin/ping", "security.capability", cap)
    by_path = {c.path: c for c in changes(st)}
    assert by_path["/bin/ping"].kind == "C"
    assert by_path["/bin/ping"].meta == ("capability",)
    assert by_path["/bin/ping"].content == "same"
    assert by_path["/bin"].kind == "C"
