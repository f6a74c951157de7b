"""The hypothesis settings of the fuzz tests: `hostile-ci`, or `hostile-long` on demand."""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = "hostile-long" if os.environ.get("OVERLAYSCOPE_FUZZ_EXAMPLES") else "hostile-ci"


def fuzz_settings(scale: float = 1.0) -> settings:
    """The active profile, with `scale` × its examples (cheap tests run more of them)."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=max(1, int(base.max_examples * scale)))
