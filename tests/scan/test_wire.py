"""The worker's protocol, run in this process: frames, progress, and the layer it sends."""

from __future__ import annotations

import gc
import io
import os
import pickle
from pathlib import Path

import pytest

from overlayscope.scan import LayerIndex, native, native_walk, scan_tree, worker
from overlayscope.scan.sizes import layer_sums
from overlayscope.scan.wire import READY, SPLIT, Message, read_frame, write_frame


def test_frames_round_trip() -> None:
    buf = io.BytesIO()
    write_frame(buf, ("a", [1, 2], False, None))  # a small frame: one write
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
    write_frame(tasks, ("L", 1, str(tmp_path / "l"), None, True, True, None, False))  # sums
    write_frame(tasks, SPLIT)  # between walks: nothing to hand over
    write_frame(tasks, ("gone", 2, str(tmp_path / "nope"), None, True, False, "trusted", False))
    tasks.seek(0)
    out = io.BytesIO()
    try:
        assert worker.main(tasks, out) == 0
    finally:
        gc.enable()  # main() pauses the GC for its whole (normally separate) process
    messages = _messages(out)
    assert messages[0] == READY
    layer = [m for m in messages if m[1] == 1]
    progress = [m[2] for m in layer[:-1]]
    assert len(progress) >= 3 and progress == sorted(progress)
    assert all(m[0] == "progress" and isinstance(m[2], int) for m in layer[:-1])
    what, _, (columns, problems, splices, cold) = layer[-1]
    assert cold is False
    assert what == "done" and problems == [] and splices == []
    index = LayerIndex.from_columns(str(tmp_path / "l"), columns, problems)
    expected = scan_tree(tmp_path / "l")
    assert columns.sums is not None  # made in the worker, sent with the columns
    assert expected.columns is not None and columns.sums == layer_sums(expected.columns)
    assert index.entries == expected.entries
    assert index.children == expected.children
    assert ("parts", None, ([], False)) in messages
    gone = [m for m in messages if m[1] == 2]
    assert len(gone) == 1 and gone[0][0] == "done" and len(gone[0][2][0]) == 0
    assert [p.kind for p in gone[0][2][1]] == ["vanished"]


def _messages(out: io.BytesIO) -> list[Message]:
    out.seek(0)
    messages: list[Message] = []
    while (frame := read_frame(out)) is not None:
        messages.append(pickle.loads(frame))
    return messages


def test_worker_hands_subtrees_over_when_asked(tmp_path: Path) -> None:
    """A SPLIT read between two steps of a C walk: the worker answers with subtrees it has
    not entered (by their paths in the layer), and its piece says where they go."""
    if native.listdir is None:
        pytest.skip("only the C walk hands subtrees over")
    root = tmp_path / "l"
    for d in range(6):
        for f in range(20):
            (root / f"d{d}" / "sub").mkdir(parents=True, exist_ok=True)
            (root / f"d{d}" / "sub" / f"f{f}").write_bytes(b"x")
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as tasks:  # both frames wait in the pipe
        write_frame(tasks, ("L", 7, str(root), None, False, True, None, False))
        write_frame(tasks, SPLIT)
    out = io.BytesIO()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as requests:
            assert worker.main(requests, out) == 0
    finally:
        gc.enable()
    messages = _messages(out)
    parts = [m for m in messages if m[0] == "parts"]
    assert len(parts) == 1 and parts[0][1] == 7
    given, cold = parts[0][2]
    assert cold is False  # a warm page cache: nothing was read from the disk
    assert len(given) == 3  # half of the root's six subdirs, none entered yet
    assert all(rel.startswith(b"d") and b"/" not in rel for rel, _, _ in given)
    for rel, dev, ino in given:
        st = os.lstat(root / os.fsdecode(rel))
        assert (dev, ino) == (st.st_dev, st.st_ino)
    what, _, (columns, problems, splices, _) = messages[-1]
    assert what == "done" and problems == []
    assert sorted(s.rel for s in splices) == sorted(rel for rel, _, _ in given)
    assert len(columns) == 1 + 6 * 22 - 3 * 21  # their entries are another walk's
