"""Run the CLI on hostile evidence: in-process, in a subprocess, or on a pseudo-terminal.

Also the checks every run must pass: an exit code the command may give, no traceback,
at most one line on stderr for an error, and JSON of the documented shape (docs/json.md),
so a command never exits 0 with garbage.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overlayscope.cli.main import main
from overlayscope.root.problems import ProblemKind
from overlayscope.usage.df_model import Category

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
WIDE = "1000"  # COLUMNS: tables never fold an escape like \x1b across two lines

# What no human output may hold when it comes from evidence: C0 controls but \n,
# DEL, C1 controls (U+0080-U+009F, or the raw byte 0x9b that a terminal takes for CSI).
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f\x9b]|\xc2[\x80-\x9f]")
# Rich's own styling on a terminal: SGR sequences only, nothing else starts with ESC.
SGR = re.compile(rb"\x1b\[[0-9;]*m")

ROOT_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("containers",),
    ("images",),
    ("layers",),
    ("orphans",),
    ("check",),
    ("df", "--top", "50", "--containers"),
    ("audit", "--images", "--hash"),
    ("timeline", "--all", "--images"),
)


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: bytes
    err: bytes

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "surrogateescape")

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return (
            f"overlayscope {' '.join(self.args)} → exit {self.code}\n"
            f"stderr: {self.err.decode(errors='replace')[-2000:]}"
        )


def run_inproc(capsys: pytest.CaptureFixture[bytes], *args: str) -> Run:
    """`overlayscope ARGS` in this process (fast); `capsys` must be `capsysbinary`."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Run(tuple(args), int(code), out, err)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(PYTHONPATH=str(REPO), COLUMNS=WIDE, NO_COLOR="1", TERM="dumb")
    env.update(extra)
    return env


def run_sub(
    *args: str | bytes,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    prefix: Sequence[str] = (),
) -> Run:
    """`overlayscope ARGS` in a subprocess, stdout and stderr piped (not a terminal)."""
    argv = [*prefix, PYTHON, "-m", "overlayscope", *args]
    res = subprocess.run(
        argv, capture_output=True, env=env or cli_env(), timeout=timeout, check=False
    )
    shown = tuple(os.fsdecode(a) for a in args)
    return Run(shown, res.returncode, res.stdout, res.stderr)


def run_pty(
    *args: str | bytes,
    columns: int = 400,
    timeout: float = 120,
    env_extra: dict[str, str] | None = None,
) -> Run:
    """`overlayscope ARGS` with stdout on a pseudo-terminal (a colour terminal), stderr piped;
    `env_extra` added to its environment (which has no DOCKER_* of ours)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    for var in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(var, None)
    env.update(PYTHONPATH=str(REPO), TERM="xterm-256color", FORCE_COLOR="1")
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [PYTHON, "-m", "overlayscope", *args],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: the child closed its side
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read()
    code = proc.wait(timeout=30)
    # The terminal turns \n into \r\n: undo that to compare with the piped output.
    out = b"".join(chunks).replace(b"\r\n", b"\n")
    return Run(tuple(os.fsdecode(a) for a in args), code, out, err)


# -- what every run must satisfy ---------------------------------------------------------


def assert_answered(run: Run, allowed: set[int]) -> None:
    """An allowed exit code; no traceback; an error is exactly one line on stderr."""
    assert b"Traceback" not in run.err, str(run)
    assert b"internal error" not in run.err, str(run)
    assert run.code in allowed, str(run)
    if run.code == 3:
        lines = run.err.decode(errors="replace").strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("overlayscope: "), str(run)
        if "--json" in run.args:  # still one JSON document: the error (docs/json.md)
            assert set(run.json()) == {"error"} and run.json()["error"]["exit_code"] == 3, str(run)
        else:
            assert not run.out.strip(), str(run)


# The one control character the tool writes itself: the tab between a unified diff
# header's path and its label, which patch(1) reads (docs/hostile.md).
DIFF_HEADER_TAB = re.compile(rb"^((?:---|\+\+\+) [^\t\n]*)\t(\([^\t\n]*\))", re.M)


def assert_no_raw_control(data: bytes, what: str) -> None:
    data = DIFF_HEADER_TAB.sub(rb"\1 \2", data)
    m = RAW_CONTROL.search(data)
    assert m is None, f"{what}: raw control byte {m.group()!r} at {m.start()}: " + repr(
        data[max(0, m.start() - 60) : m.start() + 60]
    )


def assert_terminal_safe(data: bytes, what: str) -> None:
    """On a terminal: ESC only in Rich's SGR styling; no BEL, no OSC (hyperlinks, titles)."""
    stripped = SGR.sub(b"", data)
    assert_no_raw_control(stripped, what)


# -- JSON shapes (docs/json.md), to catch "exit 0 with garbage" ----------------------------

OPT_STR = (str, type(None))
OPT_INT = (int, type(None))
# The engines' own state words (Docker's; Podman's initialized, stopped, stopping) and
# unknown, where a store keeps no state (docs/json.md).
STATES = {
    "created", "running", "paused", "restarting", "removing", "exited", "dead",
    "initialized", "stopped", "stopping", "unknown",
}  # fmt: skip
PROBLEM_KINDS = {str(kind) for kind in ProblemKind} | {"audit-incomplete", "not-hashed"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _fields(obj: Any, spec: dict[str, Any], where: str) -> None:
    assert isinstance(obj, dict), f"{where}: {obj!r}"
    for key, types in spec.items():
        assert key in obj, f"{where}: no {key!r} in {sorted(obj)}"
        assert isinstance(obj[key], types), f"{where}.{key}: {obj[key]!r}"
        if types is int or types == OPT_INT:
            assert not isinstance(obj[key], bool), f"{where}.{key}: {obj[key]!r}"
            assert obj[key] is None or obj[key] >= 0, f"{where}.{key}: {obj[key]!r}"


def check_problem(p: Any, where: str) -> None:
    _fields(p, {"kind": str, "path": str, "detail": str}, where)
    assert p["kind"] in PROBLEM_KINDS, p
    assert p["detail"].strip(), p


def check_container(c: Any, where: str = "container") -> None:
    _fields(
        c,
        {"id": str, "name": str, "image": str, "state": str, "layer": OPT_STR,
         "init_layer": OPT_STR, "size": OPT_INT},
        where,
    )  # fmt: skip
    assert HEX64.match(c["id"]), c
    assert c["state"] in STATES, c


def check_image(i: Any, where: str = "image") -> None:
    _fields(
        i,
        {"id": str, "tags": list, "dangling": bool, "intermediate": bool, "layers": list,
         "size": OPT_INT, "shared_size": OPT_INT, "unique_size": OPT_INT, "containers": list},
        where,
    )  # fmt: skip
    assert DIGEST.match(i["id"]), i
    assert all(isinstance(t, str) for t in i["tags"]), i
    for layer in i["layers"]:
        _fields(
            layer,
            {"id": OPT_STR, "diff_id": str, "chain_id": str, "size": OPT_INT, "created_by": str},
            where + ".layers",
        )
        assert DIGEST.match(layer["diff_id"]) and DIGEST.match(layer["chain_id"]), layer


def check_layer(layer: Any, where: str = "layer") -> None:
    _fields(
        layer,
        {"id": str, "link": OPT_STR, "lower": list, "role": str, "owners": list,
         "size": OPT_INT, "problems": list},
        where,
    )  # fmt: skip
    assert layer["role"] in {"image", "rw", "init", "orphan", "unresolved"}, layer
    for p in layer["problems"]:
        check_problem(p, where + ".problems")


def check_json(command: str, doc: Any) -> None:
    """The documented shape of `command`'s JSON document, field types included."""
    if command == "containers":
        assert isinstance(doc, list)
        for c in doc:
            check_container(c)
    elif command == "images":
        assert isinstance(doc, list)
        for i in doc:
            check_image(i)
    elif command == "layers":
        assert isinstance(doc, list)
        for layer in doc:
            check_layer(layer)
    elif command == "orphans":
        assert isinstance(doc, list)
        for o in doc:
            _fields(o, {"id": str, "path": str, "size": OPT_INT}, "orphan")
    elif command == "check":
        _fields(doc, {"ok": bool, "problems": list}, "check")
        assert doc["ok"] is (not doc["problems"])
        for p in doc["problems"]:
            check_problem(p, "check.problems")
    elif command == "container":
        _fields(
            doc,
            {"id": str, "name": str, "image": str, "state": str, "layers": list,
             "changes": list, "totals": dict},
            "container",
        )  # fmt: skip
        for ch in doc["changes"]:
            _fields(ch, {"path": str, "kind": str, "entry": str, "size": int}, "change")
            assert ch["kind"] in {"A", "C", "D"} and ch["path"].startswith("/"), ch
    elif command == "where":
        _fields(doc, {"path": str, "visible": bool, "winner": OPT_STR, "stack": list}, "where")
    elif command == "ls":
        assert isinstance(doc, list)
        for e in doc:
            _fields(e, {"name": str, "path": str, "entry": str, "layer": str}, "ls")
            assert e["entry"] != "whiteout", e
    elif command == "cat":
        _fields(doc, {"path": str, "resolved": str, "symlinks": list, "data": str}, "cat")
    elif command == "diff":
        _fields(doc, {"path": str, "identical": bool, "binary": bool}, "diff")
    elif command == "df":
        _fields(
            doc,
            {"root": str, "total": dict, "categories": list, "images": list,
             "containers": list, "volumes": list, "layers": list, "top": list,
             "top_files": list, "scan_problems": list},
            "df",
        )  # fmt: skip
        assert [c["name"] for c in doc["categories"]] == [str(c) for c in Category]
    elif command == "efficiency":
        _fields(doc, {"image": str, "score": float, "wasted_bytes": int, "paths": list}, "eff")
        assert 0.0 <= doc["score"] <= 1.0
    elif command == "audit":
        _fields(
            doc,
            {"root": str, "summary": dict, "containers": list, "images": list,
             "layers": list, "orphans": list, "problems": list, "findings": list,
             "hashes": list},
            "audit",
        )  # fmt: skip
        for c in doc["containers"]:
            check_container(c, "audit.containers")
        for i in doc["images"]:
            check_image(i, "audit.images")
        for p in doc["problems"]:
            check_problem(p, "audit.problems")
    elif command == "timeline":
        _fields(doc, {"layers": list, "entries": list, "problems": list}, "timeline")
        for e in doc["entries"]:
            _fields(e, {"layer": str, "path": str, "type": str, "mode": int}, "timeline")
    else:  # pragma: no cover - a new command needs its shape here
        raise AssertionError(f"no JSON shape for {command}")


# -- peak memory ---------------------------------------------------------------------------

# Runs the CLI as its only child and reports that child's peak RSS: getrusage(RUSAGE_CHILDREN)
# in a fresh process, so nothing else this test session ran is counted. ru_maxrss is the
# largest single process (the CLI, or one of its scanner workers), in KiB on Linux.
_MEASURE = """
import resource, subprocess, sys, time
t = time.monotonic()
with open(sys.argv[1], "wb") as out:
    code = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
sys.stderr.buffer.write(code.stderr)
print(code.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
      time.monotonic() - t)
"""


@dataclass(frozen=True)
class Measured:
    args: tuple[str, ...]
    code: int
    err: bytes
    peak_rss: int  # bytes
    seconds: float
    out_path: Path

    def __str__(self) -> str:
        return (
            f"overlayscope {' '.join(a[:80] for a in self.args)} → exit {self.code}, "
            f"{self.peak_rss / 1e6:.0f} MB, {self.seconds:.1f} s\n"
            f"stderr: {self.err.decode(errors='replace')[-2000:]}"
        )


def run_measured(out_path: Path, *args: str, timeout: float = 600) -> Measured:
    """`overlayscope ARGS` with stdout to `out_path`; its exit code, peak RSS and duration."""
    res = subprocess.run(
        [PYTHON, "-c", _MEASURE, str(out_path), PYTHON, "-m", "overlayscope", *args],
        capture_output=True,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    code, rss_kib, seconds = res.stdout.split()
    return Measured(
        tuple(args), int(code), res.stderr, int(rss_kib) * 1024, float(seconds), out_path
    )


def streamed_items(path: Path) -> Iterator[Any]:
    """The items of a streamed JSON list (one a line, see cli/plain.py), without loading
    the whole document."""
    with path.open("rb") as f:
        for line in f:
            stripped = line.strip()
            item = stripped.rstrip(b",")
            if item.startswith(b"{") and item.endswith(b"}"):
                yield json.loads(item)
