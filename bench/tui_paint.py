"""The TUI's first paint and its background scan, timed in a real terminal (tmux).

    .venv/bin/python -m bench.tui_paint ROOT [--rounds 5] [--marker TEXT ...]

**Method.** A private tmux server (its own socket, no config) runs each round in a fresh
160x50 session. The pane first runs a placeholder, so that the program starts at its final
size; one tmux control-mode client (`tmux -C`: commands and answers over a pipe, no process
started per read; it leaves the window's size alone) is attached to the session; then the
pane is respawned with `overlayscope --root ROOT --offline --no-cache tui`, a fresh process
(no scan cache: the scan is the full one). The clock starts just before that respawn is
sent. From then on the screen is read with `capture-pane -p` every 10 ms, and every 50 ms
once the first paint is seen:

- **first frame**: the first read with any non-blank character: Python started, Textual is
  imported and drew its first frame (the header and a loading spinner);
- **first paint**: the first read showing every marker (by default the `Containers (` and
  `Images (` section titles; `python -m bench` gives the titles with their counts and every
  image tag of the synthetic root): the overview with its lists filled from the root's
  records, not a blank screen or a spinner;
- **scan finished**: the first read whose status line says the background measuring is
  done (`writable layers …, orphaned dirs …`, shown once the writable layers and then the
  whole root's disk usage are measured) and no longer says `scanning`.

A time is that of the read that first saw the text, so it is late by at most one gap
between reads: the interval (10 ms; 50 ms for the scan) plus one read, or more when the
benchmark itself waits for a CPU; the largest gap before the first paint is kept with each
round. Then `q` is sent, the program must exit 0 (within 30 s), and the session is killed;
the server is killed at the end. One untimed round first warms the page cache, as for the
other warm tables; medians are over the timed rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

if not __package__:  # run as `python bench/tui_paint.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WIDTH, HEIGHT = 160, 50
POLL = 0.010  # s between reads until the first paint
SCAN_POLL = 0.050  # s between reads after it
PAINT_TIMEOUT = 60.0
SCAN_TIMEOUT = 600.0
QUIT_TIMEOUT = 30.0
DEFAULT_MARKERS = ("Containers (", "Images (")
SCAN_DONE = ("writable layers ", "orphaned dirs ")
SCANNING = "scanning "
EXITED = "overlayscope exited with "
FAILED = "press q to quit"  # the app's error screen (the root could not be loaded)
DEAD = "Pane is dead (status "  # tmux's line (remain-on-exit); 3.3 shows no non-zero status


@dataclass(frozen=True)
class PaintSample:
    frame: float  # s to the first non-blank screen
    paint: float  # s to the first screen showing every marker
    scan: float | None  # s to "scan finished"; None when not seen within the timeout
    quit: float  # s from `q` to the program's exit
    gap: float  # s, the largest gap between two reads until the first paint


@dataclass
class PaintResult:
    """One root's rounds; medians of what was seen."""

    name: str
    samples: list[PaintSample] = field(default_factory=list)
    error: str | None = None
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def frame(self) -> float:
        return statistics.median(s.frame for s in self.samples)

    @property
    def paint(self) -> float:
        return statistics.median(s.paint for s in self.samples)

    @property
    def scan(self) -> float | None:
        seen = [s.scan for s in self.samples if s.scan is not None]
        return statistics.median(seen) if len(seen) == len(self.samples) and seen else None

    @property
    def quit(self) -> float:
        return statistics.median(s.quit for s in self.samples)

    @property
    def gap(self) -> float:
        return max(s.gap for s in self.samples)


class RoundFailed(RuntimeError):
    pass


class Control:
    """A tmux control-mode client attached to one session: one command, one answer."""

    def __init__(self, tmux: list[str], session: str) -> None:
        self.proc = subprocess.Popen(
            [*tmux, "-C", "attach-session", "-f", "no-output,ignore-size", "-t", session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[bytes] = self.proc.stdin
        self._out: IO[bytes] = self.proc.stdout

    def command(self, line: str) -> list[str]:
        """Run one tmux command; its output lines. Raises RoundFailed on %error."""
        self._in.write(line.encode() + b"\n")
        self._in.flush()
        block: list[str] | None = None
        mine = False
        while True:
            raw = self._out.readline()
            if not raw:
                raise RoundFailed(f"the tmux control client went away during {line!r}")
            text = raw.decode(errors="replace").rstrip("\n")
            if text.startswith("%begin "):
                block, mine = [], text.split()[-1] == "1"  # flags 1: a command of ours
            elif block is not None and text.startswith(("%end ", "%error ")):
                if mine:
                    if text.startswith("%error "):
                        raise RoundFailed(f"tmux: {line}: {' '.join(block)}")
                    return block
                block = None
            elif block is not None:
                block.append(text)
            # else: a notification (%session-changed, %exit…): not ours

    def screen(self) -> str:
        return "\n".join(self.command("capture-pane -p -t =bench:"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Terminal:
    """A private tmux server; `round()` runs the program once in a fresh session."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.tmux = ["tmux", "-L", f"overlayscope-bench-{os.getpid()}", "-f", "/dev/null"]
        self.env = dict(env) if env is not None else dict(os.environ)
        self.socket = ""

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            [*self.tmux, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env=self.env,  # the server (started by the first call) passes it to the panes
        )
        if proc.returncode != 0:
            raise RoundFailed(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start(self) -> None:
        """The server, kept up between rounds by an idle session, and its options."""
        self.run(
            "new-session", "-d", "-s", "idle", "-x", str(WIDTH), "-y", str(HEIGHT), "sleep 86400"
        )
        self.run("set-option", "-g", "remain-on-exit", "on")
        self.run("set-option", "-g", "status", "off")
        self.socket = self.run("display-message", "-p", "#{socket_path}").strip()

    def kill(self) -> None:
        """The server and its panes; and its socket, which tmux leaves behind."""
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, check=False, timeout=30)
        if self.socket:
            with contextlib.suppress(OSError):
                os.unlink(self.socket)

    def round(self, argv: Sequence[str], markers: Sequence[str]) -> PaintSample:
        self.run(
            "new-session", "-d", "-s", "bench", "-x", str(WIDTH), "-y", str(HEIGHT), "sleep 600"
        )
        control: Control | None = None
        try:
            control = Control(self.tmux, "bench")
            size = control.command("display-message -p -t =bench: '#{pane_width}x#{pane_height}'")
            if size != [f"{WIDTH}x{HEIGHT}"]:
                raise RoundFailed(f"the pane is {size}, not {WIDTH}x{HEIGHT}")
            # COLUMNS/LINES left by a shell would override the pane's size.
            line = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color", *argv])
            script = f'{line}; status=$?; echo "{EXITED}$status"; exit $status'
            respawn = f"respawn-pane -k -t =bench: {shlex.quote('sh -c ' + shlex.quote(script))}"
            start = time.perf_counter()
            control.command(respawn)
            frame, paint, gap = self._until_paint(control, start, markers)
            scan = self._until_scan(control, start)
            control.command("send-keys -t =bench: q")
            quit_start = time.perf_counter()
            status = self._until_exit(control)
            quitting = time.perf_counter() - quit_start
            if status != 0:
                raise RoundFailed(f"overlayscope exited with {status} after q")
            return PaintSample(frame, paint, scan, quitting, gap)
        finally:
            if control is not None:
                control.close()
            subprocess.run(
                [*self.tmux, "kill-session", "-t", "=bench"],
                capture_output=True,
                check=False,
                timeout=30,
            )

    def _until_paint(
        self, control: Control, start: float, markers: Sequence[str]
    ) -> tuple[float, float, float]:
        """Seconds to the first frame and to the first paint; the largest gap between reads."""
        frame: float | None = None
        tick = last = start
        gap = 0.0
        while True:
            now = time.perf_counter()
            gap, last = max(gap, now - last), now
            screen = control.screen()
            if frame is None and screen.strip():
                frame = now - start
            if all(m in screen for m in markers):
                return (frame if frame is not None else now - start), now - start, gap
            failed = FAILED in screen or EXITED in screen or DEAD in screen
            if failed or now - start > PAINT_TIMEOUT:
                what = "failed before showing" if failed else f"in {PAINT_TIMEOUT:.0f}s showed no"
                raise RoundFailed(f"overlayscope {what} {list(markers)}; the screen:\n{screen}")
            tick = _sleep_until(tick + POLL)

    def _until_scan(self, control: Control, start: float) -> float | None:
        tick = time.perf_counter()
        while True:
            now = time.perf_counter()
            screen = control.screen()
            if all(m in screen for m in SCAN_DONE) and SCANNING not in screen:
                return now - start
            if EXITED in screen or DEAD in screen:
                raise RoundFailed(f"overlayscope exited during its scan; the screen:\n{screen}")
            if now - start > SCAN_TIMEOUT:
                return None
            tick = _sleep_until(tick + SCAN_POLL)

    def _until_exit(self, control: Control) -> int:
        """The program's exit status: the wrapping shell prints it and exits with it."""
        deadline = time.perf_counter() + QUIT_TIMEOUT
        screen = ""
        while time.perf_counter() < deadline:
            screen = control.screen()
            # Its line may be cleared by the program's last frame; tmux's own then remains.
            for marker in (EXITED, DEAD):
                if marker in screen:
                    rest = screen.split(marker, 1)[1]
                    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
                    return int(digits) if digits else -1
            time.sleep(SCAN_POLL)
        raise RoundFailed(
            f"overlayscope still running {QUIT_TIMEOUT:.0f}s after q; the screen:\n{screen}"
        )


def _sleep_until(when: float) -> float:
    """Sleep until `when` (or not at all when late); the next tick, never in the past."""
    now = time.perf_counter()
    if when > now:
        time.sleep(when - now)
        return when
    return now


def measure_paint(
    name: str,
    argv: Sequence[str],
    rounds: int,
    *,
    markers: Sequence[str] = DEFAULT_MARKERS,
    env: Mapping[str, str] | None = None,
    warmup: bool = True,
    log: Callable[[str], None] = print,
) -> PaintResult:
    """`rounds` timed rounds of `argv` (after one untimed round with `warmup`)."""
    result = PaintResult(name, load_before=os.getloadavg()[0])
    terminal = Terminal(env)
    try:
        terminal.start()
        for r in range(-1 if warmup else 0, rounds):
            sample = terminal.round(argv, markers)
            if r >= 0:
                result.samples.append(sample)
                scan = f"{sample.scan:.2f}s" if sample.scan is not None else "not seen"
                log(
                    f"  round {r + 1}/{rounds}: first frame {sample.frame:.3f}s, first paint "
                    f"{sample.paint:.3f}s, scan finished {scan}, quit {sample.quit:.2f}s "
                    f"(largest gap between reads {sample.gap * 1000:.0f} ms)"
                )
    except (RoundFailed, OSError, subprocess.SubprocessError) as exc:
        result.error = str(exc)
        log(f"  {name}: {exc}")
    finally:
        terminal.kill()
    result.load_after = os.getloadavg()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tui_paint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", help="a Docker data root")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--marker",
        action="append",
        help="text the first paint must show (repeatable); default: "
        + ", ".join(repr(m) for m in DEFAULT_MARKERS),
    )
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "overlayscope.cli.main"]
    command += ["--root", args.root, "--offline", "--no-cache", "tui"]
    result = measure_paint(args.root, command, args.rounds, markers=args.marker or DEFAULT_MARKERS)
    if result.error is not None or not result.samples:
        return 1
    paints = [s.paint for s in result.samples]
    scan = f"{result.scan:.2f}" if result.scan is not None else "not seen"
    print(
        f"first frame {result.frame:.3f}s, first paint {result.paint:.3f}s "
        f"(min {min(paints):.3f}, max {max(paints):.3f}), scan finished {scan}s, "
        f"{len(paints)} rounds, reads at most {result.gap * 1000:.0f} ms apart; "
        f"load {result.load_before:.2f} → {result.load_after:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
