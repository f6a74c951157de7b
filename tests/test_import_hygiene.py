"""The core is a library: importing it must not load Textual or Rich."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import overlayscope

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
