"""Worker processes give exactly what an in-process scan gives."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from overlayscope.scan import ScanWorkerError, default_workers, scan_layers, scan_tree
from tests.scan.conftest import IS_ROOT, add, setx


def _varied(root: Path, many: int) -> Path:
    add(root, "etc/passwd", "file", b"root:x:0:0")
    add(root, "etc/alt", "symlink", "passwd")
    add(root, "bin/sh", "file", b"\x7fELF")
    add(root, "bin/ash", "hardlink", "bin/sh")
    add(root, "run/fifo", "fifo")
    for i in range(many):
        os.mknod(root / "etc" / f"many{i}")
    if IS_ROOT:
        add(root, "gone", "chardev00")
        setx(add(root, "opq", "dir"), "trusted.overlay.opaque")
    return root


def test_workers_match_in_process(tmp_path: Path) -> None:
    # L0's /etc is listed in two batches (walker.BATCH is 4096)
    layers = {f"L{i}": _varied(tmp_path / f"l{i}", 4500 if i == 0 else 50) for i in range(4)}
    layers["missing"] = tmp_path / "not-there"
    serial = scan_layers(layers, workers=1)
    parallel = scan_layers(layers, workers=3)
    assert list(parallel) == list(layers)  # keys in the order given
    for key, index in serial.items():
        other = parallel[key]
        assert other.content_dir == index.content_dir == os.fspath(layers[key])
        assert other.entries == index.entries
        assert other.children == index.children
        assert other.problems == index.problems
    assert [p.kind for p in serial["missing"].problems] == ["vanished"]
    assert serial["L0"].entries == scan_tree(layers["L0"]).entries


def test_workers_start_only_where_they_pay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker costs this process ~20 ms to start and stop: two small layers (a
    container's own, beside its cached image) are walked here alone; more layers start
    workers at once, unless the caller says they are small (`eager=False`); small layers
    start them once this process has listed _LATE_WORKERS_AFTER entries with layers still
    to walk."""
    from overlayscope.scan import parallel

    started: list[int] = []
    real = parallel._start_workers

    def counting(count: int, inbox: Any, first: int = 0) -> list[Any]:
        got = real(count, inbox, first)
        started.append(len(got))
        return got

    monkeypatch.setattr(parallel, "_start_workers", counting)
    two = {f"L{i}": _varied(tmp_path / f"l{i}", 60) for i in range(2)}
    serial = scan_layers(two, workers=1)
    assert _same_indexes(scan_layers(two, workers=2), serial) and started == []
    three = {**two, "L2": _varied(tmp_path / "l2", 60)}
    assert _same_indexes(scan_layers(three, workers=2), scan_layers(three, workers=1))
    assert started == [1]
    started.clear()
    # containers' own layers (`containers` measures each rw layer): walked here first
    assert _same_indexes(scan_layers(three, workers=2, eager=False), scan_layers(three, workers=1))
    assert started == []
    monkeypatch.setattr(parallel, "_LATE_WORKERS_AFTER", 50)  # less than one layer holds
    assert _same_indexes(scan_layers(two, workers=2), serial) and started == [1]
    started.clear()
    assert _same_indexes(scan_layers(three, workers=2, eager=False), scan_layers(three, workers=1))
    assert started == [1]  # they proved big enough: workers joined


def _same_indexes(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return list(a) == list(b) and all(
        sorted(a[k].entries) == sorted(b[k].entries) and a[k].problems == b[k].problems for k in a
    )


def test_empty_and_single(tmp_path: Path) -> None:
    assert scan_layers({}) == {}
    add(tmp_path, "f", "file", b"x")
    only = scan_layers({"one": tmp_path}, workers=8)
    assert sorted(only["one"].entries) == ["/", "/f"]


def test_default_workers() -> None:
    assert default_workers() >= 1


_DIES_ON_FIRST_TASK = """
import os, pickle, struct, sys
from overlayscope.scan.wire import READY, read_frame, write_frame
write_frame(sys.stdout.buffer, READY)
read_frame(sys.stdin.buffer)
sys.stderr.write("fake worker: dying on purpose")
os._exit(3)
"""


def _fake_python(tmp_path: Path, code: str) -> str:
    """An "interpreter" that ignores its arguments and runs `code` instead."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{code}'\n")
    script.chmod(0o755)
    return str(script)


def test_worker_dying_mid_layer_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layers = {f"l{i}": add(tmp_path, f"l{i}/f", "file", b"x").parent for i in range(4)}
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, _DIES_ON_FIRST_TASK))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))

    slept = threading.Event()

    def wait_for_the_worker(_: object) -> None:
        if not slept.is_set():  # long enough for it to start and say it is ready
            time.sleep(0.5)
            slept.set()

    with pytest.raises(ScanWorkerError) as info:
        scan_layers(layers, workers=2, progress=wait_for_the_worker)
    assert "exit code 3" in str(info.value) and "dying on purpose" in str(info.value)
    assert info.value.hint


def test_worker_dying_at_start_is_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layers = {f"l{i}": add(tmp_path, f"l{i}/f", "file", b"x").parent for i in range(4)}
    monkeypatch.setattr(sys, "executable", "/bin/false")
    result = scan_layers(layers, workers=3)
    assert all(sorted(ix.entries) == ["/", "/f"] for ix in result.values())


def test_unstartable_workers_fall_back_to_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(tmp_path, "a/f", "file", b"x")
    add(tmp_path, "b/f", "file", b"x")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    result = scan_layers({"a": tmp_path / "a", "b": tmp_path / "b"}, workers=2)
    assert sorted(result["b"].entries) == ["/", "/f"]
