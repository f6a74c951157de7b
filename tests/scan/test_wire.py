"""The worker's protocol, run in this process: frames, progress, and the layer it sends."""

from __future__ import annotations

import gc
import io
import os
import pickle
from pathlib import Path

import pytest

from overlayscope.scan import LayerIndex, native_walk, scan_tree, worker
from overlayscope.scan.sizes import layer_sums
from overlayscope.scan.wire import READY, Message, read_frame, write_frame


def test_frames_round_trip() -> None:
    buf = io.BytesIO()
    write_frame(buf, ("a", [1, 2], False, None))
    write_frame(buf, {"x": b"\xff" * 100_000})
    buf.seek(0)
    assert pickle.loads(read_frame(buf) or b"") == ("a", [1, 2], False, None)
    assert pickle.loads(read_frame(buf) or b"") == {"x": b"\xff" * 100_000}
    assert read_frame(buf) is None


@pytest.mark.parametrize("cut", [3, 12])
def test_truncated_frame_is_an_error(cut: int) -> None:
    buf = io.BytesIO()
    write_frame(buf, "hello")
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(buf.getvalue()[:cut]))


def test_worker_reports_progress_then_sends_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in range(5):
        (tmp_path / "l" / f"d{d}").mkdir(parents=True)
        for f in range(30):
            os.mknod(tmp_path / "l" / f"d{d}" / f"f{f}")
    monkeypatch.setattr(worker, "INTERVAL", 0.0)  # a progress frame at every tick
    monkeypatch.setattr(native_walk, "STEP", 30)  # the C walk: a tick every ~30 entries
    tasks = io.BytesIO()
    write_frame(tasks, ("L", str(tmp_path / "l"), True, True, None))  # with the layer's sums
    write_frame(tasks, ("gone", str(tmp_path / "nope"), True, False, "trusted"))
    tasks.seek(0)
    out = io.BytesIO()
    try:
        assert worker.main(tasks, out) == 0
    finally:
        gc.enable()  # main() pauses the GC for its whole (normally separate) process
    out.seek(0)
    messages: list[Message] = []
    while (frame := read_frame(out)) is not None:
        messages.append(pickle.loads(frame))
    assert messages[0] == READY
    layer = [m for m in messages if m[0] == "L"]
    progress = [m[1] for m in layer[:-1]]
    assert len(progress) >= 3 and progress == sorted(progress)
    assert all(m[2] is False and isinstance(m[1], int) for m in layer[:-1])
    _, (columns, problems), done, crash = layer[-1]
    assert done is True and crash is None and problems == []
    index = LayerIndex.from_columns(str(tmp_path / "l"), columns, problems)
    expected = scan_tree(tmp_path / "l")
    assert columns.sums is not None  # made in the worker, sent with the columns
    assert expected.columns is not None and columns.sums == layer_sums(expected.columns)
    assert index.entries == expected.entries
    assert index.children == expected.children
    gone = [m for m in messages if m[0] == "gone"]
    assert len(gone) == 1 and gone[0][2] is True
    assert [p.kind for p in gone[0][1][1]] == ["vanished"]
