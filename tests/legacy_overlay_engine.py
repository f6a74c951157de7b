"""A private dockerd on Docker's legacy `overlay` graph driver, and the scenario built in it.

Docker ≤ 23 could still run `--storage-driver=overlay` (moby `daemon/graphdriver/overlay`):
every image layer is a full `root/` tree, hard-linked from the layer beneath with the layer's
tar applied; a container's rw and `-init` layers are `upper/`, `work/`, `merged/` and a
`lower-id` naming the image's top layer. The scenario (`build_scenario`) mirrors
fixtures/capture.py's: an imported busybox base, a classic build whose RUN steps add,
overwrite, delete, remove and re-make a dir, chmod only, hard-link and symlink (and add a
setuid file, a fifo and a device), and containers that are created, exited and running
(one deletes two of its init layer's stubs). `step_layers` asks the engine which overlay
dir each build step made (`docker history` → intermediate image → `GraphDriver.Data.
RootDir`); `APP_PATHS` / `APP_DELETED` say, from the Dockerfile, which step last changed or
deleted a path. fixtures/legacy-overlay/capture.py archives the same scenario; the oracles
read from it are in tests/legacy_overlay_oracles.py.

The engine is shared by every test module that uses the `legacy_overlay` fixture (import it
from here): started once, on first use, and stopped when pytest ends.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine import (
    CapturedRoot,
    EngineError,
    PrivateEngine,
    _dockerd_major_version,
    engine_unavailable_reason,
    unpack_snapshot,
)

DRIVER = "overlay"
BASE = "legacy/base:1"
APP = "legacy/app:1"
TOOL = "legacy/tool:1"
DANGLE = "legacy/dangle:1"
SLEEP_FOREVER = ["sleep", "2147483647"]
BLOB_SIZE = 64 * 1024

# Each RUN step names itself (`STEP=name;`, a no-op for the shell) so that its history line,
# and so the layer it made, can be found; the COPY step is found by its destination.
APP_DOCKERFILE = f"""\
FROM {BASE}
LABEL org.opencontainers.image.title="overlayscope legacy overlay app"
ENV APP_HOME=/app
RUN STEP=tree; set -e; \\
    mkdir -p /app/conf /app/data/nested/deeper /app/cache/old /app/logs/2024 /app/tmpdir \\
             /app/docs /app/bin /app/lib /app/junk/sub; \\
    printf 'name=app\\nmode=prod\\n' > /app/conf/app.conf; \\
    printf 'extra=1\\n' > /app/conf/extra.conf; \\
    seq 1 12000 > /app/data/big.txt; \\
    echo 'to be deleted' > /app/data/doomed.txt; \\
    echo leaf > /app/data/nested/deeper/leaf.txt; \\
    echo 'old cache' > /app/cache/old/entry.txt; echo keep > /app/cache/keep.txt; \\
    echo a > /app/logs/a.log; echo b > /app/logs/2024/b.log; \\
    echo old > /app/tmpdir/old.txt; echo 'read me' > /app/docs/readme.txt; \\
    echo j > /app/junk/j.txt; echo k > /app/junk/sub/k.txt; \\
    printf '#!/bin/sh\\necho tool\\n' > /app/bin/tool.sh; chmod 755 /app/bin/tool.sh; \\
    echo notes > /app/notes.txt; echo perm > /app/perm.txt; echo shared > /app/lib/a.txt; \
    mkfifo /app/fifo; mknod /app/null c 1 3
COPY blob.bin /app/data/blob.bin
RUN STEP=links; set -e; \\
    ln /app/lib/a.txt /app/lib/b.txt; \\
    echo pair > /app/lib/p1; ln /app/lib/p1 /app/lib/p2; \\
    ln -s /app/conf/app.conf /app/current.conf; \\
    ln -s ../conf/app.conf /app/lib/app.conf.rel; \\
    printf '#!/bin/sh\\nid\\n' > /app/bin/suid-tool; chmod 4755 /app/bin/suid-tool
RUN STEP=changes; set -e; \\
    rm /app/data/doomed.txt; \\
    rm -rf /app/junk; \\
    rm -rf /app/cache && mkdir -p /app/cache/new && echo fresh > /app/cache/new/entry.txt; \\
    seq 100 12100 > /app/data/big.txt; \\
    chmod 640 /app/data/nested/deeper/leaf.txt; \\
    ln -sfn ../conf/extra.conf /app/lib/app.conf.rel; \\
    sleep 1; ln -sfn /app/conf/app.conf /app/current.conf
WORKDIR /app
CMD {json.dumps(SLEEP_FOREVER)}
"""

TOOL_DOCKERFILE = f"""\
FROM {BASE}
RUN STEP=tool; mkdir -p /opt/tool && printf '#!/bin/sh\\necho tool "$@"\\n' > /opt/tool/run.sh \\
    && chmod 755 /opt/tool/run.sh
LABEL role=tool
"""

DANGLE_DOCKERFILE = f"""\
FROM {BASE}
RUN STEP=dangle; echo {{version}} > /version
"""

# Which step of the app image created or last changed a path (the base layer: "base"),
# known from the Dockerfile above. `/app/current.conf` is re-made in `changes` with the
# very target it had: a change of mtime only, which the layer's tar still carries.
APP_PATHS: dict[str, str] = {
    "/bin/busybox": "base",
    "/bin/sh": "base",
    "/etc/passwd": "base",
    "/app/conf/app.conf": "tree",
    "/app/conf/extra.conf": "tree",
    "/app/notes.txt": "tree",
    "/app/perm.txt": "tree",
    "/app/lib/a.txt": "tree",  # `ln` of it in `links` changed nothing docker diff sees
    "/app/bin/tool.sh": "tree",
    "/app/logs/2024/b.log": "tree",
    "/app/fifo": "tree",  # a fifo and a device, made anew (same mtime) in every layer above
    "/app/null": "tree",
    "/app/data/blob.bin": "blob",
    "/app/lib/b.txt": "links",
    "/app/lib/p1": "links",
    "/app/lib/p2": "links",
    "/app/bin/suid-tool": "links",
    "/app/data/big.txt": "changes",
    "/app/data/nested/deeper/leaf.txt": "changes",  # chmod only: copied whole
    "/app/cache/new/entry.txt": "changes",
    "/app/lib/app.conf.rel": "changes",  # re-pointed
    "/app/current.conf": "changes",  # re-made, same target
}
# Paths of the app image's layers that a later step deleted, and the step that did.
APP_DELETED: dict[str, str] = {
    "/app/data/doomed.txt": "changes",
    "/app/junk": "changes",
    "/app/cache/old": "changes",
    "/app/cache/keep.txt": "changes",
}
SETUID_PATH = "/app/bin/suid-tool"
STEPS = ("base", "tree", "blob", "links", "changes")

# What each container does; "lower" means a file from the image.
WEB_SCRIPT = """\
set -e
echo appended >> /app/conf/app.conf                      # append to a lower file
chmod 600 /app/perm.txt                                  # chmod only a lower file
touch /app/notes.txt                                     # touch only a lower file
rm /app/conf/extra.conf                                  # delete a lower file
rm -rf /app/logs                                         # delete a lower dir (with a subdir)
rm -rf /app/tmpdir && mkdir /app/tmpdir && echo new > /app/tmpdir/new.txt  # opaque dir
mv /app/docs/readme.txt /app/docs/README                 # rename a lower file
ln /app/bin/tool.sh /app/bin/tool-link                   # hard-link a lower file
mkdir -p /srv/www/static/css                             # new nested dirs and files
echo 'body {}' > /srv/www/static/css/site.css
echo '<h1>hi</h1>' > /srv/www/index.html
dd if=/dev/zero of=/srv/www/big.bin bs=1024 count=256 2>/dev/null  # a 256 KiB new file
touch /srv/done
"""
STOPPED_SCRIPT = """\
set -e
echo stopped > /app/stopped.txt
rm /app/notes.txt
echo more >> /app/data/big.txt
rm /app/lib/b.txt
"""
TOOL_SCRIPT = "echo out > /opt/tool/out.txt; exit 3"
# Deletes two of the init layer's stubs, which the image does not have: in the rw `upper/`
# (a copy of the init layer's) they are simply gone, with no whiteout.
STUBS_SCRIPT = "rm /.dockerenv /etc/mtab"
CONTAINERS = ("web", "stopped", "tool-exited", "fresh", "stubs")


def blob() -> bytes:
    """Deterministic incompressible bytes for the COPY step."""
    return random.Random(20240601).randbytes(BLOB_SIZE)


def legacy_unavailable_reason() -> str | None:
    """Why no private engine on the legacy overlay driver can run here, or None."""
    reason = engine_unavailable_reason()
    if reason is not None:
        return reason
    major = _dockerd_major_version()
    if major >= 24:
        return f"dockerd {major} has no legacy `overlay` storage driver (removed in Docker 24)"
    return None


@dataclass(frozen=True)
class LegacyScenario:
    """The engine and what was built in it."""

    engine: PrivateEngine
    images: dict[str, str]  # tag → image id ("dangling" for the first scope/dangle build)
    containers: dict[str, str]  # name → container id
    steps: dict[str, str]  # app build step (STEPS) → the overlay dir id of the layer it made

    @property
    def data_root(self) -> Path:
        return self.engine.data_root

    def layer_dir(self, layer_id: str) -> Path:
        return self.engine.data_root / DRIVER / layer_id

    def step_of(self, layer_id: str) -> str:
        """The build step that made an app image layer."""
        return next(step for step, lid in self.steps.items() if lid == layer_id)


def dir_id(path: str) -> str:
    """`…/overlay/<id>/root` (or upper, work, merged) → `<id>`."""
    return os.path.basename(os.path.dirname(path))


def build_scenario(eng: PrivateEngine) -> dict[str, Any]:
    """Build the images and containers; return what was done (ids, steps, scripts)."""
    images: dict[str, str] = {}
    files = {"blob.bin": blob()}
    images[BASE] = eng.import_base(BASE)
    images[APP] = eng.build(APP, APP_DOCKERFILE, files)
    images[TOOL] = eng.build(TOOL, TOOL_DOCKERFILE)
    # Re-tagging legacy/dangle:1 onto a second build leaves the first one dangling.
    images["dangling"] = eng.build(DANGLE, DANGLE_DOCKERFILE.format(version="v1"))
    images[DANGLE] = eng.build(DANGLE, DANGLE_DOCKERFILE.format(version="v2"))

    containers: dict[str, str] = {}
    containers["web"] = eng.run(APP, SLEEP_FOREVER, name="web")
    eng.docker("exec", "web", "sh", "-c", WEB_SCRIPT)
    eng.run(APP, ["sh", "-c", STOPPED_SCRIPT], name="stopped", detach=False)
    containers["stopped"] = eng.inspect("stopped")[0]["Id"]
    containers["tool-exited"] = eng.run(TOOL, ["sh", "-c", TOOL_SCRIPT], name="tool-exited")
    eng.docker("wait", "tool-exited")
    containers["fresh"] = eng.docker("create", "--network=none", "--name=fresh", APP).strip()
    eng.run(BASE, ["sh", "-c", STUBS_SCRIPT], name="stubs", detach=False)
    containers["stubs"] = eng.inspect("stubs")[0]["Id"]
    return {
        "images": images,
        "containers": containers,
        "steps": step_layers(eng, APP),
        "dockerfiles": {APP: APP_DOCKERFILE, TOOL: TOOL_DOCKERFILE, DANGLE: DANGLE_DOCKERFILE},
        "scripts": {
            "web": WEB_SCRIPT,
            "stopped": STOPPED_SCRIPT,
            "tool-exited": TOOL_SCRIPT,
            "stubs": STUBS_SCRIPT,
        },
        "app_paths": APP_PATHS,
        "app_deleted": APP_DELETED,
    }


def _history(eng: PrivateEngine, image: str) -> list[tuple[str, dict[str, Any]]]:
    """`docker history` of `image`, top first, as (build step, row) for the app's steps."""
    out = []
    text = eng.docker("history", "--no-trunc", "--human=false", "--format", "{{json .}}", image)
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        created_by = row["CreatedBy"]
        if "STEP=" in created_by:
            out.append((created_by.split("STEP=", 1)[1].split(";", 1)[0], row))
        elif "COPY" in created_by and "/app/data/blob.bin" in created_by:
            out.append(("blob", row))
    return out


def step_layers(eng: PrivateEngine, image: str) -> dict[str, str]:
    """The engine's own answer to "which overlay dir did each build step make": each step's
    intermediate image (`docker history`, the classic builder keeps them) and the top layer
    of its rootfs (`GraphDriver.Data.RootDir`, `overlay/<id>/root`)."""
    out: dict[str, str] = {}
    for step, row in _history(eng, image):
        [inspected] = eng.inspect(row["ID"])
        out[step] = dir_id(inspected["GraphDriver"]["Data"]["RootDir"])
    [base] = eng.inspect(BASE)
    out["base"] = dir_id(base["GraphDriver"]["Data"]["RootDir"])
    missing = set(STEPS) - set(out)
    if missing:
        raise EngineError(f"no history line for the steps {sorted(missing)} of {image}")
    return out


def history_sizes(eng: PrivateEngine, image: str) -> dict[str, int]:
    """Each step's layer size as `docker history` reports it, by step (see `step_layers`)."""
    return {step: int(row["Size"]) for step, row in _history(eng, image)}


def wait_for_web(eng: PrivateEngine, timeout: float = 60) -> None:
    """Until the running container's script has finished (its last act: /srv/done)."""
    [inspected] = eng.inspect("web")
    merged = Path(inspected["GraphDriver"]["Data"]["MergedDir"])
    deadline = time.monotonic() + timeout
    while not (merged / "srv" / "done").exists():
        if time.monotonic() > deadline:
            raise EngineError("web never finished its script")
        time.sleep(0.1)


# --------------------------------------------------------------------------- the fixture

# One engine for every module that uses the fixture: pytest would otherwise make a
# session-scoped fixture imported into several modules once per module.
_SHARED: dict[str, Any] = {}


def shared_scenario(config: pytest.Config) -> LegacyScenario:
    """Start the engine and build the scenario on first use; stopped when pytest ends."""
    from tests.conftest import skip_or_fail

    if "error" in _SHARED:
        pytest.fail(f"the legacy overlay scenario could not be built: {_SHARED['error']}")
    if "scenario" in _SHARED:
        scenario: LegacyScenario = _SHARED["scenario"]
        return scenario
    if "unavailable" not in _SHARED:
        _SHARED["unavailable"] = legacy_unavailable_reason()
    if _SHARED["unavailable"] is not None:
        skip_or_fail(_SHARED["unavailable"])
    eng = PrivateEngine(storage_driver=DRIVER)
    try:
        eng.start()  # cleans up after itself if it fails
    except EngineError as exc:  # e.g. a backing filesystem the driver refuses
        _SHARED["unavailable"] = f"dockerd would not start with --storage-driver={DRIVER}: {exc}"
        skip_or_fail(_SHARED["unavailable"])
    config.add_cleanup(eng.stop)
    try:
        built = build_scenario(eng)
        wait_for_web(eng)
    except Exception as exc:
        _SHARED["error"] = str(exc)
        raise
    _SHARED["scenario"] = LegacyScenario(
        engine=eng,
        images=built["images"],
        containers=built["containers"],
        steps=built["steps"],
    )
    return _SHARED["scenario"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def legacy_overlay(request: pytest.FixtureRequest) -> LegacyScenario:
    """The private engine on the legacy `overlay` driver, with the scenario built in it."""
    return shared_scenario(request.config)


# --------------------------------------------------------------------------- the capture

CAPTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "legacy-overlay"
ARCHIVE = CAPTURE_DIR / "root.tar.xz"
ANSWERS = CAPTURE_DIR / "answers.json"


@pytest.fixture(scope="module")
def legacy_captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CapturedRoot]:
    """The archive unpacked (xattrs, owners, device nodes and hard links kept)."""
    from tests.conftest import skip_or_fail

    if os.geteuid() != 0:
        skip_or_fail("not root: whiteout device nodes and trusted.* xattrs need root to unpack")
    if shutil.which("tar") is None:
        skip_or_fail("no GNU tar on PATH")
    if not ARCHIVE.is_file() or not ANSWERS.is_file():
        pytest.fail(
            f"{ARCHIVE} or {ANSWERS} is missing: run {CAPTURE_DIR}/capture.py", pytrace=False
        )
    dest = tmp_path_factory.mktemp("legacy-overlay-root")
    unpack_snapshot(ARCHIVE, dest)
    answers = json.loads(ANSWERS.read_text())
    try:
        yield CapturedRoot(path=dest, answers=answers, capture_data_root=Path(answers["data_root"]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
