"""A real data root from a private dockerd: an image of 30,000 files and a stopped
container that changed ~100,000 paths in it (added, modified, deleted), for timing
`overlayscope container` beside `docker diff`, and `df` beside `docker system df -v`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.engine import EngineUnavailable, PrivateEngine, engine_unavailable_reason

BASE_TAG = "overlayscope/bench-base:1"
IMAGE_TAG = "overlayscope/bench-changes:1"
CONTAINER = "changes"
_FILES_PER_DIR = 300
_IMAGE_DIRS = 100

# an image with _IMAGE_DIRS dirs of _FILES_PER_DIR small files
_DOCKERFILE = f"""FROM {BASE_TAG}
RUN mkdir -p /big && cd /big && for d in $(seq 1 {_IMAGE_DIRS}); do mkdir d$d; cd d$d; \
    for f in $(seq 1 {_FILES_PER_DIR}); do echo "$d $f" > f$f; done; cd ..; done
"""


def _changes_script(changes: int) -> str:
    """Shell for the container: 70% additions, 20% copy-ups (touch), 10% deletions."""
    add_dirs = max(1, round(changes * 0.7 / 1000))
    touch_dirs = max(1, min(_IMAGE_DIRS // 2, round(changes * 0.2 / _FILES_PER_DIR)))
    delete_dirs = max(1, min(_IMAGE_DIRS - touch_dirs, round(changes * 0.1 / _FILES_PER_DIR)))
    last = touch_dirs + delete_dirs
    return (
        "set -e; mkdir /data; cd /data; "
        f"for d in $(seq 1 {add_dirs}); do mkdir $d; (cd $d && seq 1 1000 | xargs touch); done; "
        f"for d in $(seq 1 {touch_dirs}); do (cd /big/d$d && ls | xargs touch); done; "
        f"for d in $(seq {touch_dirs + 1} {last}); do (cd /big/d$d && ls | xargs rm); done"
    )


@dataclass(frozen=True)
class EngineCase:
    engine: PrivateEngine
    root: str  # the engine's data root
    container: str
    changes: int  # lines of `docker diff`


@contextlib.contextmanager
def engine_case(changes: int, log: Callable[[str], None] = print) -> Iterator[EngineCase | None]:
    """A running private engine holding the case; None (after saying why) when none can run.

    The engine, its data root and every process it started are gone afterwards.
    """
    reason = engine_unavailable_reason()
    if reason is not None:
        log(f"no private engine: {reason}")
        yield None
        return
    engine = PrivateEngine()
    try:
        engine.start()
    except EngineUnavailable as exc:
        log(f"no private engine: {exc}")
        yield None
        return
    try:
        log(f"private engine at {engine.data_root}: building {IMAGE_TAG} ...")
        engine.import_base(BASE_TAG)
        engine.build(IMAGE_TAG, _DOCKERFILE)
        log(f"  running {CONTAINER}: ~{changes:,} changes ...")
        engine.run(IMAGE_TAG, ["sh", "-c", _changes_script(changes)], name=CONTAINER, detach=False)
        lines = engine.docker("diff", CONTAINER).count("\n")
        log(f"  docker diff {CONTAINER}: {lines:,} changes")
        yield EngineCase(engine, str(engine.data_root), CONTAINER, lines)
    finally:
        engine.stop()


SMALL_CONTAINER = "small"
# ~28 lines of `docker diff` (the small container): files added, changed, deleted
_SMALL_SCRIPT = (
    "set -e; mkdir -p /data/logs; cd /data; seq 1 20 | xargs touch; "
    "echo started > logs/app.log; echo 127.0.0.1 web >> /etc/hosts.extra; "
    "touch /bin/ls; rm /bin/vi"
)


@contextlib.contextmanager
def small_case(log: Callable[[str], None] = print) -> Iterator[EngineCase | str]:
    """A running private engine with one stopped container of a few dozen changes on the
    busybox base image; the reason (a str) when no engine can run here."""
    reason = engine_unavailable_reason()
    if reason is not None:
        yield reason
        return
    engine = PrivateEngine()
    try:
        engine.start()
    except EngineUnavailable as exc:
        yield str(exc)
        return
    try:
        engine.import_base(BASE_TAG)
        engine.run(BASE_TAG, ["sh", "-c", _SMALL_SCRIPT], name=SMALL_CONTAINER, detach=False)
        lines = engine.docker("diff", SMALL_CONTAINER).count("\n")
        log(f"private engine at {engine.data_root}: docker diff {SMALL_CONTAINER}: {lines} changes")
        yield EngineCase(engine, str(engine.data_root), SMALL_CONTAINER, lines)
    finally:
        engine.stop()
