"""The `overlayscope` command line: global options, commands, errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from overlayscope import __version__
from overlayscope.cli.commands import BY_NAME, COMMANDS, epilog
from overlayscope.errors import ExitCode, OverlayscopeError
from overlayscope.names import printable

if TYPE_CHECKING:
    from overlayscope.cli.context import Context
    from overlayscope.root.docker.daemon import Reaching

# Nothing above loads a command, Rich, Textual or the docker SDK: `--version` and `--help`
# answer at once, and a command imports only what it runs (tests/test_import_hygiene.py).

Command = Callable[["Context"], int]


# Exit statuses beyond ExitCode's, for how the process ended rather than what it found.
BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: stdout's reader went away, as a shell reports it
TERMINATED = 128 + signal.SIGTERM  # 143: SIGTERM; scan workers stopped first

# Whether errors answer in JSON too (`--json` among the arguments): set before parsing, so
# that a usage error can.
_json_errors = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"overlayscope: error: {_controls_escaped(message)}\n")
        if _json_errors:
            _write_error_json("usage error", message, None, ExitCode.USAGE)
        raise SystemExit(ExitCode.USAGE)


def _controls_escaped(message: str) -> str:
    """argparse's message with control and invisible characters escaped. It shows some
    arguments as given (`unrecognized arguments: …`), others by repr (whose backslashes
    are kept as they are: doubled, they would read as two)."""
    if message.isprintable():
        return message
    return "".join(ch if ch == "\\" else printable(ch) for ch in message)


def _write_error_json(title: str, message: str, hint: str | None, code: int) -> None:
    """The one JSON document of a command that failed (docs/json.md, "Errors")."""
    error = {"title": title, "message": message, "hint": hint, "exit_code": int(code)}
    with contextlib.suppress(OSError):
        sys.stdout.write(json.dumps({"error": error}, indent=2, ensure_ascii=True) + "\n")
        sys.stdout.flush()


class _Watched:
    """sys.stdout, noting whether anything was written to it: a command that fails after
    writing part of its JSON gets no second document appended."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.used = False

    def write(self, text: str) -> int:
        if text:
            self.used = True
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _WholeWrites(io.FileIO):
    """stdout's fd, each write made whole or failed. The kernel writes part of a large
    buffer to a pipe whose reader then leaves (`| head`), and io.BufferedWriter drops the
    rest without a word; retried here, the rest fails with EPIPE as it does for C's stdio,
    so a cut output is always said by the same status (BROKEN_PIPE)."""

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            n = super().write(view[done:])
            if n is None:  # a non-blocking fd that is full: BufferedWriter's to handle
                return done or None  # type: ignore[return-value]
            done += n
        return done


def _whole_writes(stream: TextIO) -> TextIO | None:
    """A text stream on `stream`'s fd whose writes are whole (`_WholeWrites`), or None
    when it has no fd (a test's capture)."""
    try:
        fd = stream.fileno()
        stream.flush()
    except (OSError, ValueError, AttributeError):
        return None
    return io.TextIOWrapper(
        io.BufferedWriter(_WholeWrites(fd, "wb", closefd=False)),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=bool(stream.line_buffering),
    )


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread: `finally` blocks run (scan workers are killed
    and reaped) before the process exits. A BaseException: no `except Exception` eats it."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _global_options(parser: argparse._ActionsContainer, *, after: bool) -> None:
    """The options every command takes. `after`: their copy on each command's parser,
    so they may follow the command too (`overlayscope containers --json`); defaults
    SUPPRESSed there, so a command's parser never resets what came before it."""
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    flag: dict[str, Any] = {"action": "store_true", **default}
    parser.add_argument(
        "--root",
        metavar="PATH",
        help="Docker data root, containerd root, or a captured snapshot "
        "archive (*.tar.xz); default: the daemon's root, else /var/lib/docker",
        **default,
    )
    parser.add_argument(
        "--containerd-root",
        metavar="PATH",
        help="the containerd root holding a Docker 29 data root's layers; default: the "
        "`containerd` dir beside the data root (then /var/lib/containerd for a live daemon)",
        **default,
    )
    parser.add_argument(
        "--namespace",
        metavar="NS",
        help="containerd: read only this namespace (default: all; `moby` for Docker 29)",
        **default,
    )
    parser.add_argument(
        "--storage-conf",
        metavar="FILE",
        help="containers/storage: read the graph root (unless --root) and run root it names",
        **default,
    )
    parser.add_argument("--offline", help="never contact a Docker daemon", **flag)
    parser.add_argument(
        "--snapshot", help="read the embedded captured snapshot instead of a host", **flag
    )
    parser.add_argument("--json", help="JSON on stdout (docs/json.md)", **flag)
    parser.add_argument(
        "--no-cache",
        help="scan image layers afresh: neither read nor write the scan cache "
        "($XDG_CACHE_HOME/overlayscope/scan-cache)",
        **flag,
    )
    parser.add_argument("--debug", help="show tracebacks of errors", **flag)


# The global options that take a value: `_command_name` skips the value.
_VALUED = ("--root", "--containerd-root", "--namespace", "--storage-conf")
_LONG = (*_VALUED, "--offline", "--snapshot", "--json", "--no-cache", "--debug", "--version")


def _command_name(argv: Sequence[str]) -> str | None:
    """The command among the arguments (the first positional one), without parsing them:
    which command module to import. A wrong guess costs only a second parse (`main`)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            return next(tokens, None)
        if not token.startswith("-") or token == "-":
            return token
        if "=" in token:
            continue
        # argparse takes a unique prefix of a long option (`--ro PATH`) as the option
        matches = [o for o in _LONG if o.startswith(token)] if token.startswith("--") else []
        if token in _VALUED or (len(matches) == 1 and matches[0] in _VALUED):
            next(tokens, None)
    return None


def _reach_early(options: Sequence[str]) -> Reaching | None:
    """The daemon asked before the arguments are parsed, so that its `_ping` and `info`
    round trips (~7 ms of dockerd's) run while the command's modules load; None where
    any argument might mean it is not to be asked: whatever argparse could read as
    --offline, --snapshot or --storage-conf (it takes any unique prefix of an option),
    --help or --version, or an archive to read (`--root dataroot.tar.xz`). Those are
    parsed first, as always, and the daemon asked, if at all, after (`Context`)."""
    for token in options:
        if token == "-h" or token.startswith(("--o", "--s", "--h", "--v")):
            return None
    from overlayscope.snapshot import is_archive

    if any(is_archive(token.partition("=")[2] or token) for token in options):
        return None
    from overlayscope.root.docker.daemon import Reaching

    return Reaching()


def _print_exc() -> None:
    import traceback  # only for a bug's report: not loaded by every command

    traceback.print_exc()


def _columns() -> int:
    """The width argparse would wrap help at (`shutil.get_terminal_size()`'s answer), without
    loading shutil, and through it zlib, bz2 and lzma, at every start."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual; the examples (an epilog) kept line by line."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
        width: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)  # fmt: skip

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Commands:
    """The sub-parsers action as a command module's `register(sub)` sees it: each parser
    it adds gets its description and examples (cli/commands.py), and the global options
    after the command."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common
        self.added: set[str] = set()

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        command = BY_NAME.get(name)
        if command is not None:
            kwargs["help"] = command.summary
            kwargs.setdefault("description", command.description)
            kwargs.setdefault("epilog", epilog(command))
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs["parents"] = [*kwargs.get("parents", ()), self._common]
        self.added.add(name)
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        return parser


_ALL = "*"


def build_parser(command: str | None = _ALL) -> argparse.ArgumentParser:
    """The whole command line. `command`: import only the module of this command (None:
    none); every other command gets a stand-in parser with its help, which, if argparse
    picks it after all, makes `main` parse again with its module loaded."""
    parser = _Parser(
        prog="overlayscope",
        formatter_class=_HelpFormatter,
        description="Inspect container layer storage (Docker, containerd, Podman): which layer "
        "every file comes from, "
        "what containers changed, and where the disk went. Read-only, always.",
        epilog="Global options go before or after the command. "
        "`overlayscope COMMAND --help` describes a command, with examples.",
    )
    parser.add_argument("--version", action="version", version=f"overlayscope {__version__}")
    _global_options(parser, after=False)
    common = argparse.ArgumentParser(add_help=False, formatter_class=_HelpFormatter)
    _global_options(common.add_argument_group("global options (before or after the command)"),
                    after=True)  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = _Commands(sub, common)
    wanted = BY_NAME.get(command or "")
    for cmd in COMMANDS:
        if cmd.name in commands.added:
            continue
        if cmd.name == "tui":
            commands.add_parser("tui").set_defaults(func=_run_tui)
        elif command == _ALL or (wanted is not None and cmd.module == wanted.module):
            module = importlib.import_module(f"overlayscope.cli.{cmd.module}")
            module.register(commands)
        else:
            commands.add_parser(cmd.name).set_defaults(_lazy=cmd.name)
    return parser


def _run_tui(ctx: Context) -> int:
    from overlayscope.tui.app import run_app  # Textual loads only for the TUI

    return run_app(ctx)


NO_TERMINAL = (
    "overlayscope: the terminal UI needs a terminal on stdin and stdout; "
    "run a command instead (`overlayscope containers`, `overlayscope --help` lists them)\n"
)


def _on_terminal() -> bool:
    """Whether stdin and stdout are both a terminal, as the TUI needs."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def main(argv: Sequence[str] | None = None) -> int:
    global _json_errors
    given = list(sys.argv[1:] if argv is None else argv)
    options = given[: given.index("--")] if "--" in given else given
    _json_errors = "--json" in options
    early = _reach_early(options)
    parser = build_parser(_command_name(given))
    args = parser.parse_args(given)
    if getattr(args, "_lazy", None):  # the command was not where _command_name looked
        parser = build_parser(args._lazy)
        args = parser.parse_args(given)
    func: Command = getattr(args, "func", _run_tui)
    if (func is _run_tui or getattr(args, "tui", False)) and args.json:
        parser.error("--json is for the commands; the terminal UI writes no JSON")
    if (func is _run_tui or getattr(args, "tui", False)) and not _on_terminal():
        # A TUI drawn into a pipe waits for keys that never come: say what to run instead.
        sys.stderr.write(NO_TERMINAL)
        return int(ExitCode.USAGE)
    from overlayscope.cli.context import Context

    ctx = Context(args, warn=func is not _run_tui, reaching=early)
    stdout = sys.stdout
    whole = _whole_writes(stdout) if func is not _run_tui else None
    watched = _Watched(whole or stdout)
    sys.stdout = watched if args.json else (whole or stdout)
    # SIGTERM ends a command like Ctrl-C does, through its `finally` blocks (the scan's
    # kills its workers); the TUI and `serve` keep their own ways of stopping.
    on_term = None
    if func is not _run_tui and threading.current_thread() is threading.main_thread():
        on_term = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = _run(func, ctx, args, watched)
    finally:
        if whole is not None:
            with contextlib.suppress(OSError, ValueError):
                whole.flush()  # empty already, unless the output failed (then fd 1 is null)
        sys.stdout = stdout
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return code


def _run(func: Command, ctx: Context, args: argparse.Namespace, watched: _Watched) -> int:
    """Run the command; map what it raises to one line on stderr (and, with --json, one
    error document on stdout) and an exit status."""
    from overlayscope.cli.plain import error_line  # no Rich: an error is one plain line

    def fail(title: str, message: str, hint: str | None, code: int) -> int:
        line = (
            f"overlayscope: {title}: {printable(message)}" if message else f"overlayscope: {title}"
        )
        if hint:
            line += f" (hint: {printable(hint)})"
        error_line(line)
        if args.json and not watched.used:
            _write_error_json(title, message, hint, code)
        return code

    try:
        code = int(func(ctx))
        sys.stdout.flush()  # a write error must surface here, not at the interpreter's exit
        return code
    except OverlayscopeError as exc:
        if args.debug:
            _print_exc()
        return fail(exc.title, exc.message, exc.hint, int(exc.exit_code))
    except KeyboardInterrupt:
        return fail("interrupted", "", None, int(ExitCode.INTERRUPTED))
    except _Terminated:
        return fail("terminated (SIGTERM)", "", None, TERMINATED)
    except BrokenPipeError:
        # The reader went away (`| head`): said by the status alone (docs/cli.md), as the
        # shell reports a tool that SIGPIPE ended; nothing more is written anywhere.
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        if args.debug:
            _print_exc()
        if exc.errno in _WRITE_ERRORS:
            # the output's disk is full (or read-only...): our write failed, not a read
            _silence_stdout()
            where = os.fsdecode(exc.filename) if exc.filename is not None else "stdout"
            line = f"overlayscope: cannot write: {printable(exc.strerror or str(exc))}: "
            error_line(line + printable(where))
            return int(ExitCode.ERROR)
        # the filesystem refused something no command expected
        message = exc.strerror or str(exc)
        if exc.filename is not None:
            message += f": {os.fsdecode(exc.filename)}"
        hint = "run as root (sudo)" if exc.errno in (errno.EACCES, errno.EPERM) else None
        return fail("cannot read", message, hint, int(ExitCode.ERROR))
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if args.debug:
            _print_exc()
        return fail(
            "internal error",
            f"{type(exc).__name__}: {exc} (run with --debug for the traceback, and please "
            "report it)",
            None,
            int(ExitCode.ERROR),
        )


# What a failed write says, where a read would not: the output's disk is full, over
# quota, too large a file, or read-only.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null: the interpreter's last flush of what is left in stdout's
    buffer must not fail again (a second message, exit 120)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
