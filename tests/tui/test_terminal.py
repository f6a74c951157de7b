"""End to end in a real terminal: the installed command in a detached tmux, driven by keys.

A private tmux server (its own socket, no user config) runs `python -m
overlayscope --offline --root <captured root>` at 120x40; the test waits for
the overview, opens a container, reads the screen with `capture-pane`, filters
it, opens and closes every dir, jumps to a path, quits with `q` and checks the
process exited 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import CapturedRoot

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 120, 40
EXITED = "overlayscope exited with "
DEAD = "Pane is dead (status "


class Tmux:
    """One detached session on a private server; the pane stays after the program exits."""

    def __init__(self) -> None:
        self.socket = f"overlayscope-test-{os.getpid()}"

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=30).stdout

    def start(self, command: list[str]) -> None:
        # A placeholder first, the program only once the pane has its size: a program
        # started with the session may see the 80x24 the pane has before it is resized.
        self.run("new-session", "-d", "-s", "e2e", "-x", str(WIDTH), "-y", str(HEIGHT), "sleep 600")
        self.run("set-option", "-g", "remain-on-exit", "on")
        self.run("set-option", "-g", "status", "off")
        assert self.pane("#{pane_width}x#{pane_height}") == f"{WIDTH}x{HEIGHT}"
        line = " ".join(_quote(arg) for arg in command)
        # tmux 3.3 leaves #{pane_dead_status} empty for a non-zero exit: print the status,
        # and exit with it (tmux then shows it as "Pane is dead (status N").
        script = f'{line}; status=$?; echo "{EXITED}$status"; exit $status'
        self.run("respawn-pane", "-k", "-t", "e2e", f"sh -c {_quote(script)}")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "e2e", *keys)

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "e2e", fmt).strip()

    def wait_for(self, *texts: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts} never appeared; the screen:\n{screen}")

    def wait_exit(self, timeout: float = 20) -> int:
        """The program's exit status: the wrapping shell prints it, and exits with it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            for marker in (EXITED, DEAD):
                if marker in screen:
                    return int(re.split(r"\D", screen.split(marker, 1)[1], maxsplit=1)[0])
            time.sleep(0.2)
        raise AssertionError(f"still running; the screen:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text not in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never went; the screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=30
        )
        # tmux leaves its socket file behind when the server exits
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(tmpdir, f"tmux-{os.getuid()}", self.socket))


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    session = Tmux()
    try:
        yield session
    finally:
        session.kill()


def test_open_a_container_in_a_real_terminal(tmux: Tmux, captured_root: CapturedRoot) -> None:
    tmux.start(
        [
            "env",
            # The size comes from the pane; COLUMNS/LINES left by a shell would override it.
            "-u",
            "COLUMNS",
            "-u",
            "LINES",
            f"PYTHONPATH={REPO}",
            "TERM=xterm-256color",
            sys.executable,
            "-m",
            "overlayscope",
            "--offline",
            "--root",
            str(captured_root.path),
        ]
    )
    # The overview, once the writable layers are measured.
    tmux.wait_for(
        "Containers (4)", "writable layers", "store      Docker, docker-overlay2", "scope/app:1"
    )
    tmux.keys("Down", "Down", "Down", "Enter")  # fresh, stopped, tool-exited, web
    tmux.wait_for("container  web", "22 changes")
    tmux.keys("Enter")  # expand /app
    screen = tmux.wait_for("C app/", "conf/", "tmpdir/", "A srv/", "copy-up (same bytes)")
    assert "opaque" in screen and "\x1b" not in screen
    # A filter reveals its match: the dirs that hold it open, the count said.
    tmux.keys("/")
    tmux.keys("-l", "site.css")
    tmux.keys("Enter")
    screen = tmux.wait_for("site.css", "1 match", "www/", "static/")
    assert "C app/" not in screen
    tmux.keys("Escape")  # clears the filter; the cursor stays on the match
    tmux.wait_for("C app/", "A srv/", "site.css")
    tmux.wait_gone("1 match")
    # ctrl+space closes every open dir, and again opens them all.
    tmux.keys("C-Space")
    tmux.wait_gone("site.css")
    tmux.wait_for("C app/", "A srv/")
    tmux.keys("C-Space")
    tmux.wait_for("app.conf", "site.css")
    # `:` jumps to a path the container did not change: the merged view shows it.
    tmux.keys(":")
    tmux.keys("-l", "bin/sh")  # after the "/" the bar starts with
    tmux.keys("Enter")
    tmux.wait_for("merged view", "/bin/sh", "wins")
    tmux.keys("q")
    assert tmux.wait_exit() == 0
