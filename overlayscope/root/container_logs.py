"""The end of a container's log, read from the file its engine writes (no daemon).

Docker's json-file driver (`<id>-json.log`: one JSON object a line, `log`, `stream`,
`time`), and the CRI format that Kubernetes nodes and Podman's k8s-file driver write
(`<time> <stream> <P|F> <text>`, a `P` line continued by the next one); anything else is
shown as plain text. Only the last `max_bytes` of the file are read: a log may be
gigabytes. Read-only like every record read here: the file is opened without following
a symlink, without touching its atime where the kernel allows, and only if it is a
regular file (a FIFO or a device in its place is reported, never opened).
"""

from __future__ import annotations

import json
import os
import stat

from overlayscope.record import record
from overlayscope.root.model import Container

MAX_BYTES = 256 * 1024
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_O_NOATIME = getattr(os, "O_NOATIME", 0)


@record
class LogLine:
    time: str | None
    stream: str | None  # "stdout", "stderr"; None for plain text
    text: str


@record
class LogTail:
    """The last lines of a container's log, and what was not read."""

    path: str | None  # the file read; None when there was none to read
    format: str  # "json-file", "cri", "text", or "none"
    lines: tuple[LogLine, ...] = ()
    cut: bool = False  # the file is longer: only its end was read
    size: int = 0  # the file's size
    others: tuple[str, ...] = ()  # rotated files and dirs not read (older lines)
    note: str | None = None  # why nothing (or not everything) could be read


def _rotated(path: str) -> bool:
    return path.rsplit(".", 1)[-1].isdigit() or path.endswith(".gz")


def log_candidates(container: Container) -> tuple[str | None, tuple[str, ...]]:
    """The current log file of `container` among the log paths its reader found in the
    root (None: none), and the others. The engine's recorded `log_path` alone is not
    read: in a copy of a root it names the original host's file."""
    paths = list(dict.fromkeys(container.logs))
    current = next(
        (p for p in paths if not _rotated(p) and os.path.basename(p) != "local-logs"), None
    )
    return current, tuple(p for p in paths if p != current)


def read_log_tail(container: Container, max_bytes: int = MAX_BYTES) -> LogTail:
    """The end of `container`'s current log file (see the module's docstring)."""
    path, others = log_candidates(container)
    if path is None:
        note = "no log file of it was found in this root"
        if container.log_path:
            note += f" (its engine records one at {container.log_path})"
        if any(os.path.basename(p) == "local-logs" for p in others):
            note = "its logs are in the local driver's binary format, which is not read"
        return LogTail(None, "none", others=others, note=note)
    try:
        data, size = _read_end(path, max_bytes)
    except OSError as exc:
        why = (
            "permission denied: run as root" if exc.errno in (1, 13) else (exc.strerror or str(exc))
        )
        return LogTail(path, "none", others=others, note=f"could not read it: {why}")
    cut = size > len(data)
    if cut:  # drop the partial first line
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    fmt, lines = parse_log(data)
    return LogTail(path, fmt, tuple(lines), cut, size, others)


def _read_end(path: str, max_bytes: int) -> tuple[bytes, int]:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise OSError(0, "not a regular file (a symlink or a special file is never opened)")
    try:
        fd = os.open(path, _FLAGS | _O_NOATIME)
    except PermissionError:
        fd = os.open(path, _FLAGS)  # O_NOATIME needs ownership; retry without it
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            raise OSError(0, "not a regular file")
        start = max(fst.st_size - max_bytes, 0)
        chunks = []
        at = start
        while at < fst.st_size:
            chunk = os.pread(fd, min(1 << 16, fst.st_size - at), at)
            if not chunk:
                break
            chunks.append(chunk)
            at += len(chunk)
        return b"".join(chunks), fst.st_size
    finally:
        os.close(fd)


def parse_log(data: bytes) -> tuple[str, list[LogLine]]:
    """(format, lines) of a log's bytes; undecodable bytes survive as surrogate escapes."""
    raw = data.decode("utf-8", "surrogateescape").splitlines()
    if raw and all(_json_line(line) is not None for line in raw[:3] if line.strip()):
        out = []
        for line in raw:
            got = _json_line(line)
            out.append(got if got is not None else LogLine(None, None, line))
        return "json-file", out
    if raw and all(_cri_parts(line) is not None for line in raw[:3] if line.strip()):
        out = []
        pending: LogLine | None = None
        for line in raw:
            parts = _cri_parts(line)
            if parts is None:
                out.append(LogLine(None, None, line))
                continue
            when, stream, tag, text = parts
            line_of = LogLine(when, stream, text)
            if pending is not None:  # a partial line continues here: it keeps its time
                line_of = LogLine(pending.time, pending.stream, pending.text + text)
                pending = None
            if tag == "P":
                pending = line_of
                continue
            out.append(line_of)
        if pending is not None:
            out.append(pending)
        return "cri", out
    return "text", [LogLine(None, None, line) for line in raw]


def _json_line(line: str) -> LogLine | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("log"), str):
        return None
    stream = obj.get("stream") if isinstance(obj.get("stream"), str) else None
    when = obj.get("time") if isinstance(obj.get("time"), str) else None
    return LogLine(when, stream, obj["log"].removesuffix("\n"))


def _cri_parts(line: str) -> tuple[str, str, str, str] | None:
    parts = line.split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("P", "F"):
        return None
    if not parts[0][:4].isdigit() or "T" not in parts[0]:
        return None
    return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else ""
