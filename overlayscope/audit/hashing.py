"""Hashing layer files in parallel, streamed, through the union's safe open.

Threads, not processes: hashing is read() and hashlib, both of which release
the GIL. Every file is opened with `open_in_layer` (no symlink followed, only
regular files, O_NOATIME where allowed), and the cancel event is checked
between chunks, so a cancel stops even a huge file within one chunk.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from overlayscope.audit.progress import AnyOf, CancelFlag, Reporter, check_cancel
from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.union import open_in_layer

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Digest:
    size: int
    sha256: str
    md5: str | None = None  # only when asked for (the bodyfile's MD5 column)


@dataclass(frozen=True, slots=True)
class HashFailure:
    content_dir: str
    path: str
    detail: str


def default_hash_workers() -> int:
    """Enough threads to keep a disk busy, not so many that they thrash it."""
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


def hash_file(
    content_dir: str, path: str, *, md5: bool = False, cancel: CancelFlag | None = None
) -> Digest:
    """Size and digests of one regular file of a layer, streamed."""
    sha = hashlib.sha256()
    md = hashlib.md5(usedforsecurity=False) if md5 else None
    size = 0
    with open_in_layer(content_dir, path) as f:
        while chunk := f.read(CHUNK):
            check_cancel(cancel)
            sha.update(chunk)
            if md is not None:
                md.update(chunk)
            size += len(chunk)
    return Digest(size, sha.hexdigest(), md.hexdigest() if md is not None else None)


def hash_files(
    files: Sequence[tuple[str, str]],
    *,
    md5: bool = False,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    report: Reporter | None = None,
) -> tuple[dict[tuple[str, str], Digest], list[HashFailure]]:
    """Hash `(content_dir, path)` pairs in a thread pool; failures are returned, not raised.

    A file that vanished, turned into a symlink, or cannot be read becomes a
    `HashFailure`; `Cancelled` (and any bug) propagates after the pool stops.
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
    try:
        # A bounded window of submitted jobs keeps memory flat for millions of files.
        window = 4 * (workers or default_hash_workers())
        for job in todo:
            pending[pool.submit(hash_file, *job, md5=md5, cancel=inner)] = job
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
                except (OSError, OverlayscopeError) as exc:
                    failures.append(HashFailure(job[0], job[1], str(exc)))
                nxt = next(todo, None)
                if nxt is not None:
                    pending[pool.submit(hash_file, *nxt, md5=md5, cancel=inner)] = nxt
                if report is not None:
                    report("hash", len(digests) + len(failures), total, job[1])
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return digests, failures
