"""A command imports only what it runs: prometheus_client for `metrics` and `serve` alone,
Textual never for them; the figures are measured without any presentation library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PRESENTATION = ("textual", "rich", "humanize", "prometheus_client")


def _loaded_after(code: str) -> set[str]:
    probe = (
        f"import sys\n{code}\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(PRESENTATION)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return set(filter(None, last.split(",")))


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("overlayscope.metrics.figures", set()),
        ("overlayscope.metrics.filesystems", set()),
        ("overlayscope.metrics.priority", set()),
        ("overlayscope.metrics.textfile", set()),
        ("overlayscope.metrics.families", {"prometheus_client"}),
        ("overlayscope.metrics.exporter", {"prometheus_client"}),
        ("overlayscope.metrics.server", {"prometheus_client"}),
    ],
)
def test_metrics_modules_load_no_ui(module: str, allowed: set[str]) -> None:
    assert _loaded_after(f"import {module}") == allowed


def test_other_commands_never_load_prometheus_client(tmp_path: Path) -> None:
    code = (
        "from overlayscope.cli.main import main\n"
        f"main(['--offline', '--root', {str(tmp_path)!r}, 'containers'])"
    )
    assert "prometheus_client" not in _loaded_after(code)


def test_metrics_never_loads_textual(tmp_path: Path) -> None:
    code = (
        "from overlayscope.cli.main import main\n"
        f"main(['--offline', '--root', {str(tmp_path)!r}, 'metrics'])"  # exits 3: not a root
    )
    loaded = _loaded_after(code)
    assert "prometheus_client" in loaded and "textual" not in loaded
