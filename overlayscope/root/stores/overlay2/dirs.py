"""The overlay2 graph driver's own directory: `overlay2/<id>/` and the `l/` short links."""

from __future__ import annotations

import os
import stat

from overlayscope.record import field, record
from overlayscope.root.problems import Problem, ProblemKind, permission_problem
from overlayscope.root.records import (
    AccessDenied,
    RecordError,
    list_dir,
    lstat_known,
    lstat_or_none,
    read_optional_text,
)

# Docker refuses images deeper than 125 layers (daemon maxDepth); a `lower` far
# longer than that was not written by Docker.
MAX_LOWER = 128
SHORT_LINK_DIR = "l"
# Files Docker itself keeps in overlay2/ that are not layer dirs.
_NOT_LAYERS = {SHORT_LINK_DIR, "backingFsBlockDev"}


@record
class OverlayDir:
    """One `overlay2/<id>/` directory, as found on disk."""

    id: str
    path: str
    link: str | None  # its 26-char short name, from `link`
    lower_links: tuple[str, ...]  # `lower` as written: short names, top → bottom
    lower: tuple[str, ...]  # `lower` resolved to overlay2 dir ids, top → bottom
    has_diff: bool
    has_work: bool
    committed: bool  # `committed` marker: an image layer or a container's init layer
    merged: bool  # merged/ exists: the layer is (or was, at capture) mounted
    # The operating system refused a look inside (not root): its records and diff/ are
    # unknown, neither missing nor damaged; its content is kept as there, to be read later.
    denied: bool = False
    lower_known: bool = True  # False when `lower` could not be read or resolved (refused)

    @property
    def diff_dir(self) -> str:
        return os.path.join(self.path, "diff")


@record(frozen=False, slots=False)
class Overlay2Store:
    """Every overlay2 dir and short link of a data root, and what is wrong with them."""

    path: str
    dirs: dict[str, OverlayDir] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # short name → overlay2 dir id
    problems: list[Problem] = field(default_factory=list)
    links_denied: bool = False  # l/ could not be listed: short names come from `link` files

    def by_link(self, short: str) -> OverlayDir | None:
        dir_id = self.links.get(short)
        return self.dirs.get(dir_id) if dir_id is not None else None


def read_overlay2(path: str) -> Overlay2Store:
    """Read `<root>/overlay2`: its dirs, `l/` links and their consistency."""
    store = Overlay2Store(path=path)
    try:
        names = list_dir(path)
    except RecordError as exc:
        store.problems.append(exc.problem)
        return store
    store.links = _read_short_links(store, os.path.join(path, SHORT_LINK_DIR))
    raw: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    denied: list[str] = []
    for name in names:
        if name in _NOT_LAYERS:
            continue
        dir_path = os.path.join(path, name)
        st = lstat_or_none(dir_path)
        if st is None:
            continue  # vanished while listed
        if stat.S_ISLNK(st.st_mode):
            store.problems.append(
                Problem(
                    ProblemKind.SYMLINK_IN_ROOT, dir_path, "layer dir is a symlink; not followed"
                )
            )
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        try:
            lstat_known(os.path.join(dir_path, "diff"))
        except AccessDenied:
            # One problem for the dir, not one per record inside it that cannot be read.
            store.problems.append(permission_problem(dir_path))
            denied.append(name)
            continue
        raw[name] = _read_dir_records(dir_path, store.problems)
    if store.links_denied:
        # Without l/, each readable dir's own `link` file says which short name is its.
        for name, (link, _) in raw.items():
            if link is not None:
                store.links.setdefault(link, name)
    for name, (link, lower_links) in raw.items():
        store.dirs[name] = _assemble(store, name, link, lower_links)
    for name in denied:
        store.dirs[name] = OverlayDir(
            id=name,
            path=os.path.join(path, name),
            link=None,
            lower_links=(),
            lower=(),
            has_diff=True,  # unknown: kept, so that its reads say "unread", never "missing"
            has_work=False,
            committed=False,
            merged=False,
            denied=True,
            lower_known=False,
        )
    _check_lower_cycles(store)
    return store


def _check_lower_cycles(store: Overlay2Store) -> None:
    """Report dirs whose `lower` chains lead back to themselves (A beneath B beneath A).

    An iterative depth-first walk over "is beneath" edges, linear in their number: any
    depth, no recursion. Each edge that closes a cycle is reported at the dir naming it.
    """
    done: set[str] = set()
    for start in sorted(store.dirs):
        if start in done:
            continue
        on_path: set[str] = {start}
        pending = [(start, iter(store.dirs[start].lower))]
        while pending:
            dir_id, beneath = pending[-1]
            nxt = next(beneath, None)
            if nxt is None:
                pending.pop()
                on_path.discard(dir_id)
                done.add(dir_id)
                continue
            if nxt in on_path:
                store.problems.append(
                    Problem(
                        ProblemKind.LOWER_CYCLE,
                        os.path.join(store.dirs[dir_id].path, "lower"),
                        f"names {nxt} beneath it, which has this dir beneath it in turn",
                    )
                )
            elif nxt not in done and nxt in store.dirs:
                on_path.add(nxt)
                pending.append((nxt, iter(store.dirs[nxt].lower)))


def _read_short_links(store: Overlay2Store, l_path: str) -> dict[str, str]:
    problems = store.problems
    links: dict[str, str] = {}
    try:
        names = list_dir(l_path)
    except AccessDenied as exc:
        problems.append(exc.problem)
        store.links_denied = True
        names = []
    except RecordError as exc:
        if lstat_or_none(l_path) is not None:
            problems.append(exc.problem)
        names = []
    for short in names:
        link_path = os.path.join(l_path, short)
        try:
            target = os.readlink(link_path)
        except OSError:
            problems.append(Problem(ProblemKind.BAD_LINK, link_path, "not a symlink"))
            continue
        parts = target.split("/")
        if len(parts) != 3 or parts[0] != ".." or parts[2] != "diff" or parts[1] in ("", ".", ".."):
            problems.append(
                Problem(ProblemKind.BAD_LINK, link_path, f"target {target!r} is not ../<id>/diff")
            )
            continue
        dir_id = parts[1]
        if _known_missing(os.path.join(l_path, "..", dir_id, "diff")):
            problems.append(
                Problem(ProblemKind.DANGLING_LINK, link_path, f"points at missing {dir_id}/diff")
            )
            continue
        links[short] = dir_id
    return links


def _known_missing(path: str) -> bool:
    """True when `path` is known to be absent; a refused look proves nothing."""
    try:
        return lstat_known(path) is None
    except AccessDenied:
        return False


def _read_dir_records(dir_path: str, problems: list[Problem]) -> tuple[str | None, tuple[str, ...]]:
    link: str | None = None
    lower: tuple[str, ...] = ()
    try:
        link = read_optional_text(os.path.join(dir_path, "link"))
    except RecordError as exc:
        problems.append(exc.problem)
    try:
        text = read_optional_text(os.path.join(dir_path, "lower"))
        if text:
            lower = tuple(part.removeprefix("l/") for part in text.split(":"))
    except RecordError as exc:
        problems.append(exc.problem)
    return link, lower


def _assemble(
    store: Overlay2Store, dir_id: str, link: str | None, lower_links: tuple[str, ...]
) -> OverlayDir:
    dir_path = os.path.join(store.path, dir_id)
    problems = store.problems

    def is_dir(name: str) -> bool:
        st = lstat_or_none(os.path.join(dir_path, name))
        return st is not None and stat.S_ISDIR(st.st_mode)

    has_diff = is_dir("diff")
    if not has_diff:
        problems.append(Problem(ProblemKind.MISSING_DIFF, dir_path, "no diff/ directory"))
    if link is None:
        problems.append(Problem(ProblemKind.MISSING_LINK_FILE, dir_path, "no `link` file"))
    elif store.links.get(link) != dir_id and not store.links_denied:
        actual = store.links.get(link)
        detail = (
            f"l/{link} is missing" if actual is None else f"l/{link} leads to {actual}, not here"
        )
        problems.append(Problem(ProblemKind.LINK_MISMATCH, dir_path, detail))

    lower: list[str] = []
    if len(lower_links) > MAX_LOWER:
        problems.append(
            Problem(
                ProblemKind.LOWER_TOO_LONG,
                os.path.join(dir_path, "lower"),
                f"{len(lower_links)} lower layers; Docker never writes more than {MAX_LOWER}",
            )
        )
    seen: set[str] = set()
    lower_known = True
    for short in lower_links[:MAX_LOWER]:
        target = store.links.get(short)
        if short in seen or target == dir_id:
            problems.append(
                Problem(
                    ProblemKind.LOWER_CYCLE,
                    os.path.join(dir_path, "lower"),
                    f"l/{short} appears twice or names this dir itself",
                )
            )
            continue
        seen.add(short)
        if target is None and store.links_denied:
            lower_known = False  # l/ refused: the short name may be there, unseen
            continue
        if target is None:
            problems.append(
                Problem(
                    ProblemKind.LOWER_MISSING_LINK,
                    os.path.join(dir_path, "lower"),
                    f"names l/{short}, which does not exist",
                )
            )
            continue
        lower.append(target)
    return OverlayDir(
        id=dir_id,
        path=dir_path,
        link=link,
        lower_links=lower_links,
        lower=tuple(lower),
        has_diff=has_diff,
        has_work=is_dir("work"),
        committed=lstat_or_none(os.path.join(dir_path, "committed")) is not None,
        merged=is_dir("merged"),
        lower_known=lower_known,
    )
