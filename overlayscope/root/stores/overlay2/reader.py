"""The overlay2 store's reader: `overlay2/<id>/{diff,link,lower}` and `l/`, with Docker's
records (root/docker/graph.py)."""

from __future__ import annotations

import os

from overlayscope.root.docker.graph import GraphDir, GraphDirs, read_docker_graph
from overlayscope.root.model import Host, SizeRule, Store
from overlayscope.root.stores.overlay2.dirs import SHORT_LINK_DIR, read_overlay2

DRIVER = "overlay2"


def read_host(root: str) -> Host:
    """Read a Docker data root (already known to use overlay2) into one graph."""
    found = read_overlay2(os.path.join(root, DRIVER))
    dirs = GraphDirs(path=found.path, problems=found.problems)
    for dir_id, d in found.dirs.items():
        dirs.dirs[dir_id] = GraphDir(
            id=dir_id,
            path=d.path,
            content_dir=d.diff_dir,
            link=d.link,
            lower=d.lower,
            has_content=d.has_diff,
            committed=d.committed,
            merged=d.merged,
            lower_known=d.lower_known,
            link_path=(
                os.path.join(found.path, SHORT_LINK_DIR, d.link)
                if d.link is not None and found.links.get(d.link) == dir_id
                else None
            ),
        )
    return read_docker_graph(
        root, DRIVER, dirs, store=Store.DOCKER_OVERLAY2, size_rule=SizeRule.APPARENT
    )
