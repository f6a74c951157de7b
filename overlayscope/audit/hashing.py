"""Hashing layer files in parallel, streamed, through the union's safe open.

Threads, not processes: hashing is read() and hashlib, both of which release
the GIL. Every file is opened with `open_layer_fd` (no symlink followed, only
regular files, O_NOATIME where allowed), and the cancel event is checked
between chunks, so a cancel stops even a huge file within one chunk.

A digest is of a file's whole logical content, but a sparse file's holes are
never read: they are fed to the digests as zeros from one shared buffer
(`union/extents.py`). Digests cannot skip zeros, though, so a file with more
than `max_hole_bytes` of holes (16 GiB by default, ~11 s of SHA-256) is not
hashed: it becomes a `HashFailure` of kind `not-hashed`, never a silent gap.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from overlayscope.audit.findings import read_refused
from overlayscope.audit.progress import AnyOf, CancelFlag, Reporter, check_cancel
from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.record import record
from overlayscope.union.content import open_layer_fd
from overlayscope.union.extents import DEFAULT_MAX_HOLE_BYTES as DEFAULT_MAX_HOLE_BYTES
from overlayscope.union.extents import Hasher, TooSparse, hash_fd

UNREADABLE = "unreadable"
NOT_HASHED = "not-hashed"


@record
class Digest:
    size: int
    sha256: str
    md5: str | None = None  # only when asked for (the bodyfile's MD5 column)


@record
class HashFailure:
    """A file with no digest: `kind` is `unreadable` (gone, replaced, refused) or
    `not-hashed` (more holes than the bound on holes hashed)."""

    content_dir: str
    path: str
    detail: str
    kind: str = UNREADABLE
    unread: bool = False  # refused or an I/O error, not gone (findings.read_refused)


def default_hash_workers() -> int:
    """Enough threads to keep a disk busy, not so many that they thrash it."""
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


def hash_file(
    content_dir: str,
    path: str,
    *,
    md5: bool = False,
    cancel: CancelFlag | None = None,
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES,
) -> Digest:
    """Size and digests of one regular file of a layer, streamed, holes unread.

    Raises `TooSparse` for a file with more than `max_hole_bytes` of holes (None: no bound).
    """
    sha = hashlib.sha256()
    md = hashlib.md5(usedforsecurity=False) if md5 else None
    hashers: list[Hasher] = [sha] if md is None else [sha, md]
    fd = open_layer_fd(content_dir, path)
    try:
        size = hash_fd(
            fd,
            hashers,
            path=path,
            max_hole_bytes=max_hole_bytes,
            check=lambda: check_cancel(cancel),
        )
    finally:
        os.close(fd)
    return Digest(size, sha.hexdigest(), md.hexdigest() if md is not None else None)


def hash_files(
    files: Sequence[tuple[str, str]],
    *,
    md5: bool = False,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    report: Reporter | None = None,
    max_hole_bytes: int | None = DEFAULT_MAX_HOLE_BYTES,
) -> tuple[dict[tuple[str, str], Digest], list[HashFailure]]:
    """Hash `(content_dir, path)` pairs in a thread pool; failures are returned, not raised.

    A file that vanished, turned into a symlink, or cannot be read becomes a
    `HashFailure` (`unreadable`); one with more than `max_hole_bytes` of holes a
    `HashFailure` (`not-hashed`). `Cancelled` (and any bug) propagates after the pool stops.
    """
    unique = list(dict.fromkeys(files))
    digests: dict[tuple[str, str], Digest] = {}
    failures: list[HashFailure] = []
    if not unique:
        return digests, failures
    stop = threading.Event()
    inner = AnyOf(cancel, stop)  # workers stop on the caller's cancel or on our own error
    total = len(unique)
    pool = ThreadPoolExecutor(max_workers=workers or default_hash_workers())
    pending: dict[Future[Digest], tuple[str, str]] = {}
    todo = iter(unique)

    def submit(job: tuple[str, str]) -> None:
        future = pool.submit(hash_file, *job, md5=md5, cancel=inner, max_hole_bytes=max_hole_bytes)
        pending[future] = job

    try:
        # A bounded window of submitted jobs keeps memory flat for millions of files.
        window = 4 * (workers or default_hash_workers())
        for job in todo:
            submit(job)
            if len(pending) >= window:
                break
        while pending:
            check_cancel(cancel)
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    digests[job] = future.result()
                except Cancelled:
                    raise
                except TooSparse as exc:
                    failures.append(HashFailure(job[0], job[1], exc.message, NOT_HASHED))
                except (OSError, OverlayscopeError) as exc:
                    failures.append(HashFailure(job[0], job[1], str(exc), unread=read_refused(exc)))
                nxt = next(todo, None)
                if nxt is not None:
                    submit(nxt)
                if report is not None:
                    report("hash", len(digests) + len(failures), total, job[1])
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return digests, failures
