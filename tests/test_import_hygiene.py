"""The core is a library: importing it must not load Textual or Rich."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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


def _loaded_by(argv: list[str]) -> tuple[set[str], set[str]]:
    """(top-level packages, overlayscope modules) imported by `main(argv)`, in a fresh
    interpreter; output and exit swallowed."""
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
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    modules = set(result.stdout.strip().splitlines()[-1].split(","))
    ours = {m for m in modules if m.startswith("overlayscope")}
    return {m.split(".")[0] for m in modules}, ours


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
    others = {"files", "forensics", "usage", "metrics", "history"}
    assert not {f"overlayscope.cli.{name}" for name in others} & ours, sorted(ours)
    assert not any(m.startswith(("overlayscope.tui", "overlayscope.audit")) for m in ours)


@pytest.mark.parametrize(
    "command", [["containers"], ["images", "--all"], ["history", "scope/app:1"], ["orphans"]]
)
@pytest.mark.root
def test_an_offline_command_imports_no_tui_and_no_daemon_client(
    command: list[str], captured_root: CapturedRoot
) -> None:
    """Offline, on the captured root (a whole answer): the command runs without Textual,
    the docker SDK or prometheus_client, and no other command's module."""
    tops, ours = _loaded_by(["--offline", "--root", str(captured_root.path), *command])
    assert "overlayscope.root.load" in ours  # it did read the root
    assert not tops & HEAVY, sorted(tops & HEAVY)
    assert not any(m.startswith("overlayscope.tui") for m in ours)
    assert "overlayscope.cli.metrics" not in ours and "overlayscope.cli.files" not in ours
