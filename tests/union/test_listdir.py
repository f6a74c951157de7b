"""Merged listings and the merged-tree walk over hand-built stacks."""

from __future__ import annotations

import pytest

from overlayscope.errors import PathNotFound
from overlayscope.record import replace
from overlayscope.union import LayerStack, NotADirectory, StackLayer, changes
from tests.union.builders import index, stack

CASES = {
    "names from every layer merge, tagged with their layer": (
        (("rw", "f /etc/new"), ("mid", "f /etc/hosts"), ("img", "f /etc/passwd\nf /etc/hosts")),
        "/etc",
        [("hosts", "mid"), ("new", "rw"), ("passwd", "img")],
    ),
    "whiteouts are never listed, nor what they hide": (
        (("rw", "w /etc/passwd\nw /etc/never"), ("img", "f /etc/passwd\nf /etc/group")),
        "/etc",
        [("group", "img")],
    ),
    "opaque dir lists only its own layer and above": (
        (("rw", "f /srv/top"), ("mid", "o /srv\nf /srv/mine"), ("img", "f /srv/old")),
        "/srv",
        [("mine", "mid"), ("top", "rw")],
    ),
    "a dir under a file-replaced-dir is hidden": (
        (("rw", "f /opt"), ("img", "d /opt/app")),
        "/",
        [("opt", "rw")],
    ),
    "dir replacing a file lists only its own children": (
        (("rw", "d /opt\nf /opt/a"), ("mid", "f /opt"), ("img", "f /opt/b")),
        "/opt",
        [("a", "rw")],
    ),
    "a whiteout in a dir found only in one layer is not listed (the kernel's readdir would)": (
        (("rw", ""), ("img", "d /only\nw /only/ghost\nf /only/real")),
        "/only",
        [("real", "img")],
    ),
}


@pytest.mark.parametrize(("layers", "path", "expected"), CASES.values(), ids=CASES.keys())
def test_listdir(
    layers: tuple[tuple[str, str], ...], path: str, expected: list[tuple[str, str]]
) -> None:
    listing = stack(*layers).listdir(path)
    assert [(m.name, m.layer_id) for m in listing] == expected
    for m in listing:
        assert m.path == (path.rstrip("/") + "/" + m.name)
        assert m.entry.path == m.path


def test_listdir_errors() -> None:
    st = stack(("rw", "w /gone\nf /file"), ("img", "d /gone"))
    with pytest.raises(PathNotFound):
        st.listdir("/gone")
    with pytest.raises(PathNotFound):
        st.listdir("/nowhere")
    with pytest.raises(NotADirectory):
        st.listdir("/file")


def test_walk_is_the_merged_tree_parents_first() -> None:
    st = stack(
        ("rw", "w /etc/shadow\nf /etc/new\no /srv\nf /srv/x"),
        ("img", "f /etc/passwd\nf /etc/shadow\nf /srv/old\nl /bin -> usr/bin\nf /usr/bin/sh"),
    )
    walked = [(m.path, m.layer_id) for m in st.walk()]
    assert walked == [
        ("/", "rw"),
        ("/bin", "img"),
        ("/etc", "rw"),
        ("/etc/new", "rw"),
        ("/etc/passwd", "img"),
        ("/srv", "rw"),
        ("/srv/x", "rw"),
        ("/usr", "img"),
        ("/usr/bin", "img"),
        ("/usr/bin/sh", "img"),
    ]
    seen: set[str] = set()
    for path, _ in walked:
        parent = path.rsplit("/", 1)[0] or "/"
        assert path == "/" or parent in seen
        seen.add(path)


def test_walk_of_an_empty_stack() -> None:
    assert list(stack().walk()) == []


def test_resolutions_cover_hidden_paths_too() -> None:
    st = stack(
        ("rw", "w /etc/shadow\no /srv\nf /srv/x"),
        ("img", "f /etc/shadow size=7\nf /srv/old/deep size=9\nf /srv/x size=1"),
    )
    got = {r.path: [(h.layer_id, h.state.value) for h in r.hits] for r in st.resolutions()}
    assert got == {
        "/": [("rw", "wins"), ("img", "merged")],
        "/etc": [("rw", "wins"), ("img", "merged")],
        "/etc/shadow": [("rw", "whiteout"), ("img", "hidden-by-whiteout")],
        "/srv": [("rw", "wins"), ("img", "hidden-by-opaque")],
        "/srv/old": [("img", "hidden-by-parent")],
        "/srv/old/deep": [("img", "hidden-by-parent")],
        "/srv/x": [("rw", "wins"), ("img", "hidden-by-parent")],
    }
    assert list(got) == ["/", "/etc", "/etc/shadow", "/srv", "/srv/old", "/srv/old/deep", "/srv/x"]


def test_very_deep_trees_need_no_recursion() -> None:
    depth = 3000
    template = index("d /d\nf /f")
    dir_entry, file_entry = template.entries["/d"], template.entries["/f"]
    # Built by hand: the spec builder itself recurses on parents.
    layers = []
    for layer_id, extra_mode in (("rw", 0o100), ("img", 0)):
        idx = index("")
        path = "/"
        for _ in range(depth):
            child = path.rstrip("/") + "/d"
            idx.entries[child] = replace(dir_entry, path=child)
            idx.children.setdefault(path, []).append(child)
            idx.children[child] = []
            path = child
        leaf = path + "/f"
        idx.entries[leaf] = replace(file_entry, path=leaf, mode=file_entry.mode | extra_mode)
        idx.children[path].append(leaf)
        layers.append(StackLayer(layer_id, layer_id, idx))
    st = LayerStack(tuple(layers))
    assert st.provenance(leaf).winner is not None
    assert sum(1 for _ in st.walk()) == depth + 2
    found = changes(st, compare_content=False)
    assert len(found) == depth + 1 and all(c.kind == "C" for c in found)
