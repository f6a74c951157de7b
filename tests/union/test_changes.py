"""`docker diff` rules over hand-built stacks (no file data: compare_content=False)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from overlayscope.union import changes, same_fs_time
from tests.union.builders import stack

S = 1_000_000_000  # one second in ns


class Case(NamedTuple):
    rw: str
    image: str
    expected: list[str]  # "K /path", sorted by path
    init: str = ""


CASES = {
    "nothing changed": Case("", "f /etc/passwd", []),
    "new file at the root": Case("f /new", "f /etc/passwd", ["A /new"]),
    "new file in a lower dir marks the dir": Case(
        "f /etc/new", "f /etc/passwd", ["C /etc", "A /etc/new"]
    ),
    "modified lower file (append)": Case(
        f"f /etc/passwd size=20 mtime={2 * S}",
        f"f /etc/passwd size=10 mtime={S}",
        ["C /etc", "C /etc/passwd"],
    ),
    "chmod only": Case(
        "f /etc/passwd mode=600", "f /etc/passwd mode=644", ["C /etc", "C /etc/passwd"]
    ),
    "chown only": Case("f /etc/passwd uid=1", "f /etc/passwd", ["C /etc", "C /etc/passwd"]),
    "touch only": Case(
        f"f /etc/passwd mtime={5 * S + 7}",
        f"f /etc/passwd mtime={S}",
        ["C /etc", "C /etc/passwd"],
    ),
    "same second with a zero nanosecond part counts as unchanged (tar rounding)": Case(
        f"f /etc/passwd mtime={S + 500}", f"f /etc/passwd mtime={S}", []
    ),
    "same second, both nanosecond parts set and different, is a change": Case(
        f"f /etc/passwd mtime={S + 500}",
        f"f /etc/passwd mtime={S + 400}",
        ["C /etc", "C /etc/passwd"],
    ),
    "copy-up with no visible change (atime, open for write) is not reported": Case(
        "f /etc/passwd", "f /etc/passwd", []
    ),
    "deleted lower file": Case("w /etc/passwd", "f /etc/passwd", ["C /etc", "D /etc/passwd"]),
    "deleted lower dir is one D, its children are not listed": Case(
        "w /usr", "f /usr/bin/env\nf /usr/lib/libc.so", ["D /usr"]
    ),
    "rm -rf then mkdir of a lower dir: D for each old child, C for the dir": Case(
        "o /srv",
        "f /srv/a\nf /srv/b\nf /srv/c/d",
        ["C /srv", "D /srv/a", "D /srv/b", "D /srv/c"],
    ),
    "rm -rf then mkdir then a new file": Case(
        "o /srv\nf /srv/new",
        "f /srv/a",
        ["C /srv", "D /srv/a", "A /srv/new"],
    ),
    "rm -rf then mkdir of an empty dir with the same mode is no change": Case(
        "o /srv", "d /srv", []
    ),
    "rm -rf then mkdir with another mode": Case("o /srv mode=700", "d /srv", ["C /srv"]),
    "new dir made opaque by the kernel is an A, not a D": Case(
        "o /newdir\nf /newdir/f", "f /etc/passwd", ["A /newdir", "A /newdir/f"]
    ),
    "renamed file is D old + A new": Case(
        "w /etc/old\nf /etc/new", "f /etc/old", ["C /etc", "A /etc/new", "D /etc/old"]
    ),
    "hard link to a lower file: only the new name (nlink is not compared)": Case(
        "f /etc/passwd\nf /etc/passwd2", "f /etc/passwd", ["C /etc", "A /etc/passwd2"]
    ),
    "new nested dirs are all A": Case(
        "f /a/b/c/d", "f /etc/passwd", ["A /a", "A /a/b", "A /a/b/c", "A /a/b/c/d"]
    ),
    "deep change marks every ancestor": Case(
        f"f /a/b/c/x mtime={9 * S}",
        f"f /a/b/c/x mtime={S}",
        ["C /a", "C /a/b", "C /a/b/c", "C /a/b/c/x"],
    ),
    "file replaced by a dir: C, and the dir's content is A": Case(
        "d /opt\nf /opt/x", "f /opt", ["C /opt", "A /opt/x"]
    ),
    "dir replaced by a file: C, the old children are not listed": Case(
        "f /opt", "d /opt\nf /opt/x", ["C /opt"]
    ),
    "chmod of a lower dir": Case("d /srv mode=700", "d /srv", ["C /srv"]),
    "dir mtime and size alone are not a change": Case(
        f"d /srv mtime={5 * S} size=4096", f"d /srv mtime={S} size=0", []
    ),
    "symlink retargeted with the same size and mtime is not seen": Case(
        "l /lnk -> b", "l /lnk -> a", []
    ),
    "symlink retargeted (new mtime)": Case(
        f"l /lnk -> b mtime={2 * S}", f"l /lnk -> a mtime={S}", ["C /lnk"]
    ),
    "block device: mtime and size are ignored (Docker tests the S_IFDIR bit)": Case(
        f"x /dev/sda type=blk mtime={2 * S}", f"x /dev/sda type=blk mtime={S}", []
    ),
    "char device: mtime counts": Case(
        f"x /dev/null type=chr mtime={2 * S}",
        f"x /dev/null type=chr mtime={S}",
        ["C /dev", "C /dev/null"],
    ),
    "device rdev change": Case(
        "x /dev/x type=chr rdev=5", "x /dev/x type=chr rdev=6", ["C /dev", "C /dev/x"]
    ),
    "what the init layer holds is not a change": Case(
        "", "f /etc/passwd", [], init="f /etc/hosts\nf /.dockerenv"
    ),
    "deleting an init-layer file is": Case(
        "w /etc/hosts", "f /etc/passwd", ["C /etc", "D /etc/hosts"], init="f /etc/hosts"
    ),
    "whiteout of something that was never there is invisible": Case("w /ghost", "", []),
    "whiteout in a lower layer, re-added in the container": Case("f /x", "", ["A /x"], init="w /x"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_changes(case: Case) -> None:
    st = stack(("c:rw", case.rw), ("c-init:init", case.init), ("img:image", case.image))
    got = [f"{c.kind} {c.path}" for c in changes(st, compare_content=False)]
    assert got == case.expected


def test_single_layer_stack_is_all_added() -> None:
    st = stack(("c:rw", "f /a/b\nl /c -> a"))
    assert [f"{c.kind} {c.path}" for c in changes(st)] == ["A /a", "A /a/b", "A /c"]


def test_change_facts() -> None:
    st = stack(
        ("c:rw", f"f /etc/passwd mode=600 size=20 mtime={2 * S}\no /srv\nf /etc/new size=3"),
        ("img:image", f"f /etc/passwd size=10 mtime={S}\nf /srv/gone size=7"),
    )
    by_path = {c.path: c for c in changes(st, compare_content=False)}
    passwd = by_path["/etc/passwd"]
    assert (passwd.entry, passwd.size, passwd.copy_up) == ("file", 20, True)
    assert passwd.meta == ("mode", "mtime", "size")
    assert passwd.content is None and passwd.layer_id == "c"
    etc = by_path["/etc"]
    assert etc.kind == "C" and etc.entry == "dir" and etc.copy_up
    srv = by_path["/srv"]
    assert srv.kind == "C" and srv.entry == "opaque-dir" and not srv.copy_up
    gone = by_path["/srv/gone"]
    assert (gone.kind, gone.entry, gone.size, gone.layer_id) == ("D", "file", 7, "img")
    new = by_path["/etc/new"]
    assert (new.kind, new.copy_up, new.content, new.meta) == ("A", False, None, ())


def test_type_change_is_not_a_copy_up() -> None:
    st = stack(("c:rw", "l /opt -> /srv"), ("img:image", "f /opt"))
    [change] = changes(st, compare_content=False)
    assert (change.kind, change.entry, change.copy_up, change.meta[0]) == (
        "C",
        "symlink",
        False,
        "mode",
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (S, S, True),
        (S, S + 1, True),  # a's nanoseconds are 0
        (S + 1, S, True),
        (S + 1, S + 2, False),
        (S, 2 * S, False),
        (-S - 1, -S - 1, True),
    ],
)
def test_same_fs_time(a: int, b: int, same: bool) -> None:
    assert same_fs_time(a, b) is same
