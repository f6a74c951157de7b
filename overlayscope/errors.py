"""One error hierarchy for the whole tool, and the exit codes the CLI maps it to.

Every error carries a one-line message and a hint telling the user what to do.
The core raises these; only `cli/` and `tui/` turn them into text.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; part of the public CLI contract (docs/cli.md)."""

    OK = 0
    FINDINGS = 1  # the command worked and found problems (check, efficiency --ci)
    USAGE = 2  # wrong arguments (argparse's own code)
    ERROR = 3  # the command could not do its job (bad input, unreadable root, bad reference)
    # The command answered, but part of the evidence could not be read (a layer dir that
    # permission or an I/O error kept closed); the output says which. FINDINGS wins over it.
    INCOMPLETE = 4
    INTERRUPTED = 130


class OverlayscopeError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR
    title: str = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotADataRoot(OverlayscopeError):
    title = "not a Docker data root"


class UnsupportedDriver(OverlayscopeError):
    title = "unsupported storage driver"


class PermissionDeniedError(OverlayscopeError):
    title = "permission denied"


class ReadError(OverlayscopeError):
    """The filesystem refused a read the tool needed (EIO, a stale handle...)."""

    title = "cannot read"


class UnknownReference(OverlayscopeError):
    """A container or image reference that matches nothing, or more than one thing."""

    title = "unknown reference"


class AmbiguousReference(UnknownReference):
    title = "ambiguous reference"

    def __init__(self, message: str, candidates: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.candidates = candidates


class PathNotFound(OverlayscopeError):
    title = "no such path"


class UnreadablePath(PathNotFound):
    """A path whose presence cannot be told: a layer the lookup must pass through could not
    be read there. A `PathNotFound` for callers that only know that one."""

    exit_code = ExitCode.INCOMPLETE
    title = "cannot tell"


class UnsafePath(OverlayscopeError):
    """A read that would leave the layer tree (symlink loop, escape, over-long chain)."""

    title = "unsafe path"


class DaemonError(OverlayscopeError):
    title = "docker daemon"


class Cancelled(OverlayscopeError):
    exit_code = ExitCode.INTERRUPTED
    title = "cancelled"
