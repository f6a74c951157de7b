"""Overlay semantics over scanned layers: stacks, provenance, changes, safe content reads.

`LayerStack` replays the kernel's overlayfs lookup over `LayerIndex`es
(provenance of a path, merged listings, the merged tree); `changes` is
`docker diff` computed from the layers on disk; `open_in_layer`,
`read_merged` and `unified_diff` read file data without ever following a
symlink out of the layer tree. Nothing here prints or imports a UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overlayscope.lazy import lazy_exports

if TYPE_CHECKING:
    from overlayscope.union.content import (
        NotARegularFile,
        layer_xattr,
        open_in_layer,
        read_in_layer,
        same_content,
        sha256_in_layer,
    )
    from overlayscope.union.diff import Change, ChangeKind, changes, same_fs_time
    from overlayscope.union.lookup import StackLayer
    from overlayscope.union.provenance import Blocker, BlockerKind, HitState, Provenance, StackHit
    from overlayscope.union.resolve import ResolvedPath, open_merged, read_merged, resolve_merged
    from overlayscope.union.stack import LayerStack, MergedEntry, NotADirectory
    from overlayscope.union.textdiff import FileDiff, FileVersion, unified_diff

__getattr__ = lazy_exports(
    __name__,
    {
        "Change": "diff",
        "ChangeKind": "diff",
        "changes": "diff",
        "same_fs_time": "diff",
        "NotARegularFile": "content",
        "layer_xattr": "content",
        "open_in_layer": "content",
        "read_in_layer": "content",
        "same_content": "content",
        "sha256_in_layer": "content",
        "StackLayer": "lookup",
        "Blocker": "provenance",
        "BlockerKind": "provenance",
        "HitState": "provenance",
        "Provenance": "provenance",
        "StackHit": "provenance",
        "ResolvedPath": "resolve",
        "open_merged": "resolve",
        "read_merged": "resolve",
        "resolve_merged": "resolve",
        "LayerStack": "stack",
        "MergedEntry": "stack",
        "NotADirectory": "stack",
        "FileDiff": "textdiff",
        "FileVersion": "textdiff",
        "unified_diff": "textdiff",
    },
)

__all__ = [
    "Blocker",
    "BlockerKind",
    "Change",
    "ChangeKind",
    "FileDiff",
    "FileVersion",
    "HitState",
    "LayerStack",
    "MergedEntry",
    "NotADirectory",
    "NotARegularFile",
    "Provenance",
    "ResolvedPath",
    "StackHit",
    "StackLayer",
    "changes",
    "layer_xattr",
    "open_in_layer",
    "open_merged",
    "read_in_layer",
    "read_merged",
    "resolve_merged",
    "same_content",
    "same_fs_time",
    "sha256_in_layer",
    "unified_diff",
]
