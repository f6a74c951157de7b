"""What the file panel shows for one path, as `Text`: provenance, a content preview, a diff.

These functions call the core's safe readers (never `open()`); they may block
on disk and run in a worker. Every name and every byte of content goes through
`overlayscope.tui.text`, so nothing in the evidence reaches the terminal raw.
"""

from __future__ import annotations

import stat

from rich.text import Text

from overlayscope.errors import OverlayscopeError
from overlayscope.names import plural
from overlayscope.root.model import IdMap, inside_id
from overlayscope.scan import Entry, Kind
from overlayscope.tui.text import content_lines, hexdump, role_text, safe, short_id, size
from overlayscope.union import (
    Change,
    ChangeKind,
    HitState,
    LayerStack,
    Provenance,
    StackHit,
    read_in_layer,
    read_merged,
    resolve_merged,
    unified_diff,
)

PREVIEW_BYTES = 64 * 1024
HEX_BYTES = 512
SNIFF = 8192
MAX_LISTING = 200
MAX_DIFF_LINES = 5000

STATE_STYLE = {
    HitState.WINS: "bold green",
    HitState.MERGED: "cyan",
    HitState.WHITEOUT: "bold red",
    HitState.UNKNOWN: "bold yellow",  # beneath a layer that could not be read there
}


def layer_number(stack: LayerStack, position: int) -> int:
    """Layers are numbered from the base (L0) up, as in the image's layer table."""
    return len(stack.layers) - 1 - position


def layer_name(stack: LayerStack, position: int) -> str:
    layer = stack.layers[position]
    return f"L{layer_number(stack, position)} {short_id(layer.id)}"


def owner(entry: Entry, id_maps: tuple[tuple[IdMap, ...], tuple[IdMap, ...]]) -> str:
    """`uid:gid` as the container sees them; mapped ids also as the host's files carry
    them, `?` for a host id no range of the map covers."""
    uids, gids = id_maps
    if not uids and not gids:
        return f"{entry.uid}:{entry.gid}"
    uid, gid = inside_id(uids, entry.uid), inside_id(gids, entry.gid)
    seen = f"{'?' if uid is None else uid}:{'?' if gid is None else gid}"
    return f"{seen} (host {entry.uid}:{entry.gid})"


def describe_entry(
    entry: Entry, id_maps: tuple[tuple[IdMap, ...], tuple[IdMap, ...]] = ((), ())
) -> Text:
    """Kind, permissions and owner (as the container sees it: for a rootless store, with
    the host's ids after it), plus overlay marks, of one layer's entry."""
    text = Text(no_wrap=True)
    text.append(entry.kind.value, style="magenta" if entry.kind is Kind.OPAQUE_DIR else "")
    if entry.kind is Kind.SYMLINK:
        text.append(" → ", style="dim")
        text.append(safe(entry.target or ""))
    elif entry.kind is not Kind.WHITEOUT:
        text.append(f" {stat.S_IMODE(entry.mode):04o} {owner(entry, id_maps)}", style="dim")
    x = entry.xattrs
    if x is not None:
        marks = [
            name
            for name, on in (
                ("origin", x.origin is not None),
                ("impure", x.impure),
                ("redirect", x.redirect is not None),
                ("metacopy", x.metacopy),
                ("xattr-whiteout", x.whiteout),
            )
            if on
        ]
        if marks:
            text.append(f" [{', '.join(marks)}]", style="yellow")
    return text


def state_text(stack: LayerStack, hit: StackHit) -> Text:
    if hit.state in STATE_STYLE:
        return Text(hit.state.value, style=STATE_STYLE[hit.state])
    # "hidden-by-whiteout" → "hidden: whiteout L6", naming the layer of the blocker.
    text = Text("hidden: " + hit.state.value.removeprefix("hidden-by-"), style="dim")
    blocker = hit.hidden_by
    if blocker is not None:
        position = _position(stack, blocker.layer_id)
        text.append(f" L{layer_number(stack, position)}" if position is not None else " ?")
    return text


def _position(stack: LayerStack, layer_id: str) -> int | None:
    return next((i for i, layer in enumerate(stack.layers) if layer.id == layer_id), None)


def provenance_summary(stack: LayerStack, prov: Provenance) -> Text:
    """One sentence: who wins, or what hides the path."""
    text = Text(no_wrap=False)
    if not prov.known:
        text.append("cannot tell whether it is visible: ", style="bold yellow")
        text.append(_unread_layers(stack, prov))
    elif prov.winner is not None:
        text.append("visible from ", style="dim")
        text.append(layer_name(stack, prov.winner.position), style="bold green")
        text.append(" (")
        text.append(role_text(prov.winner.role))
        text.append(")")
        if len(prov.stack) > 1:
            hidden = len(prov.hidden)
            text.append(f"; {len(prov.stack)} layers hold it, {hidden} hidden", style="dim")
    elif prov.hidden_by is not None:
        blocker = prov.hidden_by
        position = _position(stack, blocker.layer_id)
        text.append("not visible: ", style="bold red")
        kind = blocker.kind.value
        text.append(f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} at ")
        text.append(safe(blocker.path))
        where = layer_name(stack, position) if position is not None else short_id(blocker.layer_id)
        text.append(f" in {where} ({blocker.role}) hides it")
    else:
        text.append("in no layer of this stack", style="dim")
    if prov.known and prov.unknown:
        text.append("\nbeneath it, unknown: ", style="yellow")
        text.append(_unread_layers(stack, prov))
    for note in prov.notes:
        text.append("\nnote: ", style="bold yellow")
        text.append(safe(note))
    return text


def _unread_layers(stack: LayerStack, prov: Provenance) -> Text:
    """For each unread layer: `L3 could not be read at /app/conf (Permission denied)`."""
    text = Text()
    for i, part in enumerate(prov.unknown):
        text.append("; " if i else "")
        text.append(layer_name(stack, part.position), style="bold")
        text.append(" could not be read at ")
        text.append(safe(part.path))
        text.append(safe(f" ({part.detail})", style="dim"))
    return text


def change_summary(change: Change | None) -> Text:
    """What changed, in words, beyond the letter."""
    text = Text(no_wrap=False)
    if change is None:
        text.append("unchanged", style="dim")
        return text
    kind = {"A": "added", "C": "changed", "D": "deleted"}[change.kind.value]
    text.append(kind, style={"A": "green", "C": "yellow", "D": "red"}[change.kind.value])
    text.append(f" {change.entry}, {size(change.size)}")
    if change.copy_up and change.entry == "file":
        text.append("; copy-up: ", style="bold yellow")
        text.append(f"the whole file ({size(change.size)}) was copied into the top layer")
        if change.content == "same":
            text.append(" though its bytes did not change", style="yellow")
    if change.content is not None and not change.copy_up:
        text.append(f"; content {change.content}")
    if change.meta:
        text.append(f"; differs in {', '.join(change.meta)}", style="dim")
    return text


def _render_data(data: bytes, total: int) -> Text:
    """Text lines for UTF-8 text, a hex dump otherwise; says when it is cut short."""
    out = Text(no_wrap=True)
    cut = len(data) > PREVIEW_BYTES
    data = data[:PREVIEW_BYTES]
    decoded: str | None = None
    if b"\0" not in data[:SNIFF]:
        for trim in range(4 if cut else 1):  # a cut may split a multi-byte character
            try:
                decoded = data[: len(data) - trim].decode("utf-8")
                break
            except UnicodeDecodeError:
                continue
    if decoded is None:
        out.append(f"binary data, {size(total)}; the first {HEX_BYTES} bytes:\n\n", style="dim")
        out.append(hexdump(data[:HEX_BYTES]))
        return out
    out.append(content_lines(decoded))
    if cut:
        out.append(f"\n… the first {size(PREVIEW_BYTES)} of {size(total)} shown", style="dim")
    return out


def preview(stack: LayerStack, path: str, change: Change | None) -> Text:
    """The content of `path` in the merged view; for a deletion, the version beneath."""
    if (change is not None and change.kind is ChangeKind.DELETED) or stack.winner(path) is None:
        below = stack.below()
        hit = below.winner(path)
        if hit is None:
            return Text("nothing to show: the path is in no layer beneath", style="dim")
        out = Text("deleted; the version beneath, from ", style="dim")
        out.append(layer_name(stack, hit.position + 1))
        out.append(":\n\n")
        layer = below.layers[hit.position]
        out.append(_entry_view(below, path, hit.entry, layer.content_dir))
        return out
    winner = stack.winner(path)
    assert winner is not None
    return _entry_view(stack, path, winner.entry, stack.layers[winner.position].content_dir)


def _entry_view(stack: LayerStack, path: str, entry: Entry, content_dir: str) -> Text:
    if entry.kind is Kind.FILE:
        return _render_data(
            read_in_layer(content_dir, path, max_bytes=PREVIEW_BYTES + 1), entry.size
        )
    if entry.kind.is_dir:
        return _listing(stack, path)
    if entry.kind is Kind.SYMLINK:
        return _symlink(stack, path, entry)
    return Text(f"{entry.kind.value} ({stat.filemode(entry.mode)}): not read", style="dim")


def _listing(stack: LayerStack, path: str) -> Text:
    entries = stack.listdir(path)
    out = Text(
        f"directory, {plural(len(entries), 'entry', 'entries')} in the merged view\n\n", style="dim"
    )
    for e in entries[:MAX_LISTING]:
        out.append(f"L{layer_number(stack, e.position):<3} ", style="dim")
        out.append(safe(e.name + ("/" if e.entry.kind.is_dir else "")))
        out.append("\n")
    if len(entries) > MAX_LISTING:
        out.append(f"… {len(entries) - MAX_LISTING:,} more", style="dim")
    return out


def _symlink(stack: LayerStack, path: str, entry: Entry) -> Text:
    out = Text("symlink → ", style="dim")
    out.append(safe(entry.target or ""))
    try:
        where = resolve_merged(stack, path)
    except OverlayscopeError as exc:
        out.append("\ndoes not resolve inside the container: ", style="yellow")
        out.append(safe(exc.message))
        return out
    out.append("\nresolves inside the container to ", style="dim")
    out.append(safe(where.path))
    out.append(
        f" ({where.entry.kind.value}, from layer {short_id(where.layer_id)})\n\n", style="dim"
    )
    if where.entry.kind is Kind.FILE:
        data = read_merged(stack, path, max_bytes=PREVIEW_BYTES + 1)
        out.append(_render_data(data, where.entry.size))
    return out


def diff_view(stack: LayerStack, path: str, change: Change | None = None) -> Text:
    """`path` against the version beneath the top layer: versions, digests and a unified diff."""
    out = Text(no_wrap=True)
    hits = [stack.winner(path), stack.below().winner(path)]
    if not any(hit is not None and hit.entry.kind in (Kind.FILE, Kind.SYMLINK) for hit in hits):
        out.append("no content to compare: ", style="dim")
        out.append("not a regular file or symlink on either side\n\n", style="dim")
        out.append(preview(stack, path, change))
        return out
    d = unified_diff(stack, path)
    for label, version in (("beneath", d.old), ("now", d.new)):
        out.append(f"{label:<8}", style="bold")
        if version is None:
            out.append("absent\n", style="dim")
            continue
        out.append(f"{version.kind} {size(version.size)} in {short_id(version.layer_id)}")
        out.append(f" ({version.role})", style="dim")
        if version.sha256:
            out.append(f"  sha256 {version.sha256[:16]}…", style="dim")
        out.append("\n")
    if d.identical:
        out.append("identical content\n", style="bold green")
    if d.note:
        out.append(safe(d.note, style="yellow"))
        out.append("\n")
    if d.text:
        out.append("\n")
        lines = d.text.splitlines()
        for line in lines[:MAX_DIFF_LINES]:
            style = ""
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            out.append(safe(line.expandtabs(4), style=style))
            out.append("\n")
        if len(lines) > MAX_DIFF_LINES:
            out.append(f"… {len(lines) - MAX_DIFF_LINES:,} more lines", style="dim")
    return out
