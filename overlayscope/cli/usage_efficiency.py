"""`efficiency REF`: an image's efficiency as dive computes it, and dive's CI gate."""

from __future__ import annotations

import sys

from overlayscope.cli import usage_json
from overlayscope.cli.ansi import painter, write_line
from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import exit_code, unread_json, warn_unread
from overlayscope.cli.plain import short, size, write_json
from overlayscope.cli.progress import scan_progress
from overlayscope.cli.text_table import cell, table, write_table
from overlayscope.errors import ExitCode, UnknownReference
from overlayscope.names import plural, printable
from overlayscope.root.model import Container, Host, Image
from overlayscope.root.refs import describe, resolve
from overlayscope.union.host_stacks import build_stack
from overlayscope.usage import ci
from overlayscope.usage.efficiency import Efficiency, stack_efficiency


def cmd_efficiency(ctx: Context) -> int:
    args = ctx.args
    keys = (ci.LOWEST_EFFICIENCY, ci.HIGHEST_WASTED_BYTES, ci.HIGHEST_USER_WASTED_PERCENT)
    given: dict[str, str | None] = {key: getattr(args, key) for key in keys}
    if not args.ci and any(v is not None for v in given.values()):
        args._parser.error("the thresholds apply only with --ci")
    host = ctx.host()
    target = resolve(host, args.ref)
    image = _image(host, target)
    with scan_progress("reading the image's layers") as progress:
        stack = build_stack(host, image, progress=progress)
    eff = stack_efficiency(stack, image)
    # Every byte figure sums the layers' entries: a part that could not be read is missing.
    unread = stack.unread()
    if unread and not ctx.json:
        warn_unread(unread, "the figures leave out what lies there")
    verdict = None
    if args.ci:
        # an empty value disables a rule, as in dive: only an absent one takes the default
        chosen = (ci.DEFAULTS[k] if given[k] is None else given[k] for k in keys)
        limits = ci.Thresholds.parse(*(str(v) for v in chosen))
        verdict = ci.evaluate(eff, limits)
    if ctx.json:
        write_json(
            {
                **usage_json.efficiency(eff, verdict),
                "store": str(ctx.host().store),
                "problems": unread_json(unread),
            }
        )
    else:
        via = f", the image of {describe(target)}" if isinstance(target, Container) else ""
        _efficiency_report(eff, via, args.top)
        if verdict is not None:
            _verdict(verdict)
    if verdict is not None and not verdict.passed:
        return ExitCode.FINDINGS  # the gate comes first, even on partial evidence (docs/cli.md)
    return exit_code(ExitCode.OK, unread)


def _image(host: Host, target: Container | Image) -> Image:
    """The image to measure: `target`, or the image of a container."""
    if isinstance(target, Image):
        return target
    found = host.image_of(target)
    if found is None:
        raise UnknownReference(
            f"container {target.id[:12]} names image {target.image_id or target.image_ref}, "
            "which is not among the images",
            hint="run `overlayscope check` to see what is damaged",
        )
    return found


def _pct(ratio: float | None) -> str:
    return "inf" if ratio is None else f"{ratio * 100:.2f} %"


def _efficiency_report(e: Efficiency, what: str, top: int) -> None:
    label = ", ".join(e.tags) or "<none>"
    write_line(printable(f"Image {short(e.image)} ({label}){what}"), "bold")
    user = f"{_pct(e.user_wasted_percent)} of {size(e.user_size)} added above the base layer"
    hidden = f"{plural(e.hidden_bytes, 'byte')} ({size(e.hidden_bytes)}) that no container can see"
    rows = [
        ("efficiency", f"{e.score * 100:.4f} %"),
        ("wasted bytes", f"{plural(e.wasted_bytes, 'byte')} ({size(e.wasted_bytes)})"),
        ("user wasted", user),
        ("hidden bytes", hidden),
        ("image size", size(e.size)),
    ]
    write_table(table(None, ["", ""], rows, flexible=[""]))
    paths = e.paths[:top]
    write_line()
    if not paths:
        write_line("Inefficient files: none")
    else:
        rows2 = [(str(p.count), size(p.cumulative_size), cell(p.path)) for p in paths]
        title = f"Inefficient files ({len(paths)} of {len(e.paths)})"
        write_table(
            table(
                title,
                ["count", "wasted", "path"],
                rows2,
                right=["count", "wasted"],
                flexible=["path"],
            )
        )
    rows3 = [
        (
            str(i),
            short(layer.id),
            size(layer.size),
            size(layer.hidden_bytes),
            printable(_step(layer.created_by), backslash=False),  # its own \
        )
        for i, layer in enumerate(e.layers)
    ]
    write_line()
    write_table(
        table(
            "Layers (bottom first)",
            ["#", "layer", "size", "hidden", "created by"],
            rows3,
            right=["#", "size", "hidden"],
            flexible=["created by"],
        )
    )


def _step(created_by: str, width: int = 72) -> str:
    """A build step on one line, as dive shows it: no shell prefix, spaces collapsed."""
    step = " ".join(created_by.split()).removeprefix("/bin/sh -c ").removeprefix("#(nop) ")
    return step if len(step) <= width else step[: width - 1] + "…"


def _verdict(verdict: ci.Verdict) -> None:
    paint = painter(sys.stdout)
    write_line()
    write_line("CI rules", "bold")
    styles = {
        ci.RuleStatus.PASS: "green",
        ci.RuleStatus.FAIL: "bold red",
        ci.RuleStatus.DISABLED: "dim",
    }
    for r in verdict.rules:
        detail = r.message or f"threshold {r.threshold}"
        write_line(paint(f"  {r.status.upper():8} ", styles[r.status]) + f"{r.rule} ({detail})")
    write_line("PASS" if verdict.passed else "FAIL", "green" if verdict.passed else "bold red")
