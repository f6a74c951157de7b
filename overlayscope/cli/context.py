"""What every command needs: the chosen data root, opened once."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from overlayscope.errors import NotADataRoot, OverlayscopeError, PermissionDeniedError
from overlayscope.names import printable
from overlayscope.record import field, record
from overlayscope.root.load import open_host
from overlayscope.root.locate import Location, detect, locate
from overlayscope.root.model import Host
from overlayscope.root.problems import ProblemKind
from overlayscope.scan.cache import set_enabled as set_cache_enabled
from overlayscope.snapshot import embedded_archive, is_archive, unpack

if TYPE_CHECKING:
    from overlayscope.root.docker.daemon import Reaching


@record(frozen=False, slots=False)
class Context:
    """The global options and the host they lead to, loaded lazily."""

    args: argparse.Namespace
    source: str = ""  # a sentence saying which root is shown, for humans
    # Say on stderr when the daemon could not be used (not under the TUI, which owns the
    # terminal and lists problems itself).
    warn: bool = True
    _host: Host | None = field(default=None, repr=False)
    _located: Location | None = field(default=None, repr=False)
    # the daemon already being asked (`cli.main` begins before the arguments are parsed
    # where it safely can); else asked from here, at once
    reaching: Reaching | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # --no-cache: the library's default scan cache is off for this process
        set_cache_enabled(not getattr(self.args, "no_cache", False))
        if self.args.offline or self.args.snapshot or is_archive(self.args.root):
            if self.reaching is not None:  # cli.main never begins one for these
                raise AssertionError("a daemon asked for a root it must not be asked about")
        elif self.reaching is None:
            # its `_ping` and `info` answers arrive while the command's modules load
            from overlayscope.root.docker.daemon import Reaching

            self.reaching = Reaching()

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    def location(self) -> Location:
        archive = self.args.root if is_archive(self.args.root) else None
        if self.args.snapshot:
            archive = embedded_archive()
            if archive is None:
                raise OverlayscopeError(
                    "no embedded snapshot in this installation",
                    hint="pass --root PATH/dataroot.tar.xz",
                )
        if archive is not None:
            snap = unpack(archive)
            self.source = f"captured snapshot {os.path.basename(archive)}{snap.note}"
            return Location(
                snap.root,
                None,
                None,
                containerd_root=getattr(self.args, "containerd_root", None),
                namespace=getattr(self.args, "namespace", None),
            )
        options = self._store_options()
        root = self.args.root
        conf_path = getattr(self.args, "storage_conf", None)
        if conf_path:
            from overlayscope.root.stores.containers_storage.conf import read_storage_conf

            conf = read_storage_conf(conf_path)
            root = root or conf.graph_root
            options["run_root"] = conf.run_root
        # Located once: a daemon that does not answer is waited for once, not per call.
        if self._located is None:
            reaching, self.reaching = self.reaching, None
            self._located = locate(root, offline=self.args.offline, reaching=reaching, **options)
        loc = self._located
        if loc.daemon is not None:
            self.source = f"{loc.root} (daemon {loc.daemon.server_version} at {loc.daemon.host})"
        elif loc.daemon_problems:  # a daemon that may serve it could not be asked
            self.source = f"{loc.root} (daemon unavailable: the disk alone)"
        else:
            self.source = f"{loc.root} (offline)"
        return loc

    def _store_options(self) -> dict[str, str | None]:
        return {
            "containerd_root": getattr(self.args, "containerd_root", None),
            "namespace": getattr(self.args, "namespace", None),
        }

    def host(self) -> Host:
        if self._host is None:
            self._host = self._opened(self.location())
        return self._host

    def _opened(self, loc: Location) -> Host:
        host = open_host(loc)
        if loc.daemon is not None and host.daemon is None:
            self.source = f"{loc.root} (the daemon at {loc.daemon.host} gave no usable view)"
        if self.warn:
            warn_daemon_problems(host)
        # A Docker 29 data root is read with the containerd root beside it: say so.
        more = [r for r in host.all_roots if r != host.root]
        if more:
            self.source += " with " + ", ".join(more)
        return host

    def host_or_snapshot(self) -> Host:
        """The host's root; with none given and none readable, the embedded snapshot."""
        if self.args.root is not None or self.args.snapshot:
            return self.host()
        try:
            loc = self.location()
            detect(loc)
        except (NotADataRoot, PermissionDeniedError) as exc:
            if embedded_archive() is None:
                raise
            self.args.snapshot = True
            host = self.host()
            self.source += f" — no Docker data root here ({exc.message})"
            return host
        self._host = self._opened(loc)
        return self._host


def warn_daemon_problems(host: Host) -> None:
    """One line on stderr when the daemon could not be used, and one when it answered
    what its API never does: the answers are then the disk's (`check` lists each)."""
    for p in host.problems:
        if p.kind is ProblemKind.DAEMON_UNAVAILABLE:
            sys.stderr.write(
                f"overlayscope: warning: {printable(p.detail)} ({printable(p.path)})\n"
            )
    bad = [p for p in host.problems if p.kind is ProblemKind.BAD_DAEMON_REPLY]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        sys.stderr.write(
            f"overlayscope: warning: the Docker daemon answered what its API never does "
            f"({printable(bad[0].detail)}{more}): those answers are not used "
            "(`overlayscope check` lists them)\n"
        )
