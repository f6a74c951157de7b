"""One line saying what long work is running, how far it got, and how to cancel it."""

from __future__ import annotations

import threading

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label, ProgressBar

from overlayscope.errors import OverlayscopeError
from overlayscope.names import plural, printable
from overlayscope.scan import ScanProgress


class ScanStatus(Horizontal):
    """Progress of one scan at a time, with the cancel event handed to the core."""

    DEFAULT_CSS = """
    ScanStatus { height: 1; padding: 0 1; }
    ScanStatus > Label { width: 1fr; height: 1; color: $text-muted; }
    ScanStatus > ProgressBar { width: auto; display: none; }
    ScanStatus.-running > ProgressBar { display: block; }
    ScanStatus.-running > Label { color: $text; }
    ScanStatus.-failed > Label { color: $error; }
    """

    class Progressed(Message):
        """Posted from a worker thread; a newer one replaces any still queued."""

        def __init__(self, progress: ScanProgress) -> None:
            super().__init__()
            self.progress = progress

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ScanStatus.Progressed)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._what = ""
        self._cancel = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        yield Label()
        yield ProgressBar(show_eta=False)

    def begin(self, what: str) -> threading.Event:
        """Start showing a scan of `what`; returns the cancel event to give the core."""
        self._what = what
        self._cancel = threading.Event()
        self.running = True
        self.set_class(True, "-running")
        self.set_class(False, "-failed")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._label(f"scanning {what}… (esc cancels)")
        return self._cancel

    def on_unmount(self) -> None:
        # Leaving the screen stops its scan: nobody will look at the answer.
        self._cancel.set()

    def report(self, progress: ScanProgress) -> None:
        """Thread-safe: called by the core's progress callback in a worker."""
        self.post_message(self.Progressed(progress))

    def on_scan_status_progressed(self, message: ScanStatus.Progressed) -> None:
        message.stop()
        if not self.running:
            return
        p = message.progress
        self.query_one(ProgressBar).update(total=max(p.layers_total, 1), progress=p.layers_done)
        self._label(
            f"scanning {self._what}: {p.layers_done}/{plural(p.layers_total, 'layer')}, "
            f"{plural(p.entries, 'entry', 'entries')}… (esc cancels)"
        )

    def cancel(self) -> bool:
        """Ask the running scan to stop; False when nothing is running."""
        if not self.running or self._cancel.is_set():
            return False
        self._cancel.set()
        self._label(f"cancelling {self._what}…")
        return True

    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    def finish(self, text: str | Text) -> None:
        self._stop()
        self._label(text)

    def cancelled(self, retry_key: str = "r") -> None:
        self._stop()
        self._label(f"{self._what}: cancelled (press {retry_key} to scan again)")

    def failed(self, error: BaseException) -> None:
        self._stop()
        self.set_class(True, "-failed")
        if isinstance(error, OverlayscopeError):
            text = f"{error.title}: {error.message}"
            if error.hint:
                text += f" (hint: {error.hint})"
        else:
            text = f"internal error: {type(error).__name__}: {error}"
        self._label(Text(printable(text)))

    def _stop(self) -> None:
        self.running = False
        self.set_class(False, "-running")

    def _label(self, text: str | Text) -> None:
        # layout=False: the line's size never depends on its text, and a layout pass of the
        # whole screen ten times a second (every progress report) is what kept keys waiting
        # while a scan ran.
        self.query_one(Label).update(text if isinstance(text, Text) else Text(text), layout=False)
