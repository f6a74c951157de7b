"""podman's own answers, parsed: `podman diff` (JSON or text) and the `podman system df -v`
table, and podman's rendering of a size (go-units)."""

from __future__ import annotations

import json
import re

# podman diff's JSON keys -> the one-letter kinds of its text output (and of `docker diff`).
DIFF_KINDS = {"added": "A", "changed": "C", "deleted": "D"}


def parse_diff(output: str) -> list[dict[str, str]]:
    """`podman diff` output (JSON, or the `K /path` text of older podman) as sorted
    [{"kind": "A"|"C"|"D", "path": ...}]."""
    changes: list[dict[str, str]] = []
    text = output.strip()
    if text.startswith("{"):
        doc = json.loads(text)
        for key, kind in DIFF_KINDS.items():
            changes += [{"kind": kind, "path": p} for p in doc.get(key) or []]
    else:
        for line in text.splitlines():
            kind, _, path = line.partition(" ")
            if kind in ("A", "C", "D") and path:
                changes.append({"kind": kind, "path": path})
    return sorted(changes, key=lambda c: (c["path"], c["kind"]))


def human_size(size: int) -> str:
    """podman's rendering of a byte count (go-units HumanSize: decimal units, 4 significant
    digits), e.g. 2131135 -> "2.131MB", 10740 -> "10.74kB", 0 -> "0B"."""
    value, unit = float(size), 0
    while value >= 1000 and unit < len(_HUMAN_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.4g}{_HUMAN_UNITS[unit]}"


_HUMAN_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def parse_system_df_v(output: str) -> dict[str, list[dict[str, str]]]:
    """`podman system df -v` text -> {"Images": [row...], "Containers": [...], "Volumes": [...]}.

    Each row maps the column header to its cell. Columns are found from the header line: cells
    start where header words start (podman pads with a tabwriter, two spaces minimum).
    """
    sections: dict[str, list[dict[str, str]]] = {}
    names = {"Images": "Images", "Containers": "Containers", "Local Volumes": "Volumes"}
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        title = lines[i].removesuffix(" space usage:").strip()
        if title in names and lines[i].endswith("space usage:"):
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            header = lines[i] if i < len(lines) else ""
            starts = [m.start() for m in re.finditer(r"(?:(?<=  )|^)\S", header)]
            columns = [
                header[s : (starts[j + 1] if j + 1 < len(starts) else None)].strip()
                for j, s in enumerate(starts)
            ]
            rows = []
            i += 1
            while i < len(lines) and lines[i].strip():
                line = lines[i]
                cells = [
                    line[s : (starts[j + 1] if j + 1 < len(starts) else None)].strip()
                    for j, s in enumerate(starts)
                ]
                rows.append(dict(zip(columns, cells, strict=True)))
                i += 1
            sections[names[title]] = rows
        else:
            i += 1
    return sections
