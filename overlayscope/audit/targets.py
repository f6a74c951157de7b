"""Which layers an audit looks at, what lies beneath each, and scanning them all once."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from overlayscope.audit.findings import AuditProblem
from overlayscope.audit.progress import ProgressCallback, Reporter
from overlayscope.audit.times import parse_rfc3339_ns
from overlayscope.record import record
from overlayscope.root.model import Container, Host, Image, Role
from overlayscope.scan import LayerIndex, ScanProgress, scan_layers
from overlayscope.union import LayerStack, StackLayer
from overlayscope.union.host_stacks import host_stack

INCOMPLETE = "audit-incomplete"


@record
class AuditTarget:
    """One layer to audit: its role, owner, and the layer ids of its stack (itself first)."""

    layer_id: str
    role: str  # "rw", "init" or "image"
    stack: tuple[str, ...]  # top → bottom, this layer first; what lies beneath is stack[1:]
    container: Container | None = None
    image_id: str | None = None
    image_created_ns: int | None = None  # the image's `created`, for mtime checks


def plan(host: Host, *, images: bool) -> tuple[list[AuditTarget], list[AuditProblem]]:
    """Every container's rw and init layer; with `images`, every image layer once too."""
    targets: list[AuditTarget] = []
    problems: list[AuditProblem] = []
    for c in sorted(host.containers.values(), key=lambda c: (c.name, c.id)):
        image = host.image_of(c)
        created = parse_rfc3339_ns(image.created) if image is not None else None
        stack = _present(host, c.stack())
        if c.layer is None or c.layer not in stack:
            problems.append(
                AuditProblem(
                    INCOMPLETE,
                    c.path,
                    f"container {c.name} ({c.id[:12]}): its writable layer is missing; not audited",
                )
            )
            continue
        if not _complete(host, c, stack):
            problems.append(
                AuditProblem(
                    INCOMPLETE,
                    c.path,
                    f"container {c.name} ({c.id[:12]}): its layer chain is broken; its layers "
                    "were compared with the layers that remain, so 'added' may mean 'changed'",
                )
            )
        for i, lid in enumerate(stack):
            role = host.layers[lid].role
            if role in (Role.RW, Role.INIT) and lid in (c.layer, c.init_layer):
                targets.append(
                    AuditTarget(lid, str(role), tuple(stack[i:]), c, c.image_id, created)
                )
    if images:
        targets.extend(_image_targets(host, problems))
    return targets, problems


def _image_targets(host: Host, problems: list[AuditProblem]) -> list[AuditTarget]:
    seen: set[str] = set()
    out: list[AuditTarget] = []
    # Smaller images first: a shared base layer is attributed to the base image itself.
    ordered = sorted(
        host.images.values(), key=lambda i: (i.intermediate, not i.tags, len(i.layers), i.id)
    )
    for image in ordered:
        stack = _present(host, image.stack())
        if len(stack) != len(image.layers):
            problems.append(
                AuditProblem(
                    INCOMPLETE,
                    image.path or host.root,
                    f"image {_label(image)}: {len(image.layers) - len(stack)} of its layers are "
                    "missing; the rest were compared with the layers that remain",
                )
            )
        created = parse_rfc3339_ns(image.created)
        for i, lid in enumerate(stack):
            if lid in seen:
                continue
            seen.add(lid)
            out.append(AuditTarget(lid, "image", tuple(stack[i:]), None, image.id, created))
    return out


def _present(host: Host, ids: Iterable[str]) -> list[str]:
    return [lid for lid in ids if lid in host.layers and host.layers[lid].has_content]


def _complete(host: Host, c: Container, stack: list[str]) -> bool:
    image = host.image_of(c)
    if image is None or (c.init_expected and c.init_layer is None):
        return False
    return len(stack) == int(c.init_layer is not None) + 1 + len(image.layers)


def _label(image: Image) -> str:
    return image.tags[0] if image.tags else image.id.removeprefix("sha256:")[:12]


def scan_for(
    host: Host,
    targets: list[AuditTarget],
    extra: Iterable[str] = (),
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> dict[str, LayerIndex]:
    """Scan every layer the targets stand on (each once, in parallel), plus `extra` ids."""
    ids = dict.fromkeys(lid for t in targets for lid in t.stack)
    ids.update(dict.fromkeys(lid for lid in extra if lid in host.layers))
    dirs = {lid: host.layers[lid].content_dir for lid in ids if host.layers[lid].has_content}
    if not dirs:
        return {}
    report = Reporter(progress)

    def on_scan(p: ScanProgress) -> None:
        report("scan", p.layers_done, p.layers_total, p.current, p.entries)

    return scan_layers(
        dirs,
        cancel=cancel,
        progress=on_scan,
        workers=workers,
        overlay_xattrs=host.overlay_xattrs,
    )


def stack_of(
    host: Host, target: AuditTarget, indexes: dict[str, LayerIndex]
) -> tuple[StackLayer, LayerStack]:
    """The audited layer and the stack beneath it, from the scanned indexes."""
    stack = host_stack(
        host,
        [
            StackLayer(lid, str(host.layers[lid].role), indexes[lid])
            for lid in target.stack
            if lid in indexes
        ],
    )
    return stack.layers[0], stack.below()
