"""Packages that name their parts without importing them all: a command imports only what it
runs (the start-up budget in docs/performance.md), so `from overlayscope.union import X`
loads X's own module, not every module the package re-exports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: `where` maps each exported name to the submodule
    defining it; the first access imports that submodule and keeps the name in the package."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
