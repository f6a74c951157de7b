"""Rich's console on stderr, for progress bars and warnings (the answer itself, on stdout,
is plain text: `cli/text_table.py`, `cli/change_tree.py`, JSON from `cli/plain.py`)."""

from __future__ import annotations

from rich.console import Console


class _Stderr(Console):
    """Rich's console on stderr: a closed stderr silences it, nothing more."""

    def on_broken_pipe(self) -> None:
        self.quiet = True


def stderr_console(*, soft_wrap: bool = True) -> Console:
    """Warnings and errors: soft_wrap, so a line is never broken at the terminal's width
    (a path cut in two cannot be copied, nor grepped). Progress bars, drawn in place,
    keep to the width (soft_wrap=False)."""
    return _Stderr(stderr=True, highlight=False, soft_wrap=soft_wrap)
