"""The worker's protocol, run in this process: frames, chunks, and rebuilding the index."""

from __future__ import annotations

import gc
import io
import os
import pickle
from pathlib import Path

import pytest

from overlayscope.scan import scan_tree, worker
from overlayscope.scan.builder import IndexBuilder
from overlayscope.scan.parallel import _apply
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


def test_worker_streams_chunks_that_rebuild_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in range(5):
        (tmp_path / "l" / f"d{d}").mkdir(parents=True)
        for f in range(30):
            os.mknod(tmp_path / "l" / f"d{d}" / f"f{f}")
    monkeypatch.setattr(worker, "CHUNK_ENTRIES", 40)
    tasks = io.BytesIO()
    write_frame(tasks, ("L", str(tmp_path / "l")))
    write_frame(tasks, ("gone", str(tmp_path / "nope")))
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
    assert len(layer) >= 3  # 156 entries, 30 a directory, shipped once 40 are waiting
    assert [m[2] for m in layer] == [False] * (len(layer) - 1) + [True]
    builder = IndexBuilder(str(tmp_path / "l"))
    for _key, ops, _done, crash in layer:
        assert crash is None
        _apply(builder, ops)
    expected = scan_tree(tmp_path / "l")
    assert builder.index.entries == expected.entries
    assert builder.index.children == expected.children
    gone = [m for m in messages if m[0] == "gone"]
    assert len(gone) == 1 and gone[0][2] is True
