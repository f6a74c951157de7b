"""A real engine's data root for the benchmark: built once by a private dockerd, kept under
/var/tmp/overlayscope-bench/, and served again by a private dockerd on every run.

Everything here is the engine's own work: the images are built with the classic builder
(`docker build`, no network) on a busybox base, the files written by `RUN` steps inside
the build containers, each layer committed and applied by dockerd into `overlay2/<id>/diff`;
the containers are made with `docker run`. So the layout is what a host has: the order in
which the kernel handed out inodes as the engine applied each layer, its `link`, `lower`
and `l/` records, the layerdb, the image configs and history.

- `bench/base:1`: busybox (imported, as tests/engine.py does: no registry is reachable).
- `bench/big:1`: one `RUN` adds ~281,000 small files in 1,400 dirs of 150-250 files
  (28 packages of 50 dirs), sizes drawn from an exponential distribution of mean ~3 KB
  (3% empty); the issue's "biggest image layer" (#17).
- `bench/app:1`, on `bench/big:1`: rewrites every file of 10 dirs (copies in a later
  layer: dive's waste), deletes 10 dirs (whiteouts), remakes one as an opaque dir, and
  adds a node_modules-like tree of ~40,000 entries in ~5,000 small dirs.
- `bench/tool:1`, on busybox: 300 files each with a hard link.
- containers: `svc` (`bench/app:1`, running, `--restart=always`, 300 files in its rw
  layer), `changed` (`bench/big:1`, exited: 4,000 files touched (copy-ups), 1,000 chmod-ed
  (copy-ups of unchanged bytes), 10 dirs deleted, 40,000 files added), `once` (`bench/tool:1`,
  exited, no changes).

The data root is built where it stays (the containers' records hold absolute paths under
it), and its `manifest.json` is written last: a root without one is half built and is
built again. A run starts a private dockerd on the cached root (its own socket, exec
root and state in a temporary dir), starts `svc` if it is not running, and stops it all
at the end (`served_root`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.synth import CACHE_DIR, Manifest
from tests.engine import EngineUnavailable, PrivateEngine, engine_unavailable_reason, mounts_under

VERSION = 1  # bump when what is built changes: a cached root of another version is rebuilt
BASE, BIG, APP, TOOL = "bench/base:1", "bench/big:1", "bench/app:1", "bench/tool:1"
RUNNING, CHANGED, ONCE = "svc", "changed", "once"
_MEAN = 3000  # bytes: the mean file size of the big layer
_QUANTILES = 512  # of the exponential distribution, drawn from uniformly by awk

# busybox awk here has no math (no log): sizes come from a quantile table of the
# exponential distribution. Each file: a name from words and extensions, `size` bytes.
_AWK_COMMON = r"""
function words() {
  nw = split("util core index config types helpers parser render stream client server "\
    "schema model view store cache events errors format locale plugin module test spec "\
    "base common loader worker queue", W, " ")
  ne = split("py js json txt h so md yml css html pyc map", E, " ")
}
function content() { blk = "0123456789abcdef"; while (length(blk) < 262144) blk = blk blk }
function put(path, size) { printf "%s", substr(blk, 1, size) > path; close(path) }
function mkdirs(list, n,   i, cmd) {
  cmd = "mkdir -p"
  for (i = 1; i <= n; i++) {
    cmd = cmd " " list[i]
    if (length(cmd) > 60000 || i == n) { system(cmd); cmd = "mkdir -p" }
  }
}
function fname(f) {
  return sprintf("%s_%03d.%s", W[1 + int(rand() * nw)], f, E[1 + int(rand() * ne)])
}
function fsize() { return rand() < 0.03 ? 0 : Q[1 + int(rand() * nq)] }
"""

_AWK_BIG = r"""
BEGIN {
  srand(SEED); words(); content(); nq = split(QUANT, Q, " ")
  for (d = 0; d < 1400; d++) D[d + 1] = sprintf("/usr/lib/bench/pkg%02d/mod%04d", int(d / 50), d)
  mkdirs(D, 1400)
  for (d = 1; d <= 1400; d++) {
    n = 150 + int(rand() * 101)
    for (f = 0; f < n; f++) put(D[d] "/" fname(f), fsize())
  }
}
"""

_AWK_APP = r"""
BEGIN {
  srand(SEED + 1); words(); content(); nq = split(QUANT, Q, " ")
  # rewrite every file of 10 dirs: the old copies stay in the layer below
  for (d = 0; d < 10; d++) {
    dir = sprintf("/usr/lib/bench/pkg00/mod%04d", d)
    while ((("ls " dir) | getline name) > 0) put(dir "/" name, fsize())
    close("ls " dir)
  }
  # delete 10 dirs (whiteouts); remake one (an opaque dir)
  system("rm -rf /usr/lib/bench/pkg01/mod005[0-9]")
  system("mkdir /usr/lib/bench/pkg01/mod0050")
  for (f = 0; f < 50; f++) put("/usr/lib/bench/pkg01/mod0050/" fname(f), fsize())
  # a node_modules-like tree: 1,250 packages of lib/, lib/internal/, test/, ~32 entries each
  for (p = 0; p < 1250; p++) {
    base = sprintf("/app/node_modules/%s-%s%d", W[1 + p % nw], W[1 + int(p / nw) % nw], p)
    P[++np] = base "/lib/internal"; P[++np] = base "/test"
  }
  mkdirs(P, np)
  for (k = 1; k <= np; k += 2) {
    base = substr(P[k], 1, length(P[k]) - 13)
    put(base "/package.json", 400 + int(rand() * 800)); put(base "/README.md", fsize())
    for (f = 0; f < 12; f++) put(base "/lib/" fname(f), fsize())
    for (f = 0; f < 8; f++) put(base "/lib/internal/" fname(f), fsize())
    for (f = 0; f < 6; f++) put(base "/test/" fname(f), fsize())
  }
}
"""

_DOCKERFILE_TOOL = f"""FROM {BASE}
RUN mkdir -p /opt/tool && cd /opt/tool && i=0; while [ $i -lt 300 ]; do \
    echo "tool $i" > f$i; ln f$i h$i; i=$((i+1)); done
"""

_SVC_CMD = (
    "mkdir -p /run/svc; i=0; while [ $i -lt 300 ]; do echo $i > /run/svc/f$i; i=$((i+1)); done; "
    "exec sleep 100000000"
)
_CHANGED_CMD = (
    "set -e; cd /usr/lib/bench/pkg03; "
    "for d in $(seq 150 169); do touch mod0$d/*; done; "  # 20 dirs: copy-ups
    "for d in $(seq 170 174); do chmod 600 mod0$d/*; done; "  # 5 dirs: same bytes, new mode
    "cd /usr/lib/bench/pkg04; rm -rf mod020[0-9]; "  # 10 dirs deleted
    "mkdir -p /data/new; cd /data/new; "
    "for d in $(seq 1 200); do mkdir x$d; (cd x$d && seq 1 200 | sed s/^/item/ | xargs touch); "
    "done"
)


def _quantiles() -> str:
    """The exponential distribution's quantiles, mean `_MEAN` bytes, capped at 256 KiB."""
    return " ".join(
        str(min(262144, int(-_MEAN * math.log(1 - (i + 0.5) / _QUANTILES))))
        for i in range(_QUANTILES)
    )


def _awk_run(program: str, seed: int) -> str:
    """A Dockerfile `RUN` (exec form: no shell quoting) of busybox awk running `program`."""
    argv = ["awk", "-v", f"SEED={seed}", "-v", f"QUANT={_quantiles()}", _AWK_COMMON + program]
    return "RUN " + json.dumps(argv)


class ServedEngine(PrivateEngine):
    """A private dockerd whose data root is a given dir (kept), not one in its temporary dir.

    Its socket, exec root, pid file and logs are in its own temporary dir, as
    `PrivateEngine`'s; `stop()` keeps the data root and its containers.
    """

    def __init__(self, data_root: Path) -> None:
        super().__init__(base_dir=CACHE_DIR, stop_timeout=60.0)
        self._data_root = data_root

    @property
    def data_root(self) -> Path:
        return self._data_root

    def stop(self, keep: bool = True) -> None:
        """Stop dockerd (running containers are killed, and kept), then remove its
        temporary dir; the data root stays, with nothing mounted in it."""
        tmp = self.tmp_dir
        super().stop(keep=True)
        for m in mounts_under(self._data_root):  # the running container's, should dockerd not
            subprocess.run(["umount", "-l", str(m.mount_point)], check=False)
        if mounts_under(self._data_root):
            raise RuntimeError(f"still mounted under {self._data_root}")
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            self.tmp_dir = None


def engine_root(seed: int = 1, *, log: Callable[[str], None] = print) -> Manifest:
    """The cached data root (built first if needed). Its manifest's `layers` maps each
    overlay2 dir to its `name`, `role` and `entries`; `images` tag → image id; `containers`
    name → id. Raises EngineUnavailable (with the reason) when it must be built and no
    private dockerd can run here."""
    home = CACHE_DIR / f"dockerd-v{VERSION}-s{seed}"
    manifest_path = home / "manifest.json"
    if manifest_path.is_file():
        return Manifest.load(manifest_path)
    reason = engine_unavailable_reason()
    if reason is not None:
        raise EngineUnavailable(reason)
    if home.exists():  # a half-built root: nothing may stay mounted before it goes
        if mounts_under(home):
            raise RuntimeError(f"{home} is half built and has mounts: unmount, then remove it")
        shutil.rmtree(home)
    home.mkdir(mode=0o755, parents=True)
    log(f"building a private dockerd's root in {home} (once; cached)")
    start = time.monotonic()
    engine = ServedEngine(home / "root")
    try:
        engine.start()
        manifest = _build(engine, seed, log)
    except BaseException:
        with contextlib.suppress(Exception):
            engine.stop()
        raise
    engine.stop()
    manifest.root = str(home / "root")
    manifest.layers = _layer_facts(home / "root", manifest)
    manifest.build_seconds = round(time.monotonic() - start, 1)
    manifest.save(manifest_path)
    log(f"built {manifest.total_entries:,} entries in {manifest.build_seconds:.0f}s")
    return manifest


def _build(engine: ServedEngine, seed: int, log: Callable[[str], None]) -> Manifest:
    manifest = Manifest(entries=0, seed=seed, root=str(engine.data_root))
    ids = manifest.images
    ids[BASE] = engine.import_base(BASE)
    log(f"  {BIG}: ~281,000 files in 1,400 dirs ...")
    ids[BIG] = engine.build(BIG, f"FROM {BASE}\n{_awk_run(_AWK_BIG, seed)}\n")
    log(f"  {APP}: rewrites, deletions, an opaque dir, a node_modules tree ...")
    ids[APP] = engine.build(APP, f"FROM {BIG}\n{_awk_run(_AWK_APP, seed)}\n")
    ids[TOOL] = engine.build(TOOL, _DOCKERFILE_TOOL)
    log(f"  containers: {RUNNING} (running), {CHANGED} (exited, ~45,000 changes), {ONCE}")
    box = manifest.containers
    box[RUNNING] = engine.run(APP, ["sh", "-c", _SVC_CMD], name=RUNNING,
                              extra=["--restart=always"])  # fmt: skip
    engine.run(BIG, ["sh", "-c", _CHANGED_CMD], name=CHANGED, detach=False)
    engine.run(TOOL, ["true"], name=ONCE, detach=False)
    for name in (CHANGED, ONCE):
        box[name] = engine.inspect(name)[0]["Id"]
    changes = engine.docker("diff", CHANGED).count("\n")
    log(f"  docker diff {CHANGED}: {changes:,} changes")
    return manifest


def _layer_facts(root: Path, manifest: Manifest) -> dict[str, dict[str, object]]:
    """Each overlay2 dir's entries (its `diff/` tree, the root included), and what it is."""
    names: dict[str, tuple[str, str]] = {}
    layerdb = root / "image/overlay2/layerdb"
    for chain in (layerdb / "sha256").iterdir():
        names[(chain / "cache-id").read_text().strip()] = (chain.name[:12], "image")
    for mount in (layerdb / "mounts").iterdir():
        owner = next((n for n, cid in manifest.containers.items() if cid == mount.name), "?")
        mount_id = (mount / "mount-id").read_text().strip()
        names[mount_id] = (owner, "rw")
        names[mount_id + "-init"] = (owner, "init")
    facts: dict[str, dict[str, object]] = {}
    for layer_id, (name, role) in names.items():
        diff = root / "overlay2" / layer_id / "diff"
        count = 1 + sum(len(dirs) + len(files) for _, dirs, files in os.walk(diff))
        facts[layer_id] = {"name": name, "role": role, "entries": count}
    return facts


@contextlib.contextmanager
def served_root(manifest: Manifest, log: Callable[[str], None] = print) -> Iterator[ServedEngine]:
    """A private dockerd serving the cached root, `svc` running; stopped afterwards."""
    engine = ServedEngine(Path(manifest.root))
    engine.start()
    try:
        state = engine.inspect(RUNNING)[0]["State"]
        if not state.get("Running"):
            engine.docker("start", RUNNING)
        log(f"private dockerd on {manifest.root}: {RUNNING} running")
        yield engine
    finally:
        engine.stop()
