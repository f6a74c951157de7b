"""The host overview: the data root, where the disk went, and every container, image and orphan."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker, WorkerState

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.names import plural, printable
from overlayscope.root.model import Host, Layer
from overlayscope.tui.navigation import open_object
from overlayscope.tui.screens.panes import PaneScreen
from overlayscope.tui.screens.problems import ProblemsScreen
from overlayscope.tui.services import ProgressCallback, Services
from overlayscope.tui.text import size
from overlayscope.tui.widgets.common.filter_bar import FilterBar
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.overview.disk_usage import DiskUsagePanel
from overlayscope.tui.widgets.overview.summary import HostSummary
from overlayscope.tui.widgets.overview.tables import ContainerTable, ImageTable, OrphanTable
from overlayscope.usage.advice import orphan_advice, removal_command, unresolved_advice
from overlayscope.usage.sizes import measure_layers

if TYPE_CHECKING:
    from overlayscope.usage.df_model import DiskUsage

TOP = 10  # how many of the largest items disk_usage lists per category


class OverviewScreen(PaneScreen):
    """Summary and disk bars on top, the three lists beneath; enter opens a row.

    The lists share the height left (each scrolls on its own), so at 80x24 every section
    title stays on screen; the disk bars scroll within the top third when they must.
    """

    DEFAULT_CSS = """
    OverviewScreen #top { height: auto; max-height: 40%; }
    OverviewScreen #disk-scroll { width: 1fr; height: auto; border-left: vkey $surface-lighten-2; }
    OverviewScreen .section-title {
        height: 1; padding: 0 1; text-style: bold; color: $accent;
    }
    OverviewScreen .section { height: 1fr; }
    OverviewScreen #orphans-section { height: auto; max-height: 1fr; }
    OverviewScreen HostTable { height: 1fr; max-height: 100%; }
    OverviewScreen #orphans { height: auto; max-height: 8; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("p", "problems", "Problems"),
        Binding("b", "browse", "Browse root"),
        Binding("r", "measure", "Measure again", show=False),
        Binding("escape", "cancel", "Cancel scan", show=False),
    ]

    class Measured(Message):
        """Bytes in each writable layer and orphaned dir (layer id → bytes)."""

        def __init__(self, sizes: dict[str, int]) -> None:
            super().__init__()
            self.sizes = sizes

    class UsageMeasured(Message):
        def __init__(self, usage: DiskUsage) -> None:
            super().__init__()
            self.usage = usage

    class MeasureStopped(Message):
        def __init__(self, error: BaseException | None, *, done: bool = False) -> None:
            super().__init__()
            self.error = error  # None when cancelled or done
            self.done = done

    def __init__(self, host: Host, source: str, services: Services) -> None:
        super().__init__()
        self.host = host
        self.source = source
        self.services = services
        self.sizes: dict[str, int] | None = None
        self.usage: DiskUsage | None = None
        self.needle = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield HostSummary(id="summary")
            with VerticalScroll(id="disk-scroll", can_focus=False):
                yield DiskUsagePanel(id="disk-usage")
        yield ScanStatus(id="status")
        with Vertical(id="containers-section", classes="section"):
            yield Static(id="containers-title", classes="section-title")
            yield ContainerTable(id="containers")
        with Vertical(id="images-section", classes="section"):
            yield Static(id="images-title", classes="section-title")
            yield ImageTable(id="images")
        with Vertical(id="orphans-section", classes="section"):
            yield Static(id="orphans-title", classes="section-title")
            yield OrphanTable(id="orphans")
        yield FilterBar("filter containers, images and orphans by name, tag or id", id="filter")
        yield KeyFooter()

    def panes(self) -> list[Widget]:
        return [
            self.query_one(ContainerTable),
            self.query_one(ImageTable),
            self.query_one(OrphanTable),
        ]

    def on_mount(self) -> None:
        self.query_one(HostSummary).show(self.host, self.source)
        self._fill()
        self.query_one(ContainerTable).focus()
        self.action_measure()

    def _fill(self) -> None:
        host, needle = self.host, self.needle
        containers = self.query_one(ContainerTable)
        images = self.query_one(ImageTable)
        orphans = self.query_one(OrphanTable)
        containers.show(host, self.sizes, needle)
        images.show(host, needle)
        orphans.show(host, self.sizes, needle)
        unnamed = "Orphaned and unresolved layer dirs" if host.unresolved else "Orphaned layer dirs"
        for key, name, shown, total in (
            ("containers", "Containers", containers.row_count, len(host.containers)),
            ("images", "Images", images.row_count, len(host.images)),
            ("orphans", unnamed, orphans.row_count, len(host.orphans) + len(host.unresolved)),
        ):
            count = f"{shown} of {total}" if needle else str(total)
            self.query_one(f"#{key}-title", Static).update(f"{name} ({count})")

    # -- measuring -------------------------------------------------------------

    def action_measure(self) -> None:
        status = self.query_one(ScanStatus)
        if status.running:
            return
        cancel = status.begin("the data root")
        if self.services.disk_usage is None:
            self.query_one(DiskUsagePanel).unavailable(
                "per-category usage needs overlayscope.usage.df (not in this installation)"
            )
        self._measure(cancel, status.report)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="measure",
        description="measure the data root",
    )
    def _measure(self, cancel: threading.Event, report: ProgressCallback) -> None:
        # Writable layers first (quick: the tables fill), then the whole root (may be long).
        host = self.host
        ids = [c.layer for c in host.containers.values() if c.layer]
        ids += [o.id for o in host.orphans + host.unresolved]
        try:
            self.post_message(
                self.Measured(measure_layers(host, ids, cancel=cancel, progress=report))
            )
            if self.services.disk_usage is not None:
                usage = self.services.disk_usage(host, top=TOP, cancel=cancel, progress=report)
                self.post_message(self.UsageMeasured(usage))
        except Cancelled:
            self.post_message(self.MeasureStopped(None))
            return
        except OverlayscopeError as exc:
            self.post_message(self.MeasureStopped(exc))
            return
        self.post_message(self.MeasureStopped(None, done=True))

    def on_overview_screen_measured(self, message: OverviewScreen.Measured) -> None:
        self.sizes = message.sizes
        self._fill()

    def on_overview_screen_usage_measured(self, message: OverviewScreen.UsageMeasured) -> None:
        self.usage = message.usage
        self.query_one(DiskUsagePanel).show(message.usage)

    def on_overview_screen_measure_stopped(self, message: OverviewScreen.MeasureStopped) -> None:
        status = self.query_one(ScanStatus)
        if message.done:
            status.finish(self._measured_text())
        elif message.error is None:
            status.cancelled()
            self.query_one(DiskUsagePanel).unavailable("measuring cancelled (r measures again)")
        else:
            status.failed(message.error)

    def _measured_text(self) -> Text:
        sizes = self.sizes or {}
        rw = sum(sizes.get(c.layer, 0) for c in self.host.containers.values() if c.layer)
        orphaned = sum(sizes.get(o.id, 0) for o in self.host.orphans)
        text = Text(f"writable layers {size(rw)}, orphaned dirs {size(orphaned)}")
        if self.usage is not None and self.usage.problems:
            text.append(
                f"; {plural(len(self.usage.problems), 'path')} could not be measured", style="red"
            )
        text.append("  (enter opens a row, / filters, ? lists every key)", style="dim")
        return text

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The worker catches the errors it expects; anything else is a bug: say so.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.query_one(ScanStatus).failed(event.worker.error)

    def action_cancel(self) -> None:
        if not self.query_one(ScanStatus).cancel() and self.needle:
            self.query_one(FilterBar).action_clear()

    # -- filter and navigation -------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    @on(FilterBar.Applied)
    def _filtered(self, event: FilterBar.Applied) -> None:
        self.needle = event.text
        self._fill()

    def action_problems(self) -> None:
        self.app.push_screen(ProblemsScreen(self.host))

    def action_browse(self) -> None:
        from overlayscope.tui.screens.root_browser import RootBrowserScreen

        self.app.push_screen(RootBrowserScreen(self.host))

    def _advise(self, layer: Layer) -> None:
        """The CLI's advice (`overlayscope orphans`), word for word: `usage/advice.py`."""
        if layer.unresolved is not None:
            self.notify(
                printable(f"{layer.path}: {layer.unresolved}.\n{unresolved_advice(1)}"),
                title="unresolved layer dir: maybe in use",
                severity="warning",
                markup=False,
                timeout=20,
            )
            return
        measured = (self.sizes or {}).get(layer.id)
        self.notify(
            printable(f"{layer.path} ({size(measured)}): no image and no container uses it.")
            + f"\n{orphan_advice(1)}\n  {removal_command(layer)}",
            title="orphaned layer dir",
            markup=False,
            timeout=30,
        )

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if isinstance(event.data_table, OrphanTable):
            self._advise(self.host.layers[key])
            return
        obj = self.host.containers.get(key) or self.host.images.get(key)
        if obj is not None:
            open_object(self.app, self.host, obj, self.services)
