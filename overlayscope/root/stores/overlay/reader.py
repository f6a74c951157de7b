"""The legacy overlay store's reader: `overlay/<id>/{root | upper,work,merged,lower-id}`,
with Docker's records (root/docker/graph.py).

An image layer's `root/` is the whole filesystem as of that layer (`full_tree`): what it
changed is found by comparing it with the layer beneath (`union/full_trees.py`). A
container's writable layer is an overlay upper dir over the image's top `root/` only; its
`upper/` starts as a copy of its init layer's (moby's `Create`), so its size is the naive
diff's (`SizeRule.CHANGES`), as Docker's `SizeRw` counts it.
"""

from __future__ import annotations

import os
import re
import stat

from overlayscope.root.docker.graph import GraphDir, GraphDirs, read_docker_graph
from overlayscope.root.model import Host, SizeRule, Store
from overlayscope.root.problems import Problem, ProblemKind, permission_problem
from overlayscope.root.records import (
    AccessDenied,
    RecordError,
    list_dir,
    lstat_known,
    lstat_or_none,
    read_optional_text,
)

DRIVER = "overlay"
_ID = re.compile(r"^[0-9a-f]{64}(-init)?$")


def read_host(root: str) -> Host:
    """Read a Docker data root (already known to use the legacy overlay driver)."""
    return read_docker_graph(
        root, DRIVER, read_dirs(os.path.join(root, DRIVER)), store=Store.DOCKER_OVERLAY,
        size_rule=SizeRule.CHANGES,
    )  # fmt: skip


def read_dirs(path: str) -> GraphDirs:
    """Every `overlay/<id>/` dir: a full tree (`root/`) or an upper dir over `lower-id`."""
    out = GraphDirs(path=path, lower_file="lower-id")
    try:
        names = list_dir(path)
    except RecordError as exc:
        out.problems.append(exc.problem)
        return out
    for name in names:
        dir_path = os.path.join(path, name)
        st = lstat_or_none(dir_path)
        if st is None:
            continue  # vanished while listed
        if stat.S_ISLNK(st.st_mode):
            out.problems.append(
                Problem(
                    ProblemKind.SYMLINK_IN_ROOT, dir_path, "layer dir is a symlink; not followed"
                )
            )
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        try:
            lstat_known(os.path.join(dir_path, "root"))
        except AccessDenied:
            # Root's alone: what it holds is unknown, reported once as such, never as a
            # dir that lost its tree; its content is kept, to be read (and said unread).
            out.problems.append(permission_problem(dir_path))
            out.dirs[name] = _denied_dir(name, dir_path)
            continue
        out.dirs[name] = _dir(name, dir_path, out.problems)
    for d in out.dirs.values():
        for beneath in d.lower:
            if beneath not in out.dirs:
                out.problems.append(
                    Problem(
                        ProblemKind.LOWER_MISSING_LINK,
                        os.path.join(d.path, "lower-id"),
                        f"names {beneath}, which is not in {DRIVER}/",
                    )
                )
    return out


def _denied_dir(dir_id: str, dir_path: str) -> GraphDir:
    """A dir the operating system refused to look into: content and records unknown."""
    return GraphDir(
        id=dir_id,
        path=dir_path,
        content_dir=os.path.join(dir_path, "upper"),
        link=None,
        lower=(),
        has_content=True,
        committed=False,
        merged=False,
        lower_known=False,
    )


def _dir(dir_id: str, dir_path: str, problems: list[Problem]) -> GraphDir:
    def is_dir(name: str) -> bool:
        st = lstat_or_none(os.path.join(dir_path, name))
        return st is not None and stat.S_ISDIR(st.st_mode)

    if is_dir("root"):
        return GraphDir(
            id=dir_id,
            path=dir_path,
            content_dir=os.path.join(dir_path, "root"),
            link=None,
            lower=(),
            has_content=True,
            committed=True,
            merged=False,
            full_tree=True,
        )
    lower_id = os.path.join(dir_path, "lower-id")
    has_upper = is_dir("upper")
    if not has_upper and lstat_or_none(lower_id) is None:
        # An image layer's dir keeps nothing but root/ (ApplyDiff removed upper/, work/ and
        # lower-id): this one lost its tree. Said once, as such, not as a broken container
        # layer with no layer beneath.
        problems.append(Problem(ProblemKind.MISSING_DIFF, dir_path, "no root/ and no upper/"))
        return GraphDir(
            id=dir_id,
            path=dir_path,
            content_dir=os.path.join(dir_path, "root"),
            link=None,
            lower=(),
            has_content=False,
            committed=True,
            merged=False,
            full_tree=True,
        )
    lower: tuple[str, ...] = ()
    try:
        named = read_optional_text(lower_id)
    except RecordError as exc:
        problems.append(exc.problem)
    else:
        if named is None:
            problems.append(
                Problem(ProblemKind.BAD_METADATA, lower_id, "missing: an upper dir over no layer")
            )
        elif _ID.match(named):
            lower = (named,)
        else:
            problems.append(Problem(ProblemKind.BAD_METADATA, lower_id, "not a layer id"))
    if not has_upper:
        problems.append(Problem(ProblemKind.MISSING_DIFF, dir_path, "no root/ and no upper/"))
    return GraphDir(
        id=dir_id,
        path=dir_path,
        content_dir=os.path.join(dir_path, "upper"),
        link=None,
        lower=lower,
        has_content=has_upper,
        committed=False,
        merged=is_dir("merged"),
    )
