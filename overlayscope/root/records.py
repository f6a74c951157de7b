"""Safe reads of Docker's small record files: never follow a symlink, never write.

Each reader returns the value or raises `RecordError` carrying the problem, so
callers turn damage into `Problem` records and go on with the rest of the host.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import Any

from overlayscope.names import plural
from overlayscope.root.problems import Problem, ProblemKind, is_denied, permission_problem

# Docker's record files are tiny; anything larger is damage, not data.
MAX_RECORD_BYTES = 4 * 1024 * 1024
_O_NOATIME = getattr(os, "O_NOATIME", 0)


class RecordError(Exception):
    """A record that could not be read; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class MissingRecord(RecordError):
    """The record file does not exist (normal for optional records such as `lower`)."""


class AccessDenied(RecordError):
    """The operating system refused access (EACCES, EPERM): whether the record or dir is
    there, and what it holds, is unknown. Never damage: the user needs root."""


def read_bytes(path: str, limit: int = MAX_RECORD_BYTES) -> bytes:
    """Read a small regular file without following a symlink at its last component.

    A device node, fifo or socket in its place is reported, never opened: opening a
    device found in the evidence would talk to the host's device.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise MissingRecord(Problem(ProblemKind.BAD_METADATA, path, "missing")) from None
    except OSError as exc:
        raise os_error(path, exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise RecordError(Problem(ProblemKind.SYMLINK_IN_ROOT, path, "is a symlink; not followed"))
    if not stat.S_ISREG(st.st_mode):
        raise RecordError(Problem(ProblemKind.BAD_METADATA, path, "not a regular file"))
    try:
        try:
            fd = os.open(path, flags | _O_NOATIME)
        except PermissionError:
            fd = os.open(path, flags)  # O_NOATIME needs ownership; retry without it
    except FileNotFoundError:
        raise MissingRecord(Problem(ProblemKind.BAD_METADATA, path, "missing")) from None
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RecordError(Problem(ProblemKind.BAD_METADATA, path, "not a regular file"))
        if st.st_size > limit:
            raise RecordError(
                Problem(
                    ProblemKind.BAD_METADATA,
                    path,
                    f"{plural(st.st_size, 'byte')}, larger than any record Docker writes ({limit})",
                )
            )
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(65536, remaining))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise RecordError(Problem(ProblemKind.BAD_METADATA, path, "record grew while read"))
        return data
    except OSError as exc:
        raise os_error(path, exc) from None
    finally:
        os.close(fd)


def read_optional_text(path: str, limit: int = MAX_RECORD_BYTES) -> str | None:
    """Like `read_text`, but None when the file does not exist."""
    try:
        return read_text(path, limit)
    except MissingRecord:
        return None


def read_text(path: str, limit: int = MAX_RECORD_BYTES) -> str:
    """Read a small text record (ids, link names), stripped of surrounding white space."""
    data = read_bytes(path, limit)
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise RecordError(
            Problem(ProblemKind.BAD_METADATA, path, "not ASCII text: " + _preview(data))
        ) from None


def read_json(path: str, limit: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """Read a JSON object record."""
    data = read_bytes(path, limit)
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise RecordError(Problem(ProblemKind.BAD_METADATA, path, f"invalid JSON: {exc}")) from None
    if not isinstance(value, dict):
        raise RecordError(
            Problem(
                ProblemKind.BAD_METADATA,
                path,
                f"expected a JSON object, got {type(value).__name__}",
            )
        )
    return value


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def lstat_known(path: str) -> os.stat_result | None:
    """`os.lstat(path)`, None when the path is not there; `AccessDenied` when the operating
    system refuses to say (a parent dir root keeps closed): absent and unknown differ."""
    try:
        return os.lstat(path)
    except OSError as exc:
        if is_denied(exc):
            raise AccessDenied(permission_problem(path)) from None
        return None


def list_record_dir(path: str, problems: list[Problem]) -> list[str]:
    """Names in an optional record dir: [] when it is absent; [] and a problem when unreadable."""
    try:
        return list_dir(path)
    except RecordError as exc:
        # A refusal is said even when lstat cannot tell whether the dir is there.
        if isinstance(exc, AccessDenied) or lstat_or_none(path) is not None:
            problems.append(exc.problem)
        return []


def open_dir(path: str, dir_fd: int | None = None) -> int:
    """An fd of the directory `path` (not followed if a symlink), opened O_NOATIME where
    the kernel allows it (the owner, or CAP_FOWNER): listing a dir of a live host must not
    change its access time. OSError as `os.open` raises it."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags | _O_NOATIME, dir_fd=dir_fd)
    except PermissionError:
        return os.open(path, flags, dir_fd=dir_fd)


def list_dir(path: str) -> list[str]:
    """Names in a directory that is not a symlink; RecordError when unreadable."""
    st = lstat_or_none(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise RecordError(Problem(ProblemKind.SYMLINK_IN_ROOT, path, "is a symlink; not followed"))
    try:
        fd = open_dir(path)
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        return sorted(os.listdir(fd))
    except OSError as exc:
        raise os_error(path, exc) from None
    finally:
        os.close(fd)


def record_dir_problem(path: str) -> Problem | None:
    """Why the record directory `path` (`containers/<id>`, a layerdb record...) cannot be
    read, or None. A symlink is never followed: a record reached through one could be
    any file on the host."""
    st = lstat_or_none(path)
    if st is None:
        return Problem(ProblemKind.BAD_METADATA, path, "missing")
    if stat.S_ISLNK(st.st_mode):
        return Problem(ProblemKind.SYMLINK_IN_ROOT, path, "record dir is a symlink; not followed")
    if not stat.S_ISDIR(st.st_mode):
        return Problem(ProblemKind.BAD_METADATA, path, "record dir is not a directory")
    return None


def os_error(path: str, exc: OSError) -> RecordError:
    """The `RecordError` for `exc` met at `path`: `AccessDenied` for a refusal."""
    if is_denied(exc):
        return AccessDenied(permission_problem(path))
    return RecordError(_os_problem(path, exc))


def _os_problem(path: str, exc: OSError) -> Problem:
    if exc.errno == errno.ELOOP:
        return Problem(ProblemKind.SYMLINK_IN_ROOT, path, "is a symlink; not followed")
    if exc.errno == errno.ENOTDIR:
        return Problem(ProblemKind.BAD_METADATA, path, "a parent is not a directory")
    if is_denied(exc):
        return permission_problem(path)
    if exc.errno == errno.ENOENT:
        return Problem(ProblemKind.BAD_METADATA, path, "missing")
    return Problem(ProblemKind.UNREADABLE, path, exc.strerror or str(exc))


def _preview(data: bytes, width: int = 40) -> str:
    return repr(data[:width]) + ("…" if len(data) > width else "")
