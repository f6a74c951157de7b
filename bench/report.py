"""Tables of results: aligned text for the terminal, Markdown for docs/performance.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.measure import Tool
from bench.tui_paint import PaintResult

PAINT_TARGET = 1.0  # s, issue #9: the TUI's first paint on the 1M-entry root


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        lines = [self.title]
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(self.columns, widths, strict=True))
            )
        )
        for row in self.rows:
            lines.append(
                "  ".join(
                    v.ljust(w) if i == 0 else v.rjust(w)
                    for i, (v, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        out = [f"**{self.title}**", ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {note}" for note in self.notes]
        return "\n".join(out)


def tool_table(title: str, tools: Sequence[Tool], notes: Sequence[str] = ()) -> Table:
    """Median wall, median CPU, peak RSS, and the wall ratio to each tool's `base`."""
    by_name = {t.name: t for t in tools}
    table = Table(title, ["tool", "wall s", "ratio", "CPU s", "peak RSS MB", "runs"])
    for t in tools:
        if t.error is not None or not t.samples:
            table.rows.append([t.name, "failed", "", "", "", "0"])
            table.notes.append(f"{t.name}: {t.error}")
            continue
        base = by_name.get(t.base) if t.base else None
        ratio = ""
        if base is not None and base.samples and base is not t:
            ratio = f"{t.wall / base.wall:.2f}x {base.name}"
        elif base is t:
            ratio = "1.00 (base)"
        table.rows.append(
            [
                t.name,
                f"{t.wall:.2f}",
                ratio,
                f"{t.cpu:.2f}",
                f"{t.maxrss / 1e6:.0f}",
                str(len(t.samples)),
            ]
        )
    table.notes += list(notes)
    return table


def paint_table(title: str, results: Sequence[PaintResult], notes: Sequence[str] = ()) -> Table:
    """Per root: median first frame and first paint (with min–max), scan finished, target."""
    table = Table(
        title,
        [
            "root",
            "first frame s",
            "first paint s (median)",
            "min–max s",
            "scan finished s",
            f"target < {PAINT_TARGET:g} s",
            "runs",
        ],
    )
    for r in results:
        if r.error is not None or not r.samples:
            table.rows.append([r.name, "failed", "failed", "", "", "", str(len(r.samples))])
            table.notes.append(f"{r.name}: {r.error}")
            continue
        paints = [s.paint for s in r.samples]
        table.rows.append(
            [
                r.name,
                f"{r.frame:.2f}",
                f"{r.paint:.2f}",
                f"{min(paints):.2f}–{max(paints):.2f}",
                f"{r.scan:.1f}" if r.scan is not None else "not seen",
                "met" if r.paint < PAINT_TARGET else "not met",
                str(len(r.samples)),
            ]
        )
        table.notes.append(
            f"{r.name}: reads at most {r.gap * 1000:.0f} ms apart before the first paint; "
            f"quit (q to exit) {r.quit:.2f} s; load average (1 min) before: "
            f"{r.load_before:.2f}, after: {r.load_after:.2f}"
        )
    table.notes += list(notes)
    return table


def ratios_table(
    title: str, tools: Sequence[Tool], bases: Sequence[str], notes: Sequence[str] = ()
) -> Table:
    """Median and best wall, median CPU, peak RSS, and the ratio of each row's best wall
    to each of `bases` (tools' names, all timed in the same rounds), one column a base.
    The best of N: on a shared machine other work only ever adds time to a run."""
    by_name = {t.name: t for t in tools}
    table = Table(
        title,
        ["tool", "wall s (median)", "wall s (best)", *(f"best ÷ {b}" for b in bases), "CPU s",
         "peak RSS MB", "runs"],
    )  # fmt: skip
    for t in tools:
        if t.error is not None or not t.samples:
            table.rows.append([t.name, "failed", "", *("" for _ in bases), "", "", "0"])
            table.notes.append(f"{t.name}: {t.error}")
            continue
        best = min(s.wall for s in t.samples)
        ratios = []
        for name in bases:
            base = by_name.get(name)
            if base is None or base is t or base.error is not None or not base.samples:
                ratios.append("")
            else:
                ratios.append(f"{best / min(s.wall for s in base.samples):.2f}x")
        table.rows.append(
            [t.name, f"{t.wall:.3f}", f"{best:.3f}", *ratios, f"{t.cpu:.3f}",
             f"{t.maxrss / 1e6:.0f}", str(len(t.samples))]
        )  # fmt: skip
    table.notes += list(notes)
    return table
