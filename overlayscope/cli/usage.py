"""Where the disk went: `df` (the data root by category); `efficiency` is registered here too."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from overlayscope.cli import usage_json
from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import warning_lines
from overlayscope.cli.plain import short, write_json
from overlayscope.cli.progress import scan_progress
from overlayscope.errors import ExitCode
from overlayscope.names import printable
from overlayscope.usage import ci
from overlayscope.usage.df import DiskUsage, disk_usage


def register(sub: Any) -> None:
    """Add `df` and `efficiency` to the argparse sub-parsers."""
    df: argparse.ArgumentParser = sub.add_parser(
        "df",
        help="the data root by category (images, containers, orphans, logs, volumes...): "
        "apparent, allocated and reclaimable bytes, and the top consumers",
    )
    df.add_argument("--top", type=_count, default=10, metavar="N", help="list N (default 10)")
    df.add_argument(
        "--containers",
        action="store_true",
        help="also find each container's copy-ups (bytes copied up, and those with the "
        "same bytes: copied only for a metadata change) and largest additions; reads "
        "every layer",
    )
    df.set_defaults(func=cmd_df)

    eff: argparse.ArgumentParser = sub.add_parser(
        "efficiency",
        help="an image's efficiency as dive computes it; with --ci, exit 1 when a "
        "threshold is exceeded",
    )
    eff.add_argument("ref", metavar="REF", help="image (tag, id, prefix) or container")
    eff.add_argument("--top", type=_count, default=10, metavar="N", help="paths shown (human)")
    eff.add_argument("--ci", action="store_true", help="apply dive's CI rules; exit 1 on failure")
    for flags, key, what in (
        (("--lowest-efficiency", "--lowestEfficiency"), ci.LOWEST_EFFICIENCY, "lowest score"),
        (("--highest-wasted-bytes", "--highestWastedBytes"), ci.HIGHEST_WASTED_BYTES,
         "most wasted bytes ('20MB', '1.5GiB')"),
        (("--highest-user-wasted-percent", "--highestUserWastedPercent"),
         ci.HIGHEST_USER_WASTED_PERCENT, "highest wasted/user-bytes ratio"),
    ):  # fmt: skip
        eff.add_argument(
            *flags,
            dest=key,
            metavar="X",
            type=_threshold(key),
            default=None,
            help=f"with --ci: {what}, 0..1 for ratios, or 'disabled' "
            f"(dive's default: {ci.DEFAULTS[key]})",
        )
    eff.set_defaults(func=_efficiency, _parser=eff)


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _threshold(key: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            if key == ci.HIGHEST_WASTED_BYTES:
                ci.parse_bytes(value, key)
            else:
                ci.parse_ratio(value, key)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    check.__name__ = key  # argparse names the type in its error message
    return check


# -- df ------------------------------------------------------------------------


def cmd_df(ctx: Context) -> int:
    host = ctx.host()
    top = ctx.args.top
    with scan_progress("measuring the data root") as progress:
        du = disk_usage(host, top=top, copy_ups=ctx.args.containers, progress=progress)
    # A layer whose content could not be read leaves the answer short: exit 4 (docs/cli.md).
    code = ExitCode.INCOMPLETE if du.unread_layers else ExitCode.OK
    _unread(du)
    if ctx.json:
        write_json({"store": str(host.store), **usage_json.disk_usage(du)})
        return code
    from overlayscope.cli.usage_tables import print_df  # Rich, for a person's answer only

    print_df(ctx.source or du.root, host, du, with_copy_ups=ctx.args.containers)
    return code


def _unread(du: DiskUsage) -> None:
    """One warning line on stderr per layer whose content could not be read."""
    warning_lines(
        printable(
            f"overlayscope: warning: layer {short(u.id)} ({u.role}) unread: {u.unread}; "
            "its size is unknown and not in the totals"
        )
        for u in du.unread_layers
    )


def _efficiency(ctx: Context) -> int:
    """`efficiency`, whose module (and its tables) loads only when it runs."""
    from overlayscope.cli.usage_efficiency import cmd_efficiency

    return cmd_efficiency(ctx)
