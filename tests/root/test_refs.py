"""References resolve like the docker CLI's: id, unique prefix, name, tag."""

from __future__ import annotations

from collections import Counter

import pytest

from overlayscope.errors import AmbiguousReference, ExitCode, UnknownReference
from overlayscope.root.load import load_host
from overlayscope.root.model import Container, Host, Image
from overlayscope.root.refs import resolve
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_text

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def host(captured_root: CapturedRoot) -> Host:
    return load_host(str(captured_root.path))


def _unique_prefix(host: Host, full: str) -> str:
    others = [c.id for c in host.containers.values()] + [
        i.id.removeprefix("sha256:") for i in host.images.values()
    ]
    for n in range(1, 65):
        if sum(o.startswith(full[:n]) for o in others) == 1:
            return full[:n]
    raise AssertionError(full)


def test_every_way_to_name_a_container(host: Host) -> None:
    for c in host.containers.values():
        assert resolve(host, c.id) is c
        assert resolve(host, c.name) is c
        assert resolve(host, "/" + c.name) is c
        assert resolve(host, _unique_prefix(host, c.id)) is c


def test_every_way_to_name_an_image(host: Host) -> None:
    for image in host.images.values():
        assert resolve(host, image.id) is image
        bare = image.id.removeprefix("sha256:")
        assert resolve(host, bare) is image
        assert resolve(host, _unique_prefix(host, bare)) is image
        for tag in image.tags:
            assert resolve(host, tag) is image


def test_ambiguous_prefix_lists_candidates(host: Host) -> None:
    ids = [c.id for c in host.containers.values()] + [
        i.id.removeprefix("sha256:") for i in host.images.values()
    ]
    first, count = Counter(i[0] for i in ids).most_common(1)[0]
    assert count > 1
    with pytest.raises(AmbiguousReference) as info:
        resolve(host, first)
    assert len(info.value.candidates) == count


def test_unknown_and_kind_restricted(host: Host) -> None:
    with pytest.raises(UnknownReference):
        resolve(host, "no-such-thing")
    image = next(i for i in host.images.values() if i.tags)
    with pytest.raises(UnknownReference):
        resolve(host, image.tags[0], images=False)
    assert isinstance(resolve(host, image.tags[0]), Image)
    c = next(iter(host.containers.values()))
    assert isinstance(resolve(host, c.name, images=False), Container)


def test_cli_ambiguous_is_one_line(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], host: Host
) -> None:
    ids = [c.id for c in host.containers.values()] + [
        i.id.removeprefix("sha256:") for i in host.images.values()
    ]
    first = Counter(i[0] for i in ids).most_common(1)[0][0]
    code, out, err = run_text(capsys, "--root", str(captured_root.path), "ls", first, "/")
    assert code == ExitCode.ERROR and out == ""
    assert len(err.strip().splitlines()) == 1 and "ambiguous reference" in err
