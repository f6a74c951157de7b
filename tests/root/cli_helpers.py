"""Run the CLI in-process and parse what it printed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overlayscope.cli.main import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """`overlayscope --json ARGS…` → (exit code, parsed stdout)."""
    capsys.readouterr()
    code = main(["--json", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def run_text(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
