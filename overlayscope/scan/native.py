"""The scanner's optional C helper (`_listdir.c`), or None where it is not built.

`setup.py` builds it when a C compiler and Python's headers are at hand; without
them the walker walks in Python, with the same results, about four times as slow
(docs/performance.md). `OVERLAYSCOPE_PURE_PYTHON=1` in the environment turns the helper off (the
tests use it to hold both walks to the same answers; worker processes inherit it).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

# the `xattr_mode` argument of `_listdir.Walk`
XATTRS_NONE, XATTRS_EMPTY_FILES, XATTRS_ALL = 0, 1, 2
# the `namespace` argument of `_listdir.Walk`: which overlay xattrs are metadata
NAMESPACE_CODES = {None: 0, "trusted": 1, "user": 2}


def _load() -> ModuleType | None:
    if os.environ.get("OVERLAYSCOPE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("overlayscope.scan._listdir")
    except ImportError:
        return None


listdir: ModuleType | None = _load()


def available() -> bool:
    """Is the C helper in use?"""
    return listdir is not None
