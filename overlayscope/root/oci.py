"""What the OCI image spec defines, whatever store keeps it: chain ids, image config history.

Shared by every reader: Docker's layer store and containerd's snapshots are both keyed by
chain id, and an image config's `history` says which step made each layer.
"""

from __future__ import annotations

from typing import Any

from overlayscope.record import record
from overlayscope.root.problems import Problem, ProblemKind


def chain_id_of(parent: str | None, diff_id: str) -> str:
    """The chain id of a layer: its diff id for a base layer, else sha256("parent diffID")."""
    if parent is None:
        return diff_id
    from overlayscope.digest import sha256

    return "sha256:" + sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Chain ids of a rootfs, bottom → top."""
    out: list[str] = []
    parent: str | None = None
    for diff_id in diff_ids:
        parent = chain_id_of(parent, diff_id)
        out.append(parent)
    return out


@record
class HistoryEntry:
    """One step of an image's history; `empty_layer` steps made no layer."""

    created: str | None
    created_by: str
    comment: str
    empty_layer: bool


def parse_history(value: Any, path: str, problems: list[Problem]) -> tuple[HistoryEntry, ...]:
    """An image config's `history`, each wrongly typed entry a problem."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(Problem(ProblemKind.BAD_METADATA, path, "history is not a list"))
        return ()
    out = []
    for item in value:
        if not isinstance(item, dict):
            problems.append(
                Problem(ProblemKind.BAD_METADATA, path, "history entry is not an object")
            )
            continue
        wrong = [
            f"{key} ({type(item[key]).__name__})"
            for key, kind in (("created", str), ("created_by", str), ("comment", str),
                              ("empty_layer", bool))
            if item.get(key) is not None and not isinstance(item[key], kind)
        ]  # fmt: skip
        if wrong:
            problems.append(
                Problem(
                    ProblemKind.BAD_METADATA,
                    path,
                    "history entry wrongly typed, read as absent: " + ", ".join(wrong),
                )
            )
        out.append(
            HistoryEntry(
                created=_str_or_none(item.get("created")),
                created_by=_str_or_none(item.get("created_by")) or "",
                comment=_str_or_none(item.get("comment")) or "",
                empty_layer=item.get("empty_layer") is True,
            )
        )
    return tuple(out)


def layer_history(history: tuple[HistoryEntry, ...], layers: int) -> list[str]:
    """`created_by` for each of `layers` layers, bottom → top ('' when history is short)."""
    steps = [h.created_by for h in history if not h.empty_layer]
    steps += [""] * (layers - len(steps))
    return steps[:layers]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
