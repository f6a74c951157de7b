"""The JSON shapes of `df` and `efficiency`; a documented, versioned contract (docs/json.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: `--json df` loads no union, copy-up or efficiency code
    from overlayscope.usage.ci import Verdict
    from overlayscope.usage.copyup import CopyUps
    from overlayscope.usage.df import DiskUsage
    from overlayscope.usage.efficiency import Efficiency
    from overlayscope.usage.footprint import Footprint


def footprint(fp: Footprint) -> dict[str, int]:
    return {"apparent": fp.apparent, "allocated": fp.allocated}


def copy_ups(c: CopyUps | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "copied_up_files": c.copied_up_files,
        "copied_up_bytes": c.copied_up_bytes,
        "metadata_only_files": c.metadata_only_files,
        "metadata_only_bytes": c.metadata_only_bytes,
        "added_files": c.added_files,
        "added_bytes": c.added_bytes,
        "largest_copy_ups": [
            {
                "path": u.path,
                "size": u.size,
                "content": u.content,
                "meta": list(u.meta),
                "moved": u.moved,
                "nlink": u.nlink,
                "hardlink": u.nlink > 1,
            }
            for u in c.largest_copy_ups
        ],
        "largest_additions": [
            {"path": a.path, "size": a.size, "nlink": a.nlink, "hardlink": a.nlink > 1}
            for a in c.largest_additions
        ],
    }


def disk_usage(du: DiskUsage) -> dict[str, Any]:
    return {
        "root": du.root,
        "total": footprint(du.total),
        "categories": [
            {
                "name": str(c.category),
                "apparent": c.apparent,
                "allocated": c.allocated,
                "reclaimable": c.reclaimable,
                "count": c.count,
            }
            for c in du.categories
        ],
        "layers_size": du.layers_size,
        "images": [
            {
                "id": i.id,
                "tags": list(i.tags),
                "size": i.size,
                "shared_size": i.shared_size,
                "unique_size": i.unique_size,
                "allocated": i.allocated,
                "unique_allocated": i.unique_allocated,
                "containers": list(i.containers),
            }
            for i in du.images
        ],
        "containers": [
            {
                "id": c.id,
                "name": c.name,
                "image": c.image,
                "state": c.state,
                "active": c.active,
                "layer": c.layer,
                "init_layer": c.init_layer,
                "size": c.size,
                "writable": footprint(c.writable),
                "init": footprint(c.init),
                "logs": footprint(c.logs),
                "copy_ups": copy_ups(c.copy_ups),
            }
            for c in du.containers
        ],
        "volumes": [
            {
                "name": v.name,
                "size": v.size,
                "apparent": v.apparent,
                "allocated": v.allocated,
                "containers": None if v.containers is None else list(v.containers),
                "reclaimable": v.reclaimable,
            }
            for v in du.volumes
        ],
        "layers": [
            {
                "id": u.id,
                "role": str(u.role),
                "size": u.size,
                "apparent": u.apparent,
                "allocated": u.allocated,
                "owners": list(u.owners),
                "reclaimable": u.reclaimable,
                "unread": u.unread,
            }
            for u in du.layers
        ],
        "other": [
            {"name": o.name, "apparent": o.apparent, "allocated": o.allocated} for o in du.other
        ],
        "top": [
            {
                "kind": t.kind,
                "id": t.id,
                "name": t.name,
                "apparent": t.apparent,
                "allocated": t.allocated,
                "reclaimable": t.reclaimable,
            }
            for t in du.top
        ],
        "top_files": [
            {
                "path": f.path,
                "category": str(f.category),
                "owner": f.owner,
                "apparent": f.apparent,
                "allocated": f.allocated,
            }
            for f in du.top_files
        ],
        "blobs": [
            {
                "digest": b.digest,
                "size": b.size,
                "apparent": b.apparent,
                "allocated": b.allocated,
                "namespaces": list(b.namespaces),
                "reclaimable": b.reclaimable,
            }
            for b in du.blobs
        ],
        "roots": list(du.roots),
        "skipped_mounts": list(du.skipped_mounts),
        "scan_problems": [
            {"kind": p.kind, "path": p.path, "detail": p.detail} for p in du.problems
        ],
    }


def efficiency(e: Efficiency, verdict: Verdict | None) -> dict[str, Any]:
    return {
        "image": e.image,
        "tags": list(e.tags),
        "score": e.score,
        "wasted_bytes": e.wasted_bytes,
        "user_size": e.user_size,
        "user_wasted_bytes": e.user_wasted_bytes,
        "user_wasted_percent": e.user_wasted_percent,
        "hidden_bytes": e.hidden_bytes,
        "size": e.size,
        "layers": [
            {
                "id": layer.id,
                "created_by": layer.created_by,
                "size": layer.size,
                "content_size": layer.content_size,
                "hidden_bytes": layer.hidden_bytes,
            }
            for layer in e.layers
        ],
        "paths": [
            {"path": p.path, "count": p.count, "cumulative_size": p.cumulative_size}
            for p in e.paths
        ],
        "ci": None
        if verdict is None
        else {
            "pass": verdict.passed,
            "rules": [
                {
                    "rule": r.rule,
                    "threshold": r.threshold,
                    "status": str(r.status),
                    "message": r.message,
                }
                for r in verdict.rules
            ],
        },
    }
