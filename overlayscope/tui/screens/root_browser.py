"""`b`: the data root itself, as ncdu shows a disk: every directory with its bytes on disk, a
bar of its parent's share and its entries, largest first; what each known dir is (a
layer, a container's records, a volume, a log) is said beside it, so whatever is left is
what the overview's "other" bar adds up."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from overlayscope.errors import Cancelled, OverlayscopeError
from overlayscope.names import plural
from overlayscope.root.model import Host, Role
from overlayscope.tui.screens.panes import PaneScreen
from overlayscope.tui.services import ProgressCallback
from overlayscope.tui.text import key_value, safe, size
from overlayscope.tui.tree_model import NodeStats, Sort, SortKey, sort_paths
from overlayscope.tui.widgets.common.key_footer import KeyFooter
from overlayscope.tui.widgets.common.keyed import KeyedScroll
from overlayscope.tui.widgets.common.scan_status import ScanStatus
from overlayscope.tui.widgets.files.paged_tree import PagedTree
from overlayscope.tui.widgets.files.tree_label import LabelParts
from overlayscope.usage.dirtree import DirNode, FileNode, walk_dir_tree

OTHERS = "/\x00smaller"  # the child that stands for a directory's files not kept by name


def known_paths(host: Host) -> dict[str, str]:
    """Host path → what the store's records say it is."""
    names = {c.key: c.name or c.id[:12] for c in host.containers.values()}
    tags = {
        i.key: (i.tags[0] if i.tags else i.id.removeprefix("sha256:")[:12])
        for i in host.images.values()
    }
    out: dict[str, str] = {}
    for root in host.all_roots:
        out[root] = "data root"
    for layer in host.layers.values():
        if layer.role in (Role.RW, Role.INIT):
            owner = names.get(layer.container or "", "?")
            what = f"{layer.role} layer of {owner}"
        elif layer.role is Role.IMAGE:
            owners = [tags[k] for k in layer.images if k in tags]
            what = "image layer" + (f" of {owners[0]}" if owners else "")
            if len(owners) > 1:
                what += f" (+{len(owners) - 1})"
        elif layer.role is Role.ORPHAN:
            what = "orphaned layer dir: nothing references it"
        else:
            what = "unresolved layer dir: maybe in use"
        out[layer.path] = what
        out.setdefault(layer.content_dir, "its content")
    for c in host.containers.values():
        out.setdefault(c.path, f"records of container {names[c.key]}")
        for log in c.logs:
            out[log] = f"logs of {names[c.key]}"
    for v in host.volumes.values():
        out[v.path] = f"volume {v.name}"
    for b in host.blobs.values():
        out[b.path] = "blob" + (", collectable" if b.collectable else "")
    for d in host.build_cache:
        out.setdefault(d, "build cache")
    # The dirs that hold them: what a user meets first when opening the root.
    for layer in host.layers.values():
        out.setdefault(os.path.dirname(layer.path), "the store's layer dirs")
    for c in host.containers.values():
        out.setdefault(os.path.dirname(c.path), "the containers' records and logs")
    for v in host.volumes.values():
        out.setdefault(os.path.dirname(v.path), "volumes")
    return out


class DirTree(PagedTree):
    """The walked roots, largest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort = Sort(SortKey.SIZE, True)
        self.dirs: dict[str, DirNode] = {}
        self.files: dict[str, FileNode] = {}
        self.known: dict[str, str] = {}
        self.tops: list[DirNode] = []

    def load(self, tops: list[DirNode], known: dict[str, str], sort: Sort) -> None:
        self.tops, self.known, self.sort = tops, known, sort
        self.dirs, self.files = {}, {}
        pending = list(tops)
        while pending:
            node = pending.pop()
            self.dirs[node.path] = node
            pending.extend(node.dirs.values())
            for f in node.files:
                self.files[f.path] = f
        self.rebuild()

    def child_paths(self, path: str) -> Sequence[str]:
        if path == "/":
            return [top.path for top in self.tops]
        node = self.dirs.get(path)
        if node is None:
            return []
        paths = [d.path for d in node.dirs.values()] + [f.path for f in node.files]
        ordered = sort_paths(paths, self.sort, self.stats)
        if node.other_files:
            ordered.append(path + OTHERS)
        return ordered

    def path_steps(self, path: str) -> list[str]:
        # A top is a whole host path (the data root): the steps start there.
        for top in self.tops:
            if path == top.path or path.startswith(top.path.rstrip("/") + "/"):
                rest = path[len(top.path) :].strip("/")
                steps, here = [top.path], top.path.rstrip("/")
                for part in (p for p in rest.split("/") if p):
                    here = f"{here}/{part}"
                    steps.append(here)
                return steps
        return []

    def expandable(self, path: str) -> bool:
        node = self.dirs.get(path)
        return node is not None and bool(node.dirs or node.files or node.other_files)

    def stats(self, path: str) -> NodeStats | None:
        if path == "/":
            return NodeStats(sum(t.allocated for t in self.tops), 0)
        node = self.dirs.get(path)
        if node is not None:
            return NodeStats(node.allocated, node.items, node.mtime_ns)
        f = self.files.get(path)
        if f is not None:
            return NodeStats(f.allocated, 0, f.mtime_ns)
        if path.endswith(OTHERS):
            parent = self.dirs.get(path[: -len(OTHERS)])
            if parent is not None:
                return NodeStats(parent.other_allocated, parent.other_files)
        return None

    def label_parts(self, path: str) -> LabelParts:
        if path.endswith(OTHERS):
            parent = self.dirs.get(path[: -len(OTHERS)])
            n = parent.other_files if parent is not None else 0
            return LabelParts(
                Text(f"… {n:,} smaller files", style="dim italic"), (), self.stats(path)
            )
        node = self.dirs.get(path)
        name = path if path in {t.path for t in self.tops} else path.rsplit("/", 1)[-1]
        head = safe(name + ("/" if node is not None and not name.endswith("/") else ""))
        if node is not None:
            head.stylize("bold")
        marks: list[Text] = []
        what = self.known.get(path)
        if what:
            marks.append(safe(what, style="cyan"))
        if node is not None and node.mount:
            marks.append(Text("mount point: not crossed", style="yellow"))
        if node is not None and node.problem:
            marks.append(safe(node.problem, style="red"))
        f = self.files.get(path)
        if f is not None and f.kind != "file":
            marks.append(Text(f.kind, style="dim"))
        return LabelParts(head, tuple(marks), self.stats(path), show_items=node is not None)


def node_info(tree: DirTree, path: str | None) -> Text:
    if path is None:
        return Text("nothing selected", style="dim")
    if path.endswith(OTHERS):
        parent = tree.dirs.get(path[: -len(OTHERS)])
        if parent is None:
            return Text()
        return key_value(
            [
                ("files", f"{parent.other_files:,} not listed by name (all but the largest)"),
                ("on disk", size(parent.other_allocated)),
                ("apparent", size(parent.other_apparent)),
            ]
        )
    node, f = tree.dirs.get(path), tree.files.get(path)
    rows: list[tuple[str, Text | str]] = [("path", safe(path))]
    what = tree.known.get(path)
    rows.append(
        ("what", safe(what) if what else Text("nothing the records name: other", style="yellow"))
    )
    if node is not None:
        rows += [
            ("on disk", size(node.allocated)),
            ("apparent", size(node.apparent)),
            ("entries", f"{node.items:,} beneath"),
            ("newest", _when(node.mtime_ns)),
        ]
        if node.mount:
            rows.append(
                ("note", Text("another filesystem is mounted here: not counted", style="yellow"))
            )
        if node.problem:
            rows.append(("problem", safe(node.problem, style="red")))
    elif f is not None:
        rows += [
            ("kind", f.kind),
            ("on disk", size(f.allocated)),
            ("apparent", size(f.apparent)),
            ("mtime", _when(f.mtime_ns)),
        ]
    text = key_value(rows, width=9)
    text.no_wrap = False
    text.overflow = "fold"
    return text


def _when(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) + " UTC" if ns else "?"


class RootBrowserScreen(PaneScreen):
    """The tree on the left, what the selected entry is on the right."""

    DEFAULT_CSS = """
    RootBrowserScreen #main { height: 1fr; }
    RootBrowserScreen DirTree { width: 3fr; }
    RootBrowserScreen #info-scroll { width: 2fr; border: round $surface-lighten-2; }
    RootBrowserScreen #info-scroll:focus { border: round $accent; }
    RootBrowserScreen #info { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / cancel"),
        Binding("s", "sort('size')", "Sort by size", show=False),
        Binding("n", "sort('name')", "Sort by name", show=False),
        Binding("c", "sort('count')", "Sort by entries beneath", show=False),
        Binding("t", "sort('mtime')", "Sort by mtime", show=False),
        Binding("r", "walk", "Walk again", show=False),
    ]

    class Walked(Message):
        def __init__(self, tops: list[DirNode]) -> None:
            super().__init__()
            self.tops = tops

    class Stopped(Message):
        def __init__(self, error: OverlayscopeError | None) -> None:
            super().__init__()
            self.error = error

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host
        self.sort = Sort(SortKey.SIZE, True)
        self.tops: list[DirNode] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScanStatus(id="status")
        with Horizontal(id="main"):
            yield DirTree(id="dirs")
            with KeyedScroll(id="info-scroll"):
                yield Static(id="info")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "the data root, as ncdu shows it"
        tree = self.query_one(DirTree)
        tree.border_title = "data root"
        tree.border_subtitle = self.sort.describe()
        tree.focus()
        self.action_walk()

    def panes(self) -> list[Widget]:
        return [self.query_one(DirTree), self.query_one("#info-scroll", KeyedScroll)]

    def action_walk(self) -> None:
        status = self.query_one(ScanStatus)
        if status.running:
            return
        cancel = status.begin("the data root")
        self._walk(cancel, status.report)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="walk", description="walk the root"
    )
    def _walk(self, cancel: threading.Event, report: ProgressCallback) -> None:
        try:
            tops = walk_dir_tree(list(self.host.all_roots), cancel=cancel, progress=report)
        except Cancelled:
            self.post_message(self.Stopped(None))
            return
        except OverlayscopeError as exc:
            self.post_message(self.Stopped(exc))
            return
        self.post_message(self.Walked(tops))

    def on_root_browser_screen_walked(self, message: RootBrowserScreen.Walked) -> None:
        self.tops = message.tops
        total = sum(t.allocated for t in message.tops)
        items = sum(t.items for t in message.tops)
        self.query_one(ScanStatus).finish(
            Text(
                f"{size(total)} on disk in {plural(items, 'entry', 'entries')}  "
                "(s n c t sort, enter opens)"
            )
        )
        self._show()

    def on_root_browser_screen_stopped(self, message: RootBrowserScreen.Stopped) -> None:
        status = self.query_one(ScanStatus)
        if message.error is None:
            status.cancelled()
        else:
            status.failed(message.error)

    def _show(self) -> None:
        tree = self.query_one(DirTree)
        tree.border_subtitle = self.sort.describe()
        tree.load(self.tops, known_paths(self.host), self.sort)
        if tree.root.children:
            tree.root.children[0].expand()

    def action_sort(self, key: str) -> None:
        self.sort = self.sort.pressed(SortKey(key))
        if self.tops:
            self._show()

    def action_back(self) -> None:
        if self.query_one(ScanStatus).cancel():
            return
        self.app.pop_screen()

    @on(PagedTree.PathHighlighted)
    def _highlighted(self, event: PagedTree.PathHighlighted) -> None:
        self.query_one("#info", Static).update(node_info(self.query_one(DirTree), event.path))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.query_one(ScanStatus).failed(event.worker.error)
