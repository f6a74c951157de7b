"""Reading through the merged view: symlinks resolve inside the container, never the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlayscope.errors import PathNotFound, UnsafePath
from overlayscope.scan import scan_tree
from overlayscope.union import (
    LayerStack,
    NotARegularFile,
    StackLayer,
    read_merged,
    resolve_merged,
)
from tests.union.real import real_stack

CHAIN = 40


@pytest.fixture
def stack(tmp_path: Path) -> LayerStack:
    chain = "\n".join(f"l /chain/{i} -> {i + 1}" for i in range(CHAIN + 1))
    return real_stack(
        tmp_path,
        (
            "rw",
            "l /etc/alias -> hostname\n"
            "f /etc/motd data=rw-motd\n"
            "l /proc-escape -> /proc/self/root/etc/shadow\n",
        ),
        (
            "img",
            "f /etc/hostname data=container\n"
            "f /etc/motd data=img-motd\n"
            "f /usr/lib/libx data=libx\n"
            "l /lib -> usr/lib\n"
            "l /abs -> /etc/hostname\n"
            "l /climb -> ../../../../../../../etc/hostname\n"
            "l /etc/passwd -> /etc/hostname\n"
            "l /loop1 -> loop2\n"
            "l /loop2 -> loop1\n"
            "l /self -> self\n"
            "l /dangling -> /nowhere\n"
            "l /dirlink -> /usr/lib/\n"
            f"{chain}\n"
            f"f /chain/{CHAIN + 1} data=end-of-chain\n",
        ),
    )


@pytest.mark.parametrize(
    ("path", "data", "layer"),
    [
        ("/etc/hostname", b"container", "img"),
        ("/etc/motd", b"rw-motd", "rw"),  # the upper copy wins
        ("/etc/alias", b"container", "img"),  # link in one layer, target in another
        ("/lib/libx", b"libx", "img"),  # a dir symlink inside the path
        ("/abs", b"container", "img"),  # absolute target: the container's root
        ("/climb", b"container", "img"),  # `..` past the root stays at the root
        ("/etc/passwd", b"container", "img"),  # not the host's /etc/passwd
        ("/usr/lib/../../etc/hostname", b"container", "img"),
        ("/dirlink/libx", b"libx", "img"),
        (f"/chain/{1}", b"end-of-chain", "img"),  # exactly 40 links
    ],
)
def test_reads_inside_the_container(stack: LayerStack, path: str, data: bytes, layer: str) -> None:
    assert read_merged(stack, path) == data
    assert resolve_merged(stack, path).layer_id == layer


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/loop1", UnsafePath),
        ("/self", UnsafePath),
        ("/chain/0", UnsafePath),  # 41 links
        ("/dangling", PathNotFound),
        ("/proc-escape", PathNotFound),  # /proc of the container is not in the layers
        ("/lib/../etc/hostname", PathNotFound),  # `..` after /lib -> usr/lib is /usr
        ("/etc/hostname/x", PathNotFound),
        ("/usr", NotARegularFile),
        ("/lib", NotARegularFile),
    ],
)
def test_refuses(stack: LayerStack, path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_merged(stack, path)


def test_resolution_facts(stack: LayerStack) -> None:
    where = resolve_merged(stack, "/lib/libx")
    assert where.path == "/usr/lib/libx"
    assert where.symlinks == ("/lib",)
    assert where.role == "image" and where.content_dir.endswith("img/diff")
    link = resolve_merged(stack, "/abs", follow_final=False)
    assert link.path == "/abs" and link.entry.target == "/etc/hostname"


def test_max_bytes(stack: LayerStack) -> None:
    assert read_merged(stack, "/etc/hostname", max_bytes=3) == b"con"


def test_a_file_over_a_dir_hides_it_from_reads(tmp_path: Path) -> None:
    st = real_stack(tmp_path, ("rw", "f /etc"), ("img", "f /etc/secret data=s"))
    with pytest.raises(PathNotFound):
        read_merged(st, "/etc/secret")


@pytest.mark.root
def test_whiteouts_and_opaque_dirs_hide_from_reads(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteouts (mknod) and trusted.* xattrs need root")
    st = real_stack(
        tmp_path,
        ("rw", "w /etc/secret\no /srv\nl /srv/link -> /etc/secret\nl /via -> /srv/old"),
        ("img", "f /etc/secret data=s\nf /srv/old data=o"),
    )
    for path in ("/etc/secret", "/srv/link", "/via", "/srv/old"):
        with pytest.raises(PathNotFound):
            read_merged(st, path)


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    st_dir = tmp_path / "img" / "diff"
    st_dir.mkdir(parents=True)
    raw = bytes(st_dir) + b"/caf\xe9"
    with open(raw, "wb") as f:
        f.write(b"latin-1 name")
    os.symlink(b"caf\xe9", bytes(st_dir) + b"/link")
    stack = real_stack(tmp_path / "x", ("rw", "f /other"))
    stack = LayerStack((stack.layers[0], StackLayer("img", "image", scan_tree(st_dir))))
    name = "/" + os.fsdecode(b"caf\xe9")
    assert read_merged(stack, name) == b"latin-1 name"
    assert read_merged(stack, "/link") == b"latin-1 name"
