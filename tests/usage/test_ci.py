"""dive's CI thresholds: parsing as dive and go-humanize do, and the three rules' boundaries."""

from __future__ import annotations

import pytest

from overlayscope.record import replace
from overlayscope.usage import ci
from overlayscope.usage.efficiency import Efficiency


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("disabled", None), ("off", None), ("false", None), ("", None), (" Disabled ", None),
        ("1000", 1000), ("10 b", 10), ("1k", 1000), ("1kb", 1000), ("1 KB", 1000),
        ("1Ki", 1024), ("1 KiB", 1024), ("1.5MB", 1_500_000), ("2GiB", 2 * 1024**3),
        ("1,000", 1000), ("1,000 kB", 1_000_000), ("3 TB", 3 * 1000**4), ("0", 0),
    ],
)  # fmt: skip
def test_parse_bytes(text: str, value: int | None) -> None:
    assert ci.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["MB", "-1", "1 XB", "one", "1e30 EB"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="highestWastedBytes"):
        ci.parse_bytes(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.9", 0.9), ("0", 0.0), ("1", 1.0), ("off", None), (".25", 0.25)],
)
def test_parse_ratio(text: str, value: float | None) -> None:
    assert ci.parse_ratio(text, "lowestEfficiency") == value


@pytest.mark.parametrize("text", ["1.5", "-0.1", "ninety"])
def test_parse_ratio_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="lowestEfficiency"):
        ci.parse_ratio(text, "lowestEfficiency")


def test_dive_defaults() -> None:
    assert ci.Thresholds.parse() == ci.Thresholds(0.9, None, 0.1)


BASE = Efficiency(
    image="sha256:x", tags=(), score=0.9, wasted_bytes=1000, user_size=10_000,
    user_wasted_percent=0.1, hidden_bytes=0, size=None, layers=(), paths=(),
)  # fmt: skip


def _statuses(eff: Efficiency, limits: ci.Thresholds) -> list[str]:
    return [str(r.status) for r in ci.evaluate(eff, limits).rules]


def test_equal_to_the_threshold_passes() -> None:
    verdict = ci.evaluate(BASE, ci.Thresholds(0.9, 1000, 0.1))
    assert verdict.passed
    assert [r.rule for r in verdict.rules] == [
        "lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "limits", "want"),
    [
        (dict(score=0.8999), ci.Thresholds(0.9, None, None), ["fail", "disabled", "disabled"]),
        (dict(wasted_bytes=1001), ci.Thresholds(None, 1000, None),
         ["disabled", "fail", "disabled"]),
        (dict(user_wasted_percent=0.1001), ci.Thresholds(None, None, 0.1),
         ["disabled", "disabled", "fail"]),
        # waste with no user bytes: dive's ratio is +Inf, above any threshold
        (dict(user_wasted_percent=None), ci.Thresholds(None, None, 1.0),
         ["disabled", "disabled", "fail"]),
        (dict(), ci.Thresholds(None, None, None), ["disabled", "disabled", "disabled"]),
    ],
)  # fmt: skip
def test_each_rule_fails_just_above(
    change: dict[str, object], limits: ci.Thresholds, want: list[str]
) -> None:
    eff = replace(BASE, **change)  # type: ignore[arg-type]
    assert _statuses(eff, limits) == want
    assert ci.evaluate(eff, limits).passed == ("fail" not in want)
