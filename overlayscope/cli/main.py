"""The `overlayscope` command line: global options, commands, errors to exit codes."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from overlayscope import __version__
from overlayscope.cli import files, forensics, inventory
from overlayscope.cli import metrics as metrics_commands
from overlayscope.cli import usage as usage_commands
from overlayscope.cli.context import Context
from overlayscope.cli.output import stderr_console
from overlayscope.errors import ExitCode, OverlayscopeError
from overlayscope.names import printable

Command = Callable[[Context], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"overlayscope: error: {message}\n")
        raise SystemExit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="overlayscope",
        description="Inspect container layer storage (Docker, containerd, Podman): which layer "
        "every file comes from, "
        "what containers changed, and where the disk went. Read-only, always.",
    )
    parser.add_argument("--version", action="version", version=f"overlayscope {__version__}")
    parser.add_argument(
        "--root",
        metavar="PATH",
        help="Docker data root, containerd root, or a captured snapshot "
        "archive (*.tar.xz); default: the daemon's root, else /var/lib/docker",
    )
    parser.add_argument(
        "--containerd-root",
        metavar="PATH",
        help="the containerd root holding a Docker 29 data root's layers; default: the "
        "`containerd` dir beside the data root (then /var/lib/containerd for a live daemon)",
    )
    parser.add_argument(
        "--namespace",
        metavar="NS",
        help="containerd: read only this namespace (default: all; `moby` for Docker 29)",
    )
    parser.add_argument(
        "--storage-conf",
        metavar="FILE",
        help="containers/storage: read the graph root (unless --root) and run root it names",
    )
    parser.add_argument("--offline", action="store_true", help="never contact a Docker daemon")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="read the embedded captured snapshot instead of a host",
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout (docs/json.md)")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="scan image layers afresh: neither read nor write the scan cache "
        "($XDG_CACHE_HOME/overlayscope/scan-cache)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    inventory.register(sub)
    forensics.register(sub)
    files.register(sub)
    usage_commands.register(sub)
    metrics_commands.register(sub)
    tui = sub.add_parser("tui", help="open the terminal UI (the default)")
    tui.set_defaults(func=_run_tui)
    return parser


def _run_tui(ctx: Context) -> int:
    from overlayscope.tui.app import run_app  # Textual loads only for the TUI

    return run_app(ctx)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = getattr(args, "func", _run_tui)
    ctx = Context(args)
    err = stderr_console()
    try:
        return int(func(ctx))
    except OverlayscopeError as exc:
        if args.debug:
            traceback.print_exc()
        line = f"overlayscope: {exc.title}: {printable(exc.message)}"
        if exc.hint:
            line += f" (hint: {printable(exc.hint)})"
        err.print(line, markup=False, highlight=False, soft_wrap=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.print("overlayscope: interrupted", markup=False)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except OSError as exc:  # the filesystem refused something no command expected
        if args.debug:
            traceback.print_exc()
        line = f"overlayscope: cannot read: {printable(exc.strerror or str(exc))}"
        if exc.filename is not None:
            line += f": {printable(os.fsdecode(exc.filename))}"
        if exc.errno in (errno.EACCES, errno.EPERM):
            line += " (hint: run as root (sudo))"
        err.print(line, markup=False, highlight=False, soft_wrap=True)
        return int(ExitCode.ERROR)
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        err.print(
            f"overlayscope: internal error: {printable(type(exc).__name__)}: {printable(str(exc))}"
            " (run with --debug for the traceback, and please report it)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return int(ExitCode.ERROR)


if __name__ == "__main__":
    raise SystemExit(main())
