"""What the screens call into the core through: one place to swap the core for tests.

The app's factory takes a `Services`; the defaults call the real core. Tests
give a stack builder that returns a hand-built stack (200k changed files
without writing 200k files). The disk-usage and efficiency answers are looked
up lazily (`overlayscope.usage.df.disk_usage`, `overlayscope.usage.efficiency.
stack_efficiency`): the TUI shows those panels only when the installed core has them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from overlayscope.record import field, record
from overlayscope.root.model import Container, Host, Image
from overlayscope.scan import ScanProgress
from overlayscope.union import LayerStack

if TYPE_CHECKING:
    from overlayscope.usage.df_model import DiskUsage
    from overlayscope.usage.efficiency import Efficiency

ProgressCallback = Callable[[ScanProgress], None]
HostLoader = Callable[[], tuple[Host, str]]
StackBuilder = Callable[[Host, Container | Image, threading.Event, ProgressCallback], LayerStack]


def build_stack(
    host: Host, obj: Container | Image, cancel: threading.Event, progress: ProgressCallback
) -> LayerStack:
    """The real core: scan `obj`'s layers (in worker processes) and stack them."""
    from overlayscope.union.host_stacks import build_stack as core_build_stack

    return core_build_stack(host, obj, cancel=cancel, progress=progress)


def optional(module: str, name: str) -> Callable[..., Any] | None:
    """`module.name` when this installation has it, else None (the panel says so)."""
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    value = getattr(found, name, None)
    return value if callable(value) else None


@record(slots=False)
class Services:
    """The core calls the screens make; every one runs in a worker thread."""

    build_stack: StackBuilder = build_stack
    disk_usage: Callable[..., DiskUsage] | None = field(
        default_factory=lambda: optional("overlayscope.usage.df", "disk_usage")
    )
    stack_efficiency: Callable[..., Efficiency] | None = field(
        default_factory=lambda: optional("overlayscope.usage.efficiency", "stack_efficiency")
    )
