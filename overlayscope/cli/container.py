"""`container`: what a container changed, as `docker diff` (or `podman diff`) says it."""

from __future__ import annotations

import argparse
import json
from json.encoder import encode_basestring_ascii
from typing import Any

from overlayscope.cli.context import Context
from overlayscope.cli.incomplete import incomplete, note_unread, unread_json
from overlayscope.cli.plain import Encoded, write_json
from overlayscope.cli.progress import stack_with_progress
from overlayscope.errors import ExitCode, UnknownReference
from overlayscope.root.model import Container
from overlayscope.root.refs import resolve
from overlayscope.union import Change, changes
from overlayscope.union.summary import ChangeTotals, change_totals
from overlayscope.union.unread import unread_in_changes


def register(sub: Any) -> None:
    """Add `container` to the argparse sub-parsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "container", help="what a container changed: docker diff, with copy-up and content facts"
    )
    p.add_argument("ref", metavar="REF", help="container name, id or unique id prefix")
    p.add_argument("--tui", action="store_true", help="open the TUI on this container")
    p.set_defaults(func=cmd_container)


def change_json(change: Change) -> dict[str, Any]:
    return {
        "path": change.path,
        "kind": str(change.kind),
        "entry": str(change.entry),
        "size": change.size,
        "copy_up": change.copy_up,
        "content": change.content,
        "meta": list(change.meta),
        "layer": change.layer_id,
        "runtime": change.runtime,
        "nlink": change.nlink,
        "hardlink": change.hard_link,
    }


class _ChangeEncoder:
    """`json.dumps(change_json(change), ensure_ascii=True)`, made ~5x faster: the strings
    through json's own C escaper, the few distinct kinds, entries, meta and layer ids
    encoded once."""

    def __init__(self) -> None:
        self._texts: dict[object, str] = {None: "null"}
        self._metas: dict[tuple[str, ...], str] = {}

    def _text(self, value: str | None) -> str:
        text = self._texts.get(value)
        if text is None:
            text = self._texts[value] = encode_basestring_ascii(str(value))
        return text

    def __call__(self, c: Change) -> str:
        text = self._text
        meta = self._metas.get(c.meta)
        if meta is None:
            meta = self._metas[c.meta] = json.dumps(list(c.meta), ensure_ascii=True)
        return (
            f'{{"path": {encode_basestring_ascii(c.path)}, "kind": {text(c.kind)}, '
            f'"entry": {text(c.entry)}, "size": {int(c.size)}, '
            f'"copy_up": {"true" if c.copy_up else "false"}, "content": {text(c.content)}, '
            f'"meta": {meta}, "layer": {text(c.layer_id)}, '
            f'"runtime": {"true" if c.runtime else "false"}, "nlink": {int(c.nlink)}, '
            f'"hardlink": {"true" if c.hard_link else "false"}}}'
        )


def changes_json(found: list[Change]) -> Encoded:
    """Every change as `change_json` gives it, encoded."""
    encode = _ChangeEncoder()
    return Encoded(encode(c) for c in found)


def totals_json(t: ChangeTotals) -> dict[str, int]:
    return {
        "added": t.added,
        "changed": t.changed,
        "deleted": t.deleted,
        "added_bytes": t.added_bytes,
        "changed_bytes": t.changed_bytes,
        "deleted_bytes": t.deleted_bytes,
        "copied_up": t.copied_up,
        "copied_up_bytes": t.copied_up_bytes,
        "metadata_only": t.metadata_only,
        "metadata_only_bytes": t.metadata_only_bytes,
    }


@incomplete
def cmd_container(ctx: Context) -> int:
    host = ctx.host()
    obj = resolve(host, ctx.args.ref, images=False)
    if not isinstance(obj, Container):  # resolve() with images=False returns containers only
        raise UnknownReference(f"{ctx.args.ref!r} is not a container")
    if ctx.args.tui:
        from overlayscope.tui.app import run_app  # Textual loads only for the TUI

        return run_app(ctx, focus=obj)
    stack = stack_with_progress(host, obj)
    every = changes(stack, rule=host.change_rule, runtime_files=obj.runtime_files)
    found = [c for c in every if not c.runtime]
    runtime = [c for c in every if c.runtime]
    totals = change_totals(stack, found)
    unread = unread_in_changes(stack.layers)
    note_unread(
        ctx, unread, "changes at or beneath it are unknown (missing from the list and totals)"
    )
    if ctx.json:
        write_json(
            {
                "id": obj.id,
                "name": obj.name,
                "image": obj.image_id,
                "store": str(host.store),
                "namespace": obj.namespace,
                "state": obj.state,
                "layers": [{"id": layer.id, "role": layer.role} for layer in stack.layers],
                "changes": changes_json(every),
                "totals": totals_json(totals),
                "problems": unread_json(unread),
            }
        )
        return ExitCode.OK
    from overlayscope.cli.change_tree import print_changes  # the tree, for a person only

    print_changes(obj, found, runtime, totals, unread)
    return ExitCode.OK
