"""Against a real dockerd: our sizes are Docker's, and real overlayfs leftovers get their kinds."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from overlayscope.scan import Kind, allocated_size, docker_size, scan_layers, scan_tree
from tests.engine import PrivateEngine

WRITES = """
set -e
mkdir -p /data/sub/deeper
head -c 12345 /dev/zero > /data/a
ln /data/a /data/sub/hard
ln -s /data/a /data/link
touch /data/empty
dd if=/dev/zero of=/data/sparse bs=1 count=1 seek=100000 2>/dev/null
mkfifo /data/fifo
rm /bin/vi
rm -rf /root && mkdir /root && echo hi > /root/new
echo appended >> /etc/passwd
chmod 600 /etc/group
"""


@pytest.fixture(scope="module")
def changed(engine: PrivateEngine, base_image: str) -> dict[str, Any]:
    """`docker inspect --size` of a stopped container that made every kind of change."""
    engine.run(base_image, ["sh", "-c", WRITES], name="scan-sizes", detach=False)
    return engine.inspect("scan-sizes", size=True)[0]


@pytest.mark.engine
def test_docker_size_is_size_rw(changed: dict[str, Any]) -> None:
    index = scan_tree(changed["GraphDriver"]["Data"]["UpperDir"])
    assert index.problems == []
    assert docker_size(index) == changed["SizeRw"]


@pytest.mark.engine
def test_allocated_size_is_du(changed: dict[str, Any]) -> None:
    upper = changed["GraphDriver"]["Data"]["UpperDir"]
    du = subprocess.run(["du", "-sB1", upper], capture_output=True, text=True, check=True)
    assert allocated_size(scan_tree(upper)) == int(du.stdout.split()[0])


@pytest.mark.engine
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/bin/vi", Kind.WHITEOUT),
        ("/root", Kind.OPAQUE_DIR),
        ("/root/new", Kind.FILE),
        ("/data/link", Kind.SYMLINK),
        ("/data/fifo", Kind.OTHER),
        ("/data/sub/deeper", Kind.DIR),
        ("/etc/passwd", Kind.FILE),
    ],
)
def test_kinds_left_by_overlayfs(changed: dict[str, Any], path: str, kind: Kind) -> None:
    index = scan_tree(changed["GraphDriver"]["Data"]["UpperDir"])
    entry = index.get(path)
    assert entry is not None and entry.kind is kind


@pytest.mark.engine
def test_copy_up_xattrs(changed: dict[str, Any]) -> None:
    index = scan_tree(changed["GraphDriver"]["Data"]["UpperDir"])
    passwd, etc = index.get("/etc/passwd"), index.get("/etc")
    assert passwd is not None and passwd.xattrs is not None
    assert passwd.xattrs.origin  # copied up: the file handle of the lower inode
    assert etc is not None and etc.xattrs is not None and etc.xattrs.impure


@pytest.mark.engine
def test_all_layers_of_the_container(changed: dict[str, Any]) -> None:
    data = changed["GraphDriver"]["Data"]
    dirs = [data["UpperDir"], *data["LowerDir"].split(":")]
    layers = {str(i): d for i, d in enumerate(dirs)}
    serial, parallel = scan_layers(layers, workers=1), scan_layers(layers, workers=2)
    for key in layers:
        assert parallel[key].entries == serial[key].entries
        assert serial[key].problems == []
    busybox = [ix for ix in serial.values() if ix.get("/bin/busybox") is not None]
    assert len(busybox) == 1
