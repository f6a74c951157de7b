#!/usr/bin/env python3
"""Render a Prometheus `query_range` answer as a small Markdown table (the README's Fleet
section shows one, made by tests/metrics/test_prometheus.py against its own Prometheus).

    python3 contrib/prometheus/demo.py --url http://127.0.0.1:9090 \\
        --query 'overlayscope_container_writable_bytes{container_id!="other"}' \\
        --label name --since 2m --step 10s

One row per step, one column per series (named by `--label`), values in bytes made
readable (KiB, MiB…) unless `--raw`. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(text: str) -> float:
    """`90`, `90s`, `5m`, `1h` → seconds."""
    unit = text[-1] if text[-1] in _UNITS else "s"
    return float(text.rstrip("smh")) * _UNITS[unit]


def query_range(url: str, query: str, start: float, end: float, step: float) -> list[Any]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query_range?{params}", timeout=30) as r:
        answer = json.load(r)
    if answer.get("status") != "success":
        raise SystemExit(f"demo: Prometheus answered {answer}")
    result: list[Any] = answer["data"]["result"]
    return result


def readable(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table(result: list[Any], label: str, raw: bool) -> str:
    """The series side by side, one row per timestamp."""
    columns = sorted(result, key=lambda s: s["metric"].get(label, ""))
    names = [s["metric"].get(label, "") or "(none)" for s in columns]
    stamps = sorted({float(t) for s in columns for t, _ in s["values"]})
    by_series = [{float(t): float(v) for t, v in s["values"]} for s in columns]
    lines = [
        "| time (UTC) | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for stamp in stamps:
        cells = []
        for values in by_series:
            v = values.get(stamp)
            cells.append("" if v is None else f"{v:.0f}" if raw else readable(v))
        when = time.strftime("%H:%M:%S", time.gmtime(stamp))
        lines.append(f"| {when} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="Prometheus, e.g. http://127.0.0.1:9090")
    parser.add_argument("--query", required=True, help="the PromQL expression")
    parser.add_argument("--label", default="name", help="the label naming each column")
    parser.add_argument("--since", default="2m", help="how far back (90s, 5m, 1h)")
    parser.add_argument("--end", type=float, default=None, help="Unix time of the last row")
    parser.add_argument("--step", default="10s", help="between rows (10s, 1m)")
    parser.add_argument("--raw", action="store_true", help="plain numbers, no units")
    args = parser.parse_args(argv)
    end = args.end if args.end is not None else time.time()
    result = query_range(args.url, args.query, end - seconds(args.since), end, seconds(args.step))
    print(f"`{args.query}`, every {args.step}:\n")
    print(table(result, args.label, args.raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
