"""dive's CI gate on an `Efficiency`: three rules, their thresholds, pass or fail.

As dive (`ci/rules.go`, `options/ci_rules.go`): `lowestEfficiency` fails when
the threshold is above the score (default 0.9); `highestWastedBytes` fails
when wasted bytes are above it (default disabled; sizes as go-humanize parses
them: "20MB", "1.5 GiB", "1,000"); `highestUserWastedPercent` fails when the
user wasted ratio is above it (default 0.1). Ratios lie in 0..1. A rule set to
"disabled", "off", "false" or "" is skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from overlayscope.record import record

if TYPE_CHECKING:  # `parse_bytes` is the CLI's for other commands: no scan machinery for it
    from overlayscope.usage.efficiency import Efficiency

LOWEST_EFFICIENCY = "lowestEfficiency"
HIGHEST_WASTED_BYTES = "highestWastedBytes"
HIGHEST_USER_WASTED_PERCENT = "highestUserWastedPercent"
DEFAULTS = {LOWEST_EFFICIENCY: "0.9", HIGHEST_WASTED_BYTES: "disabled",
            HIGHEST_USER_WASTED_PERCENT: "0.1"}  # fmt: skip

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
    "p": 1000**5, "pb": 1000**5, "pi": 1024**5, "pib": 1024**5,
    "e": 1000**6, "eb": 1000**6, "ei": 1024**6, "eib": 1024**6,
}  # fmt: skip
_NUMBER = re.compile(r"[0-9.,]*")


class RuleStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    DISABLED = "disabled"


@record
class RuleResult:
    rule: str  # dive's key: lowestEfficiency, highestWastedBytes, highestUserWastedPercent
    threshold: float | None  # None when disabled
    status: RuleStatus
    message: str


@record
class Verdict:
    passed: bool
    rules: tuple[RuleResult, ...]


def is_disabled(value: str) -> bool:
    return value.strip().lower() in ("", "disabled", "off", "false")


def parse_ratio(value: str, rule: str) -> float | None:
    """A 0..1 threshold, or None when disabled; ValueError with the reason otherwise."""
    if is_disabled(value):
        return None
    try:
        ratio = float(value)
    except ValueError:
        raise ValueError(f"invalid {rule} value {value!r}: not a number") from None
    if not 0 <= ratio <= 1:
        raise ValueError(f"{rule} value {value!r} is outside the allowed range 0-1")
    return ratio


def parse_bytes(value: str, rule: str = HIGHEST_WASTED_BYTES) -> int | None:
    """A byte count as go-humanize's ParseBytes reads it, or None when disabled."""
    if is_disabled(value):
        return None
    digits = _NUMBER.match(value)
    number = digits.group(0) if digits else ""
    unit = value[len(number) :].strip().lower()
    try:
        amount = float(number.replace(",", ""))
    except ValueError:
        raise ValueError(f"invalid {rule} value {value!r}: no number") from None
    if unit not in _UNITS:
        raise ValueError(f"invalid {rule} value {value!r}: unknown unit {unit!r}")
    total = amount * _UNITS[unit]
    if not math.isfinite(total) or total >= 2**64:
        raise ValueError(f"invalid {rule} value {value!r}: too large")
    return int(total)


@record
class Thresholds:
    lowest_efficiency: float | None = 0.9
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = 0.1

    @classmethod
    def parse(
        cls,
        lowest_efficiency: str = DEFAULTS[LOWEST_EFFICIENCY],
        highest_wasted_bytes: str = DEFAULTS[HIGHEST_WASTED_BYTES],
        highest_user_wasted_percent: str = DEFAULTS[HIGHEST_USER_WASTED_PERCENT],
    ) -> Thresholds:
        """From dive's strings; ValueError naming the first bad one."""
        return cls(
            parse_ratio(lowest_efficiency, LOWEST_EFFICIENCY),
            parse_bytes(highest_wasted_bytes),
            parse_ratio(highest_user_wasted_percent, HIGHEST_USER_WASTED_PERCENT),
        )


def evaluate(eff: Efficiency, limits: Thresholds) -> Verdict:
    """Apply dive's three rules to `eff`."""
    results = (
        _rule(
            LOWEST_EFFICIENCY,
            limits.lowest_efficiency,
            lambda t: t > eff.score,
            lambda t: f"image efficiency is too low (efficiency={eff.score:.4f} < threshold={t})",
        ),
        _rule(
            HIGHEST_WASTED_BYTES,
            limits.highest_wasted_bytes,
            lambda t: eff.wasted_bytes > t,
            lambda t: f"too many bytes wasted (wasted-bytes={eff.wasted_bytes} > threshold={t})",
        ),
        _rule(
            HIGHEST_USER_WASTED_PERCENT,
            limits.highest_user_wasted_percent,
            # no user bytes but some waste: dive's ratio is +Inf, above any threshold
            lambda t: eff.user_wasted_percent is None or eff.user_wasted_percent > t,
            lambda t: (
                "too many bytes wasted, relative to the user bytes added "
                f"(user-wasted-percent={_show(eff.user_wasted_percent)} > threshold={t})"
            ),
        ),
    )
    return Verdict(all(r.status is not RuleStatus.FAIL for r in results), results)


def _show(ratio: float | None) -> str:
    return "inf" if ratio is None else f"{ratio:.4f}"


def _rule(
    name: str,
    threshold: float | None,
    fails: Callable[[float], bool],
    message: Callable[[float], str],
) -> RuleResult:
    if threshold is None:
        return RuleResult(name, None, RuleStatus.DISABLED, "rule disabled")
    if fails(threshold):
        return RuleResult(name, threshold, RuleStatus.FAIL, message(threshold))
    return RuleResult(name, threshold, RuleStatus.PASS, "")
