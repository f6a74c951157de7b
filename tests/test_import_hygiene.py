"""The core is a library: importing it must not load Textual or Rich."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import overlayscope
from tests.engine import CapturedRoot

CORE_PACKAGES = (
    "overlayscope.root",
    "overlayscope.scan",
    "overlayscope.union",
    "overlayscope.usage",
    "overlayscope.audit",
)
CORE_MODULES = ("overlayscope.errors", "overlayscope.names", "overlayscope.snapshot")


def _core_modules() -> list[str]:
    names = list(CORE_MODULES)
    for info in pkgutil.walk_packages(overlayscope.__path__, "overlayscope."):
        if info.name.startswith(CORE_PACKAGES):
            names.append(info.name)
    return sorted(names)


def test_core_modules_are_found() -> None:
    modules = _core_modules()
    assert "overlayscope.root.load" in modules
    assert "overlayscope.scan.entry" in modules


@pytest.mark.parametrize("module", _core_modules())
def test_core_module_does_not_import_presentation(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "top = {m.split('.')[0] for m in sys.modules}\n"
        "bad = sorted(top & {'textual', 'rich', 'humanize'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


# -- the CLI's start-up path ---------------------------------------------------------------

# Loaded by no start-up path: the TUI's, a daemon's, the exporter's libraries.
HEAVY = {"textual", "docker", "requests", "urllib3", "prometheus_client"}
# Nor by `--version` and `--help`, which read only cli/commands.py: no library, no command.
PRESENTATION = {"rich", "humanize"}


def _loaded_by(argv: list[str], env: dict[str, str] | None = None) -> tuple[set[str], set[str]]:
    """(top-level packages, overlayscope modules) imported by `main(argv)`, in a fresh
    interpreter; output and exit swallowed."""
    modules = _modules_loaded_by(argv, env)
    ours = {m for m in modules if m.startswith("overlayscope")}
    return {m.split(".")[0] for m in modules}, ours


def _modules_loaded_by(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Every module `main(argv)` leaves in sys.modules, in a fresh interpreter."""
    code = (
        "import io, sys\n"
        "from overlayscope.cli.main import main\n"
        "out, sys.stdout = sys.stdout, io.StringIO()\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = out\n"
        "print(','.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, check=True, timeout=120, env=env,
    )  # fmt: skip
    return set(result.stdout.strip().splitlines()[-1].split(","))


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_no_command(argv: list[str]) -> None:
    tops, ours = _loaded_by(argv)
    assert not tops & (HEAVY | PRESENTATION), sorted(tops & (HEAVY | PRESENTATION))
    # the command table and the parser alone: no reader, no scanner, no command module
    assert ours <= {
        "overlayscope",
        "overlayscope.cli",
        "overlayscope.cli.main",
        "overlayscope.cli.commands",
        "overlayscope.errors",
        "overlayscope.names",
    }, sorted(ours)
    assert "dataclasses" not in tops  # it loads inspect and ast: ~20 ms of nothing


def test_a_command_help_imports_its_own_module_only() -> None:
    tops, ours = _loaded_by(["containers", "--help"])
    assert not tops & HEAVY
    assert "overlayscope.cli.inventory" in ours
    others = {"files", "container", "forensics", "usage", "metrics", "history"}
    assert not {f"overlayscope.cli.{name}" for name in others} & ours, sorted(ours)
    assert not any(m.startswith(("overlayscope.tui", "overlayscope.audit")) for m in ours)


# the commands the benchmark times at start-up (bench/run.py), and others; each with its
# own module under overlayscope.cli
OFFLINE = [
    (["containers"], "inventory"),
    (["images", "--all"], "inventory"),
    (["history", "scope/app:1"], "history"),
    (["orphans"], "inventory"),
    (["check"], "inventory"),
    (["container", "web"], "container"),
    (["ls", "web", "/app"], "files"),
    (["df"], "usage"),
]
COMMAND_MODULES = {"inventory", "history", "files", "container", "usage", "forensics", "metrics"}


@pytest.mark.parametrize(("command", "module"), OFFLINE, ids=[" ".join(c) for c, _ in OFFLINE])
@pytest.mark.root
def test_an_offline_command_imports_no_tui_and_no_daemon_client(
    command: list[str], module: str, captured_root: CapturedRoot
) -> None:
    """Offline, on the captured root (a whole answer): the command runs without Textual,
    the docker SDK or prometheus_client, and no other command's module."""
    tops, ours = _loaded_by(["--offline", "--root", str(captured_root.path), *command])
    assert "overlayscope.root.load" in ours  # it did read the root
    assert not tops & HEAVY, sorted(tops & HEAVY)
    assert not any(m.startswith(("overlayscope.tui", "overlayscope.metrics")) for m in ours)
    others = {f"overlayscope.cli.{name}" for name in COMMAND_MODULES - {module}}
    assert f"overlayscope.cli.{module}" in ours
    assert not others & ours, sorted(others & ours)
    # the diff engine (union/diff.py) loads for the commands that diff, not for any
    # `overlayscope.union.*` import (overlayscope/lazy.py)
    assert ("overlayscope.union.diff" in ours) == (module in DIFFING), module


DIFFING = {"container"}


# JSON answers are written by cli/plain.py, a person's by cli/text_table.py and
# cli/change_tree.py (plain text with ANSI styles, cli/ansi.py): no answer loads Rich
# (~25 ms), which stays for progress bars and warnings on stderr, and for the TUI.
JSON_ANSWERS = [["container", "web"], ["df"], ["df", "--containers"]]
HUMAN_ANSWERS = [command for command, _ in OFFLINE] + [
    ["df", "--containers"],
    ["layers"],
    ["where", "web", "/app/bin/tool-link"],
    ["efficiency", "scope/app:1"],
]
# sizes are cli/plain.py's (no humanize); records are overlayscope.record's (no
# `dataclasses`, and with it `inspect` and `ast`)
NOT_LOADED = {"rich", "humanize", "dataclasses", "inspect"}


@pytest.mark.parametrize("command", JSON_ANSWERS, ids=" ".join)
@pytest.mark.root
def test_a_json_answer_loads_no_rich(command: list[str], captured_root: CapturedRoot) -> None:
    tops, ours = _loaded_by(["--offline", "--json", "--root", str(captured_root.path), *command])
    assert "overlayscope.root.load" in ours  # it did read the root
    assert not tops & NOT_LOADED, sorted(tops & NOT_LOADED)


@pytest.mark.parametrize("command", HUMAN_ANSWERS, ids=" ".join)
@pytest.mark.root
def test_a_human_answer_loads_no_rich(command: list[str], captured_root: CapturedRoot) -> None:
    """A person's answer (a table, a tree, lines) is plain text: no Rich at all."""
    tops, ours = _loaded_by(["--offline", "--root", str(captured_root.path), *command])
    assert "overlayscope.root.load" in ours  # it did read the root
    drawn = "overlayscope.cli.change_tree" if command[0] == "container" else "overlayscope.cli.ansi"
    assert drawn in ours  # it did write its answer
    assert not tops & NOT_LOADED, sorted(tops & NOT_LOADED)


@pytest.mark.parametrize(
    "command", [["containers"], ["images"], ["container", "web"]], ids=" ".join
)
@pytest.mark.root
def test_reading_a_docker_root_loads_no_openssl(
    command: list[str], captured_root: CapturedRoot
) -> None:
    """Image configs, chain ids and scan-cache files are small: summed by CPython's own
    SHA-256 (overlayscope/digest.py), not OpenSSL's (~2 ms to load)."""
    modules = _modules_loaded_by(["--offline", "--root", str(captured_root.path), *command])
    assert "overlayscope.root.docker.imagedb" in modules  # image configs were read
    assert not {"_hashlib", "hashlib"} & modules


@pytest.mark.parametrize("command", [["containers"], ["layers"]], ids=" ".join)
@pytest.mark.root
def test_a_small_host_starts_no_worker(command: list[str], captured_root: CapturedRoot) -> None:
    """Containers' small rw layers are walked by the command's own process: a worker
    would cost it ~15 ms to start and stop (scan/parallel.py, `eager`)."""
    modules = _modules_loaded_by(["--offline", "--root", str(captured_root.path), *command])
    assert "overlayscope.scan.parallel" in modules  # layers were scanned
    assert "overlayscope.scan.process" not in modules  # by this process alone


@pytest.mark.root
def test_no_daemon_to_ask_loads_no_docker_sdk(captured_root: CapturedRoot) -> None:
    """Without --offline, but with no DOCKER_HOST and no default socket, there is no daemon
    to ask: the SDK (and requests, urllib3) is never imported."""
    from overlayscope.root.docker.daemon import DEFAULT_SOCKET

    if os.path.lexists(DEFAULT_SOCKET):
        pytest.skip(f"{DEFAULT_SOCKET} exists here: a daemon may be asked")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    modules = _modules_loaded_by(["--root", str(captured_root.path), "container", "web"], env)
    assert "overlayscope.root.load" in modules
    tops = {m.split(".")[0] for m in modules}
    assert not tops & HEAVY, sorted(tops & HEAVY)
    assert "http.client" not in modules  # our own client speaks HTTP/1.1 (root/docker/http11.py)


@pytest.mark.root
@pytest.mark.parametrize("command", [["containers"], ["container", "web"], ["check"]])
def test_a_daemon_on_a_unix_socket_is_asked_without_the_sdk(
    command: list[str], captured_root: CapturedRoot, tmp_path: Path
) -> None:
    """A daemon that answers on a unix socket (the fake one of tests/hostile/daemon.py,
    with the engine's own replies) is asked through overlayscope's own client: neither
    the docker SDK nor requests nor urllib3 is imported."""
    from tests.hostile.daemon import fake_daemon, real_replies

    sock = tmp_path / "docker.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{sock}"
    with fake_daemon(sock, real_replies(captured_root, captured_root.path)) as daemon:
        tops, ours = _loaded_by(["--root", str(captured_root.path), *command], env)
    assert "info" in daemon.calls and "containers/json" in daemon.calls  # it was asked
    assert "overlayscope.root.docker.api" in ours
    assert not tops & HEAVY, sorted(tops & HEAVY)


@pytest.mark.root
def test_a_quick_command_loads_no_progress_bar(captured_root: CapturedRoot) -> None:
    """The bar shows only past a second, on a terminal: a command done before never
    imports Rich's progress machinery (rich.progress, rich.live)."""
    modules = _modules_loaded_by(["--offline", "--root", str(captured_root.path), "containers"])
    assert "overlayscope.cli.progress" in modules  # the bar was there to be shown
    assert not {"rich.progress", "rich.live"} & modules
