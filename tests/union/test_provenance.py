"""Provenance over hand-built stacks: which layer wins a path, and what hides the rest."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from overlayscope.union import BlockerKind, HitState
from tests.union.builders import stack

W = HitState


class Case(NamedTuple):
    layers: tuple[tuple[str, str], ...]  # (id, spec lines), top first
    path: str
    visible: bool
    winner: str | None
    states: list[tuple[str, HitState]]  # (layer id, state), top → bottom
    hidden_by: tuple[str, str, BlockerKind] | None  # (layer id, path, kind)


CASES = {
    "file only in the bottom layer shows through": Case(
        (("rw", ""), ("img", "f /etc/passwd")),
        "/etc/passwd",
        True,
        "img",
        [("img", W.WINS)],
        None,
    ),
    "upper file hides lower file": Case(
        (("rw", "f /etc/passwd"), ("img", "f /etc/passwd")),
        "/etc/passwd",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/etc/passwd", BlockerKind.FILE),
    ),
    "whiteout hides file": Case(
        (("rw", "w /etc/passwd"), ("img", "f /etc/passwd")),
        "/etc/passwd",
        False,
        None,
        [("rw", W.WHITEOUT), ("img", W.HIDDEN_BY_WHITEOUT)],
        ("rw", "/etc/passwd", BlockerKind.WHITEOUT),
    ),
    "whiteout of a dir hides its subtree": Case(
        (("rw", "w /usr"), ("img", "f /usr/bin/env")),
        "/usr/bin/env",
        False,
        None,
        [("img", W.HIDDEN_BY_PARENT)],
        ("rw", "/usr", BlockerKind.WHITEOUT),
    ),
    "whiteout of a dir hides the dir itself": Case(
        (("rw", "w /usr"), ("img", "d /usr")),
        "/usr",
        False,
        None,
        [("rw", W.WHITEOUT), ("img", W.HIDDEN_BY_WHITEOUT)],
        ("rw", "/usr", BlockerKind.WHITEOUT),
    ),
    "whiteout in a middle layer, file re-added above": Case(
        (("rw", "f /a"), ("mid", "w /a"), ("img", "f /a")),
        "/a",
        True,
        "rw",
        [("rw", W.WINS), ("mid", W.HIDDEN_BY_FILE), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/a", BlockerKind.FILE),
    ),
    "dirs merge across layers": Case(
        (("rw", "d /etc"), ("mid", "d /etc"), ("img", "d /etc")),
        "/etc",
        True,
        "rw",
        [("rw", W.WINS), ("mid", W.MERGED), ("img", W.MERGED)],
        None,
    ),
    "opaque dir merges its own layer but hides lower dirs": Case(
        (("rw", "d /srv"), ("mid", "o /srv"), ("img", "d /srv")),
        "/srv",
        True,
        "rw",
        [("rw", W.WINS), ("mid", W.MERGED), ("img", W.HIDDEN_BY_OPAQUE)],
        ("mid", "/srv", BlockerKind.OPAQUE_DIR),
    ),
    "opaque dir shows its own layer's children": Case(
        (("rw", "o /srv\nf /srv/new"), ("img", "f /srv/old")),
        "/srv/new",
        True,
        "rw",
        [("rw", W.WINS)],
        None,
    ),
    "opaque dir hides lower layers' children": Case(
        (("rw", "o /srv\nf /srv/new"), ("img", "f /srv/old")),
        "/srv/old",
        False,
        None,
        [("img", W.HIDDEN_BY_PARENT)],
        ("rw", "/srv", BlockerKind.OPAQUE_DIR),
    ),
    "opaque dir hides a same-named lower child too": Case(
        (("rw", "o /srv\nf /srv/x data=new"), ("img", "f /srv/x")),
        "/srv/x",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_PARENT)],
        ("rw", "/srv", BlockerKind.OPAQUE_DIR),
    ),
    "file replacing a dir hides the dir": Case(
        (("rw", "f /opt"), ("img", "d /opt")),
        "/opt",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/opt", BlockerKind.FILE),
    ),
    "file replacing a dir hides the dir's children": Case(
        (("rw", "f /opt"), ("img", "f /opt/app/run")),
        "/opt/app/run",
        False,
        None,
        [("img", W.HIDDEN_BY_PARENT)],
        ("rw", "/opt", BlockerKind.FILE),
    ),
    "dir replacing a file: the file is ignored": Case(
        (("rw", "d /opt"), ("img", "f /opt")),
        "/opt",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_DIR)],
        ("rw", "/opt", BlockerKind.DIR),
    ),
    "dir over file over dir: the merge stops at the file": Case(
        (("rw", "d /opt"), ("mid", "f /opt"), ("img", "d /opt")),
        "/opt",
        True,
        "rw",
        [("rw", W.WINS), ("mid", W.HIDDEN_BY_DIR), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/opt", BlockerKind.DIR),
    ),
    "child of a dir beneath a file beneath a dir is hidden": Case(
        (("rw", "d /opt"), ("mid", "f /opt"), ("img", "f /opt/x")),
        "/opt/x",
        False,
        None,
        [("img", W.HIDDEN_BY_PARENT)],
        ("mid", "/opt", BlockerKind.FILE),
    ),
    "symlink replacing a dir": Case(
        (("rw", "l /lib -> usr/lib"), ("img", "f /lib/libc.so")),
        "/lib",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/lib", BlockerKind.FILE),
    ),
    "deep nesting merges level by level": Case(
        (("rw", "d /a/b/c/d"), ("mid", "f /a/b/c/d/e"), ("img", "f /a/b/c/d/e")),
        "/a/b/c/d/e",
        True,
        "mid",
        [("mid", W.WINS), ("img", W.HIDDEN_BY_FILE)],
        ("mid", "/a/b/c/d/e", BlockerKind.FILE),
    ),
    "deep: a whiteout far up hides a deep lower file": Case(
        (("rw", "f /keep"), ("mid", "w /a/b"), ("img", "f /a/b/c/d/e")),
        "/a/b/c/d/e",
        False,
        None,
        [("img", W.HIDDEN_BY_PARENT)],
        ("mid", "/a/b", BlockerKind.WHITEOUT),
    ),
    "deep: opaque far up, re-created subtree shows": Case(
        (("rw", "o /a\nf /a/b/c"), ("img", "f /a/b/c\nf /a/b/d")),
        "/a/b/c",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_PARENT)],
        ("rw", "/a", BlockerKind.OPAQUE_DIR),
    ),
    "whiteout beneath a dir ends the merge": Case(
        (("rw", "d /d"), ("mid", "w /d"), ("img", "d /d")),
        "/d",
        True,
        "rw",
        [("rw", W.WINS), ("mid", W.WHITEOUT), ("img", W.HIDDEN_BY_WHITEOUT)],
        ("mid", "/d", BlockerKind.WHITEOUT),
    ),
    "whiteout hidden by a file above it": Case(
        (("rw", "f /a"), ("img", "w /a")),
        "/a",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.HIDDEN_BY_FILE)],
        ("rw", "/a", BlockerKind.FILE),
    ),
    "path held by no layer": Case((("rw", "f /a"), ("img", "f /b")), "/c", False, None, [], None),
    "root merges every layer, opaque or not": Case(
        (("rw", "o /\nf /a"), ("img", "f /b")),
        "/",
        True,
        "rw",
        [("rw", W.WINS), ("img", W.MERGED)],
        None,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_provenance(case: Case) -> None:
    prov = stack(*case.layers).provenance(case.path)
    assert prov.visible is case.visible
    assert (prov.winner.layer_id if prov.winner else None) == case.winner
    assert [(hit.layer_id, hit.state) for hit in prov.stack] == case.states
    got_blocker = (
        (prov.hidden_by.layer_id, prov.hidden_by.path, prov.hidden_by.kind)
        if prov.hidden_by
        else None
    )
    assert got_blocker == case.hidden_by
    assert [hit for hit in prov.stack if not hit.state.visible] == list(prov.hidden)
    for hit in prov.hidden:
        if hit.state is not HitState.WHITEOUT and hit.state is not HitState.HIDDEN_BY_PARENT:
            assert hit.hidden_by is not None


def test_lookup_returns_entry_and_layer() -> None:
    st = stack(("rw", "f /etc/hosts data=rw"), ("img", "f /etc/hosts\nf /etc/passwd"))
    found = st.lookup("/etc/passwd")
    assert found is not None and found[1] == "img" and found[0].path == "/etc/passwd"
    found = st.lookup("/etc/hosts")
    assert found is not None and found[1] == "rw"
    assert st.lookup("/etc/shadow") is None
    assert st.lookup("etc//passwd/") == st.lookup("/etc/passwd")


def test_roles_and_positions_are_carried() -> None:
    st = stack(("c1:rw", "f /x"), ("c1-init:init", "f /x"), ("base:image", "f /x"))
    prov = st.provenance("/x")
    assert [(h.layer_id, h.role, h.position) for h in prov.stack] == [
        ("c1", "rw", 0),
        ("c1-init", "init", 1),
        ("base", "image", 2),
    ]


def test_redirect_and_metacopy_are_reported_not_followed() -> None:
    from overlayscope.record import replace
    from overlayscope.scan.entry import OverlayXattrs

    st = stack(("rw", "d /moved\nf /big"), ("img", "d /orig\nf /orig/x\nf /big"))
    rw = st.layers[0].index
    rw.entries["/moved"] = replace(rw.entries["/moved"], xattrs=OverlayXattrs(redirect="/orig"))
    rw.entries["/big"] = replace(rw.entries["/big"], xattrs=OverlayXattrs(metacopy=True))
    prov = st.provenance("/moved")
    assert prov.visible and prov.winner is not None and prov.winner.layer_id == "rw"
    assert any("redirect" in note and "not followed" in note for note in prov.notes)
    assert st.listdir("/moved") == []  # the redirect is not followed into /orig
    assert any("metacopy" in note for note in st.provenance("/big").notes)


def test_stack_of_tuples() -> None:
    from overlayscope.union import LayerStack
    from tests.union.builders import index

    st = LayerStack.of([("c", "rw", index("f /x")), ("img", "image", index("f /x\nf /y"))])
    assert [layer.id for layer in st.layers] == ["c", "img"]
    assert [layer.id for layer in st.below().layers] == ["img"]
    found = st.lookup("/y")
    assert found is not None and found[1] == "img"
