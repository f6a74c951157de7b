"""Hypothesis profiles and markers for the hostile-evidence suite.

Profiles (applied per test through `fuzz_settings()`, never loaded globally, so the
other suites keep their own settings):

- `hostile-ci` (the default): a modest number of examples, the whole fuzz suite under
  a minute on a 2-core machine.
- `hostile-long`: selected when `OVERLAYSCOPE_FUZZ_EXAMPLES=N` is set; N examples per
  fuzz test, for soaking (`OVERLAYSCOPE_FUZZ_EXAMPLES=5000 pytest tests/hostile -k fuzz`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.engine import PrivateEngine
from tests.hostile.scenario import HostileRoot, hostile_root, remove

CI_EXAMPLES = 40

settings.register_profile(
    "hostile-ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.register_profile(
    "hostile-long",
    parent=settings.get_profile("hostile-ci"),
    max_examples=int(os.environ.get("OVERLAYSCOPE_FUZZ_EXAMPLES") or CI_EXAMPLES),
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: a limit test that takes tens of seconds (still run in CI); "
        "deselect with -m 'not slow'",
    )


@pytest.fixture(scope="session")
def hostile(
    engine: PrivateEngine, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileRoot]:
    """A copy of the engine's data root with the hostile image, container and records
    (tests/hostile/scenario.py)."""
    dest = tmp_path_factory.mktemp("hostile") / "root"
    built = hostile_root(engine, base_image, dest)
    try:
        yield built
    finally:
        remove(dest)


@pytest.fixture(scope="module", autouse=True)
def _private_scan_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each module gets its own scan cache (scan/cache.py keeps image-layer scans in
    $XDG_CACHE_HOME): no test here reads a scan another run left, or leaves one behind."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
