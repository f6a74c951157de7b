"""overlayscope beside du, gdu and docker, in one go.

    .venv/bin/python -m bench [--sizes 100k,1m] [--rounds 5] [--cold] [--engine]
                              [--only SECTIONS] [--markdown FILE]

For each size, a synthetic data root (built once, cached under /var/tmp/overlayscope-bench,
checked with `overlayscope check`), then, alternating and repeated, on a warm page cache
(and with `--cold` after dropping it before every run): `du -s overlay2/`, `gdu -n -s`,
overlayscope's full scan (`df`: every inode of the root) without and with its scan cache,
and `layers`. Then the scan cache's first and second full scan, resident memory per
indexed entry, and the TUI's first paint and background scan in a real terminal (tmux:
`bench/tui_paint.py`). Then a containerd root of the same trees (`bench/synth_containerd.py`:
records by a real containerd, built once): its full scan beside `du -s` and `gdu` of that
root and the overlay2 root's full scan. With `--engine`, a private dockerd's root:
`overlayscope container` on a container with ~100k changes beside `docker diff`, `df`
beside `docker system df -v`.
Prints median wall, CPU (user+sys of the process tree) and peak RSS, and the ratios;
docs/performance.md explains the method and holds the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import Tool, can_drop_caches, run_once, run_rounds
from bench.report import Table, paint_table, ratios_table, tool_table
from bench.synth import CACHE_DIR, Manifest, parse_size, synthetic_root
from bench.tui_paint import PaintResult, measure_paint

OVERLAYSCOPE = [sys.executable, "-m", "overlayscope.cli.main"]
SECTIONS = ("warm", "cold", "cache", "memory", "tui", "containerd", "dockerd", "startup")
# on the overlay2 root
SYNTHETIC_SECTIONS = frozenset(SECTIONS) - {"containerd", "dockerd", "startup"}
SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "snapshot" / "dataroot.tar.xz"
# The overlayscope rows of the full-scan tables: (name, arguments).
FULL_SCAN = ("--no-cache", "--json", "df")
OVERLAY2_SCANS = (
    ("overlayscope df (full scan)", FULL_SCAN),
    ("overlayscope df (scan cache)", ("--json", "df")),
    ("overlayscope layers", ("--no-cache", "--json", "layers")),
)
OVERLAY2_NOTE = (
    "df reads every inode under the root (layers, records, logs), du and gdu only "
    "overlay2/; 'scan cache': image layers read from the scan cache, rw/init layers "
    "and the rest scanned; layers scans only rw and init layers (image layers' sizes "
    "are the layer store's)."
)
CONTAINERD_NOTE = (
    "root/ is the containerd root: df, du and gdu all read every inode under it (the "
    "snapshots' fs/ and work/ dirs, the metadata DBs, the content store's blobs); "
    "'overlay2 root': df of the synthetic overlay2 root whose trees the snapshots hold "
    "(bench/synth.py), in the same rounds, for comparison."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1m", help="entries per synthetic root")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each tool")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="also time with the page cache dropped")
    parser.add_argument("--engine", action="store_true", help="also time a private dockerd's root")
    parser.add_argument("--changes", type=int, default=100_000, help="container changes (--engine)")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    parser.add_argument("--only", default="", help="comma list of sections: " + ",".join(SECTIONS))
    args = parser.parse_args(argv)
    sections = set(args.only.split(",")) if args.only else set(SECTIONS)
    if sections - set(SECTIONS):
        parser.error(f"--only: unknown sections {','.join(sorted(sections - set(SECTIONS)))}")
    cold = args.cold
    if cold and not can_drop_caches():
        print("--cold: dropping the page cache needs root and a writable /proc/sys/vm: skipped")
        cold = False
    if not cold:
        sections.discard("cold")
    if "tui" in sections and shutil.which("tmux") is None:
        print("tui: timing the TUI's first paint needs tmux (apt-get install tmux): skipped")
        sections.discard("tui")
    precompile()
    bench = Bench(args.rounds)
    bench.tables.append(machine_table())
    memory = Table(
        "Resident memory per indexed entry (bytes)",
        ["root", "entries", "RSS growth", "Python heap", "columns only", "with lookup tables"],
    )
    paints: list[PaintResult] = []
    for size in args.sizes.split(","):
        if sections & SYNTHETIC_SECTIONS:
            manifest = synthetic_root(parse_size(size), args.seed)
            label = f"{size} ({manifest.total_entries:,} entries)"
            if not bench.check(manifest.root):
                return 1
            for when in ("warm", "cold"):
                if when in sections:
                    bench.scan_table(
                        f"Full scan, {label}",
                        os.path.join(manifest.root, "overlay2"),
                        "overlay2/",
                        [(name, manifest.root, args) for name, args in OVERLAY2_SCANS],
                        OVERLAY2_NOTE,
                        cold=when == "cold",
                    )
            if "cache" in sections:
                bench.cache_table(f"Scan cache, {label}: first and second full scan", manifest.root)
            if "memory" in sections:
                memory.rows.append([size, *memory_row(manifest.root)])
            if "tui" in sections:
                paints.append(bench.paint(f"{size} ({manifest.total_entries:,})", manifest))
        if "containerd" in sections:
            containerd = bench.containerd_root(size, args.seed)
            if containerd is None:
                sections.discard("containerd")  # no containerd here: said why, once
            elif not bench.check(containerd.root):
                return 1
            else:
                overlay2 = synthetic_root(parse_size(size), args.seed)  # cached: its source
                bench.containerd_tables(size, containerd, overlay2.root, cold=cold)
    if memory.rows:
        memory.notes.append(
            "RSS growth: of a process that scanned every layer (after a GC); Python heap: what "
            "tracemalloc counts still allocated; columns only: the arrays and blobs of the "
            "compact layout; with lookup tables: Python heap once path lookups were made "
            "(the sorted hashes of the listed dirs' paths)."
        )
        bench.tables.append(memory)
    if paints:
        bench.tables.append(
            paint_table(
                "TUI first paint, warm page cache (`overlayscope --offline --no-cache tui` "
                "in tmux, 160x50)",
                paints,
                [
                    "first frame: any text on screen (Textual up: header and spinner); first "
                    "paint: the overview with every container and image row, read from the "
                    "root's records; scan finished: the status line's end text, once the "
                    "background worker measured the writable layers and the whole root "
                    "(bench/tui_paint.py). Screen read every 10 ms (50 ms for the scan)."
                ],
            )
        )
    if "startup" in sections:
        bench.startup_table()
    if "dockerd" in sections:
        bench.dockerd_tables(args.seed, cold=cold)
    if args.engine:
        bench.engine_tables(args.changes)
    text = "\n\n".join(t.text() for t in bench.tables)
    print("\n" + text)
    if args.markdown:
        Path(args.markdown).write_text("\n\n".join(t.markdown() for t in bench.tables) + "\n")
        print(f"\nwrote {args.markdown}")
    return 0


def du_tools(path: str, label: str) -> list[Tool]:
    """`du -s` of `path` (named `du -s LABEL`), the base of the ratios, and `gdu` beside
    it when installed."""
    base = f"du -s {label}"
    tools = [Tool(base, ["du", "-s", path], base=base)]
    if shutil.which("gdu"):
        gdu = ["gdu", "-n", "-s", "-p", path]
        tools.append(Tool(f"gdu -n -s {label}", gdu, base=base))
    return tools


def find_docker_explorer() -> list[str] | str:
    """How to run docker-explorer's `de.py` (OVERLAYSCOPE_BENCH_DE, PATH, /opt/de-venv),
    or why it cannot run."""
    for candidate in (
        os.environ.get("OVERLAYSCOPE_BENCH_DE"),
        shutil.which("de.py"),
        "/opt/de-venv/bin/de.py",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate]
    return (
        "not installed (python3 -m venv /opt/de-venv && "
        "/opt/de-venv/bin/pip install docker-explorer)"
    )


def precompile() -> None:
    """Byte-compile overlayscope, as an installed package is: where the environment
    forbids writing .pyc at import (PYTHONDONTWRITEBYTECODE), every timed start
    would compile the whole package again (~80 ms a process, workers included)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "overlayscope"), quiet=1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_table() -> Table:
    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        except OSError:
            return "not installed"
        return out.strip().splitlines()[0] if out.strip() else "?"

    table = Table("Machine", ["what", "value"])
    table.rows += [
        ["CPUs", str(len(os.sched_getaffinity(0)))],
        ["kernel", platform.release()],
        ["python", platform.python_version()],
        ["filesystem of /var/tmp", _fstype("/var/tmp")],
        ["du", version(["du", "--version"])],
        ["gdu", version(["gdu", "--version"]) if shutil.which("gdu") else "not installed"],
        ["docker", version(["docker", "--version"]) if shutil.which("docker") else "none"],
        [
            "containerd",
            version(["containerd", "--version"]) if shutil.which("containerd") else "none",
        ],
        ["load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())],
        ["date", time.strftime("%Y-%m-%d %H:%M")],
    ]
    return table


def _fstype(path: str) -> str:
    best, kind = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if path.startswith(parts[1]) and len(parts[1]) >= len(best):
                best, kind = parts[1], parts[2]
    return kind


def memory_row(root: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", root], capture_output=True, text=True, check=True
    ).stdout
    m = json.loads(out)
    return [
        f"{m['entries']:,}",
        f"{m['rss_per_entry']:.0f}",
        f"{m['traced_per_entry']:.0f}",
        f"{m['columns_per_entry']:.0f}",
        f"{m['with_lookups_per_entry']:.0f}",
    ]


class Bench:
    """The tables so far, and how to make more."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.tables: list[Table] = []
        self.cache_home = CACHE_DIR / "xdg-cache"  # the benchmark's own scan cache
        self.env = {**os.environ, "XDG_CACHE_HOME": str(self.cache_home)}

    def os_cmd(self, root: str, *args: str) -> list[str]:
        return [*OVERLAYSCOPE, "--root", root, "--offline", *args]

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache_home, ignore_errors=True)

    def check(self, root: str) -> bool:
        """`overlayscope check` must find no problem in a synthetic root."""
        proc = subprocess.run(
            self.os_cmd(root, "--json", "check"),
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        )
        result = json.loads(proc.stdout) if proc.stdout else {}
        if proc.returncode != 0 or not result.get("ok"):
            log(f"overlayscope check found problems in {root}:\n{proc.stdout}{proc.stderr}")
            return False
        log(f"overlayscope check {root}: OK, no problems")
        return True

    def _rounds(self, title: str, tools: list[Tool], cold: bool) -> None:
        log(f"{title}: {self.rounds} rounds")
        load = os.getloadavg()[0]
        run_rounds(tools, self.rounds, cold=cold, log=log)
        self.tables.append(
            tool_table(
                title,
                tools,
                [
                    f"load average (1 min) before: {load:.2f}, after: "
                    f"{os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs"
                ],
            )
        )

    def scan_table(
        self,
        title: str,
        du_path: str,
        du_label: str,
        commands: Sequence[tuple[str, str, Sequence[str]]],
        note: str,
        *,
        cold: bool,
    ) -> None:
        """`du -s` (the base of the ratios) and `gdu` of `du_path`, beside overlayscope's
        `commands` (name, root, arguments); the table is `title`, warm or cold."""
        tools = du_tools(du_path, du_label)
        tools += [
            Tool(name, self.os_cmd(root, *args), env=self.env, base=tools[0].name)
            for name, root, args in commands
        ]
        cached = dict.fromkeys(root for _, root, args in commands if "--no-cache" not in args)
        for root in cached if cold else ():  # the scan cache filled before the rounds
            run_once(self.os_cmd(root, "--json", "df"), self.env)
        self._rounds(f"{title}, {'cold' if cold else 'warm'} page cache", tools, cold)
        self.tables[-1].notes.append(note)

    def containerd_root(self, size: str, seed: int) -> Manifest | None:
        """The cached containerd root of `size` entries (built first if needed); None,
        having said why, when there is none and none can be built here."""
        try:  # the harness lives in tests/ and needs containerd's test extras
            from bench.synth_containerd import containerd_root
            from tests.engine import EngineUnavailable
        except ImportError as exc:
            reason = f"cannot import the containerd harness: {exc}"
        else:
            try:
                return containerd_root(parse_size(size), seed, log=log)
            except EngineUnavailable as exc:
                reason = str(exc)
        print(f"containerd: no containerd root can be built here ({reason}): skipped")
        self.tables.append(
            Table("containerd root", ["what", "value"], [["containerd", f"skipped: {reason}"]])
        )
        return None

    def containerd_tables(
        self, size: str, manifest: Manifest, overlay2_root: str, *, cold: bool
    ) -> None:
        """The full scan of a containerd root beside du and gdu, and beside that of the
        overlay2 root holding the same trees; warm (and `cold`)."""
        commands = [
            ("overlayscope df (full scan)", manifest.root, FULL_SCAN),
            ("overlayscope df (full scan), overlay2 root", overlay2_root, FULL_SCAN),
        ]
        for when in (False, True) if cold else (False,):
            self.scan_table(
                f"Full scan, containerd root, {size} ({manifest.total_entries:,} entries)",
                manifest.root,
                "root/",
                commands,
                CONTAINERD_NOTE,
                cold=when,
            )

    def cache_table(self, title: str, root: str) -> None:
        first = Tool(
            "df, scan cache empty",
            self.os_cmd(root, "--json", "df"),
            env=self.env,
            base="df, scan cache empty",
            before=self.clear_cache,
        )
        second = Tool(
            "df, scan cache filled",
            self.os_cmd(root, "--json", "df"),
            env=self.env,
            base="df, scan cache empty",
        )
        log(f"{title}: {self.rounds} rounds")
        load = os.getloadavg()[0]
        run_once(first.argv, self.env)  # page cache warm
        for r in range(self.rounds):
            run_rounds([first, second], 1, warmup=False, log=lambda _: None)
            log(
                f"  round {r + 1}/{self.rounds}: first {first.samples[-1].wall:.2f}s, "
                f"second {second.samples[-1].wall:.2f}s"
            )
        size = sum(f.stat().st_size for f in self.cache_home.rglob("*.scan"))
        table = tool_table(
            title,
            [first, second],
            [
                f"second / first: {second.wall / first.wall:.3f} "
                f"({first.wall / second.wall:.1f}x faster); cache on disk: {size / 1e6:.0f} MB",
                f"load average (1 min) before: {load:.2f}, after: {os.getloadavg()[0]:.2f}",
            ],
        )
        self.tables.append(table)

    def paint(self, name: str, manifest: Manifest) -> PaintResult:
        """The TUI on `manifest`'s root: first frame, first paint, scan finished (tmux)."""
        markers = [
            f"Containers ({len(manifest.containers)})",
            f"Images ({len(manifest.images)})",
            *(cid[:12] for cid in manifest.containers.values()),  # the container rows
            *manifest.images,  # the image rows, by tag
        ]
        log(f"TUI first paint, {name}: {self.rounds} rounds")
        return measure_paint(
            name,
            self.os_cmd(manifest.root, "--no-cache", "tui"),
            self.rounds,
            markers=markers,
            env=self.env,
            log=log,
        )

    def startup_table(self) -> None:
        """What a command costs before it does anything, as ratios from one run (issue #16):
        `overlayscope --version` beside `python3 -c pass` (target <= 3x); `containers` and
        `container web` on the captured snapshot beside docker-explorer's `list
        all_containers` of the same unpacked root (target <= 2x) and beside `docker diff` of
        a small container on a private dockerd (target <= 3x), with `container` of that
        container too. Every row in the same alternating rounds."""
        from bench.engine_case import small_case
        from overlayscope.snapshot import unpack

        script = Path(sys.executable).parent / "overlayscope"
        entry = [str(script)] if script.exists() else OVERLAYSCOPE
        # one unpacked copy, read by both tools (an archive --root would also hash it each run)
        root = unpack(str(SNAPSHOT), self.cache_home / "overlayscope" / "snapshots").root
        snap = [*entry, "--offline", "--root", root]
        # the interpreter itself: `python3` on PATH may be a shim (pyenv's is a shell script)
        python3 = os.path.realpath(sys.executable)
        de = find_docker_explorer()
        pass_, de_name, diff_name = "python3 -c pass", "docker-explorer list all_containers", ""
        tools = [
            Tool(pass_, [python3, "-c", "pass"], env=self.env),
            Tool("overlayscope --version", [*entry, "--version"], env=self.env),
            Tool("overlayscope --help", [*entry, "--help"], env=self.env),
        ]
        notes = [
            f"snapshot: {SNAPSHOT.relative_to(SNAPSHOT.parents[2])} unpacked once to {root}; "
            "overlayscope with --offline and its scan cache (filled by the warm-up run)",
            f"python3: {python3}, the interpreter overlayscope runs on, without its venv",
        ]
        if isinstance(de, str):
            notes.append(f"{de_name}: not run: {de}")
        else:
            tools.append(Tool(de_name, [*de, "-r", root, "list", "all_containers"], env=self.env))
        tools += [
            Tool("overlayscope containers (snapshot)", [*snap, "containers"], env=self.env),
            Tool(
                "overlayscope container web (snapshot)", [*snap, "container", "web"], env=self.env
            ),
        ]
        with small_case(log) as case:
            if isinstance(case, str):
                notes.append(f"docker diff: no private dockerd here ({case}): not run")
            else:
                env = {**case.engine.env, "XDG_CACHE_HOME": str(self.cache_home)}
                diff_name = f"docker diff {case.container} ({case.changes} changes, live engine)"
                tools += [
                    Tool(diff_name, ["docker", "diff", case.container], env=env),
                    Tool(
                        f"overlayscope container {case.container} (that engine, its daemon asked)",
                        [*entry, "--root", case.root, "container", case.container],
                        env=env,
                    ),
                    Tool(
                        f"overlayscope --offline container {case.container} (that engine's root)",
                        [*entry, "--offline", "--root", case.root, "container", case.container],
                        env=env,
                    ),
                ]
                notes.append(
                    "asked: DOCKER_HOST names the private dockerd; overlayscope reads the disk "
                    "and asks the daemon for every container and image, "
                    "--offline reads the disk alone"
                )
            bases = [pass_] + ([de_name] if not isinstance(de, str) else [])
            bases += [diff_name] if diff_name else []
            load = os.getloadavg()
            log(f"start-up: {self.rounds} rounds")
            run_rounds(tools, self.rounds, log=log)
        after = os.getloadavg()
        notes.append(
            "load average (1, 5, 15 min) before: "
            + " ".join(f"{x:.2f}" for x in load)
            + ", after: "
            + " ".join(f"{x:.2f}" for x in after)
            + f", on {os.cpu_count()} CPUs"
        )
        self.tables.append(
            ratios_table(
                "Start-up: what a command costs before its work (targets: --version <= 3x "
                "python3 -c pass; containers, container <= 2x docker-explorer, <= 3x docker diff)",
                tools,
                bases,
                notes,
            )
        )

    def dockerd_tables(self, seed: int, *, cold: bool) -> None:
        """A real engine's root (bench/engine_root.py), served by a private dockerd: df,
        layers, container, efficiency beside du, gdu, docker and dive; warm (and cold)."""
        from bench import real_root
        from bench.engine_root import served_root

        manifest = real_root.real_root(seed, log)
        if isinstance(manifest, str):
            print(f"dockerd: no private dockerd's root can be built here ({manifest}): skipped")
            self.tables.append(real_root.skipped(manifest))
            return
        with served_root(manifest, log) as engine:
            for when in (False, True) if cold else (False,):
                tools = real_root.tools(manifest, engine.env)
                kind = "cold" if when else "warm"
                self._rounds(f"{real_root.title(manifest)}, {kind} page cache", tools, when)
                self.tables[-1].notes.append(real_root.NOTE)
                if real_root.find_dive() is None:
                    self.tables[-1].notes.append(real_root.missing_dive_note())

    def engine_tables(self, changes: int) -> None:
        from bench.engine_case import engine_case

        with engine_case(changes, log) as case:
            if case is None:
                self.tables.append(
                    Table(
                        "Private engine",
                        ["what", "value"],
                        [["engine", "unavailable (see the log)"]],
                    )
                )
                return
            env = {**case.engine.env, "XDG_CACHE_HOME": str(self.cache_home)}
            root, name = case.root, case.container
            diff = Tool("docker diff", ["docker", "diff", name], env=env, base="docker diff")
            tools = [
                diff,
                Tool(
                    "overlayscope container --json",
                    self.os_cmd(root, "--no-cache", "--json", "container", name),
                    env=env,
                    base="docker diff",
                ),
                Tool(
                    "overlayscope container --json (scan cache)",
                    self.os_cmd(root, "--json", "container", name),
                    env=env,
                    base="docker diff",
                ),
                Tool(
                    "overlayscope container (tree)",
                    self.os_cmd(root, "--no-cache", "container", name),
                    env=env,
                    base="docker diff",
                ),
            ]
            self._rounds(
                f"One container, {case.changes:,} changes (private dockerd)", tools, cold=False
            )
            tools = [
                *du_tools(os.path.join(root, "overlay2"), "overlay2/"),
                Tool(
                    "docker system df -v",
                    ["docker", "system", "df", "-v"],
                    env=env,
                    base="du -s overlay2/",
                ),
                Tool(
                    "overlayscope df (full scan)",
                    self.os_cmd(root, "--no-cache", "--json", "df"),
                    env=env,
                    base="du -s overlay2/",
                ),
                Tool(
                    "overlayscope df (scan cache)",
                    self.os_cmd(root, "--json", "df"),
                    env=env,
                    base="du -s overlay2/",
                ),
            ]
            self._rounds("The private dockerd's data root", tools, cold=False)


if __name__ == "__main__":
    raise SystemExit(main())
