"""The host in a few lines: which root, which store, what it holds, how healthy."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from overlayscope.names import plural
from overlayscope.root.model import Host, Role
from overlayscope.tui.text import key_value, safe


def summary_text(host: Host, source: str) -> Text:
    running = sum(1 for c in host.containers.values() if c.state == "running")
    tagged = sum(1 for i in host.images.values() if i.tags)
    rw = sum(1 for layer in host.layers.values() if layer.role is Role.RW)
    problems = len(host.problems)
    problem_text = Text(str(problems), style="bold red" if problems else "bold green")
    if problems:
        problem_text.append("  (p lists them)", style="dim")
    engine = f"{host.engine}, " if host.engine and host.engine != str(host.store) else ""
    store = Text(f"{engine}{host.store} ({host.driver})")
    if host.namespaces:
        store.append(safe(f"   namespaces {', '.join(host.namespaces)}", style="dim"))
    if host.daemon is not None:
        store.append(safe(f"   daemon {host.daemon.server_version}", style="dim"))
    if host.uid_map:
        root = host.uid_map[0]
        store.append(safe(f"   rootless: container root is host uid {root.outside}", style="dim"))
    layers = f"{plural(len(host.layers), 'dir')}: {rw} rw, {len(host.orphans)} orphaned"
    if host.unresolved:
        layers += f", {len(host.unresolved)} unresolved"
    return key_value(
        [
            ("root", safe(source)),
            ("store", store),
            ("containers", f"{len(host.containers)} ({running} running)"),
            ("images", f"{len(host.images)} ({tagged} tagged)"),
            ("layers", layers),
            ("problems", problem_text),
        ]
    )


class HostSummary(Static):
    DEFAULT_CSS = """
    HostSummary {
        width: 1fr; height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def show(self, host: Host, source: str) -> None:
        self.update(summary_text(host, source))
