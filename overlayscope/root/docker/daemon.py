"""The optional live view: a Docker daemon for the same data root.

It is asked through `api.Client` (the standard library alone) for a unix socket or a
`tcp://` address, through the docker SDK (`sdk.py`) only for the addresses that client does not
speak (`ssh://`, …), imported then and only then.

The disk is the source of truth; the daemon enriches it (live state, names) and is
cross-checked against it. Nothing here is needed for an offline snapshot.

The daemon is untrusted input, like the disk: a daemon that cannot be reached (refused,
permission denied), that does not answer in time, or that answers what the Docker API
never does (a wrong JSON type, a state that is no Docker state, a name Docker would
refuse) is a problem record — `daemon-unavailable` or `bad-daemon-reply` — and the
answers are the disk's. Nothing here raises on what the daemon says, and no wait on it
is unbounded: every request has a timeout, and the whole conversation a deadline.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from overlayscope.errors import OverlayscopeError
from overlayscope.record import field, record
from overlayscope.root.docker.api import DEFAULT_SOCKET as DEFAULT_SOCKET
from overlayscope.root.docker.api import (
    BadHost,
    BadReply,
    Client,
    DaemonAPI,
    NotFound,
    parse_host,
)
from overlayscope.root.docker.api import clip as clip
from overlayscope.root.docker.api import json_type as json_type
from overlayscope.root.model import DaemonInfo
from overlayscope.root.problems import Problem, ProblemKind

TIMEOUT_ENV = "OVERLAYSCOPE_DAEMON_TIMEOUT"
DEFAULT_TIMEOUT = 5.0  # seconds any one request may take
REACH_BUDGET = 2  # reaching the daemon (`_ping`, then `info`): this many timeouts
VIEW_BUDGET = 6  # listing and inspecting every container and image: this many timeouts
# Inspects asked at once, each on its own connection: dockerd answers them side by side
# (60 images and 30 containers: 0.181 s → 0.174 s for `containers`; docs/performance.md).
INSPECT_CONNECTIONS = 4

# Docker's own words (moby container/state.go StateString()); anything else is no state.
STATES = frozenset({"created", "running", "paused", "restarting", "removing", "exited", "dead"})
# The names Docker accepts (moby daemon/names: RestrictedNamePattern), with its "/".
NAME = re.compile(r"/[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
# A version as Docker writes it ("20.10.24+dfsg1", "29.0.1"): visible ASCII, no spaces.
_VERSION = re.compile(r"[\x21-\x7e]{1,128}")

T = TypeVar("T")


@record(slots=False)
class Live:
    """A daemon that answered: its client, its `info` reply as it came, and the
    timeout every further request gets."""

    api: DaemonAPI
    raw_info: dict[str, Any]
    timeout: float


@record(slots=False)
class Reach:
    """How trying to reach the daemon went: a client and what `info` said, or why not."""

    client: Live | None = None
    info: DaemonInfo | None = None
    problems: tuple[Problem, ...] = ()
    explicit: bool = False  # DOCKER_HOST named the daemon (not the default socket)


@record(frozen=False, slots=False)
class DaemonView:
    """What the daemon says, fetched once: info plus GraphDriver data per object.

    `complete` is False when the lists of containers and images could not be had whole
    (an error, a reply of the wrong shape, no answer in time): such a view is not used
    at all, since a missing entry would read as "the daemon does not list it".
    """

    info: DaemonInfo
    native_diff: bool | None = None
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → inspect
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → inspect
    listed_containers: set[str] = field(default_factory=set)  # ids, inspected or not
    listed_images: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    complete: bool = True


def timeout_seconds() -> float:
    """Seconds one request to the daemon may take: `OVERLAYSCOPE_DAEMON_TIMEOUT`, else 5."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise OverlayscopeError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds",
            hint="give a number greater than 0, at most 3600 (default 5)",
        )
    return value


def reach(timeout: float | None = None) -> Reach:
    """The daemon `DOCKER_HOST` names, else the one on the default socket, and its `info`
    (`Reaching`, waited for)."""
    return Reaching(timeout).result()


class Reaching:
    """Reaching the daemon, under way from the moment this is made: its `_ping` and
    `info` round trips run while the caller goes on (the CLI loads the command's modules
    meanwhile); `result()` waits for them, within the deadline, and says how it went.

    With no `DOCKER_HOST` and no default socket there is no daemon to talk to: an empty
    `Reach`, no problem. Otherwise any failure — no such socket, refused, permission
    denied, no answer within the budget, an `info` of the wrong shape — is a problem
    naming the socket (or URL), and no client. Making one never raises: a bad
    OVERLAYSCOPE_DAEMON_TIMEOUT is raised by `result()`, where the command's errors are.
    """

    def __init__(self, timeout: float | None = None) -> None:
        self.explicit = bool(os.environ.get("DOCKER_HOST"))
        self._done: Reach | None = None
        self._error: OverlayscopeError | None = None
        self._running: _Background[tuple[DaemonAPI, Any]] | None = None
        if not self.explicit and not os.path.lexists(DEFAULT_SOCKET):
            self._done = Reach()
            return
        try:
            self.seconds = timeout_seconds() if timeout is None else timeout
        except OverlayscopeError as exc:
            self._error = exc
            return
        url = os.environ.get("DOCKER_HOST") or "unix://" + DEFAULT_SOCKET
        self.shown = endpoint_name(url)
        try:
            endpoint = parse_host(url)
        except BadHost as exc:
            self._done = self._unavailable(f"cannot be reached: {exc}")
            return
        connect: Callable[[], tuple[DaemonAPI, Any]]
        if endpoint is not None:
            seconds = self.seconds

            def connect() -> tuple[DaemonAPI, Any]:
                client = Client(endpoint, seconds)
                return client, client.info()

        else:  # ssh:// and the rest: the SDK's, so that no address it reaches is lost
            from overlayscope.root.docker.sdk import sdk_connect

            connect_sdk = sdk_connect(self.seconds)
            if connect_sdk is None:
                self._done = Reach()
                return
            connect = connect_sdk
        self._running = _Background(connect)

    def result(self) -> Reach:
        """How reaching the daemon went (waited for at most REACH_BUDGET timeouts from
        the start)."""
        if self._error is not None:
            raise self._error
        if self._done is None:
            self._done = self._finish()
        return self._done

    def _finish(self) -> Reach:
        assert self._running is not None
        budget = self.seconds * REACH_BUDGET
        try:
            client, raw = self._running.result(self._running.started + budget)
        except _TooSlow:
            return self._unavailable(f"did not answer within {budget:g} s")
        except Exception as exc:  # the SDK, requests and urllib3 raise errors of every kind
            garbage = _garbage(exc)
            if garbage is not None:
                detail = f"the Docker daemon answered {garbage}: not used"
                return Reach(problems=(bad_reply(self.shown, detail),), explicit=self.explicit)
            return self._unavailable(why_unreachable(exc, self.seconds))
        info, problems = parse_info(raw, self.shown)
        if info is None:
            return Reach(problems=tuple(problems), explicit=self.explicit)
        live = Live(client, raw, self.seconds)
        return Reach(client=live, info=info, problems=tuple(problems), explicit=self.explicit)

    def _unavailable(self, why: str) -> Reach:
        detail = f"the Docker daemon {why}: the answers are the disk's alone"
        return Reach(problems=(Problem(ProblemKind.DAEMON_UNAVAILABLE, self.shown, detail),),
                     explicit=self.explicit)  # fmt: skip


def endpoint_name(url: str) -> str:
    """What to show for a daemon's address: a unix socket's path, else the URL."""
    for prefix in ("unix://", "http+unix://"):
        if url.startswith(prefix):
            return url[len(prefix) :] or DEFAULT_SOCKET
    return url


class _TooSlow(Exception):
    """The daemon's conversation passed its deadline."""


class _Background(Generic[T]):
    """`work()` under way in a daemon thread from the moment this is made: a daemon that
    trickles bytes evades every per-request timeout, and is left to it (nothing waits for
    that thread past a deadline, not even the interpreter's exit)."""

    def __init__(self, work: Callable[[], T], name: str = "overlayscope-daemon") -> None:
        self._box: dict[str, Any] = {}
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            self._box["error"] = exc

    def result(self, deadline: float) -> T:
        """`work()`'s result (or what it raised), or `_TooSlow` once `deadline` (a
        `time.monotonic()` time) passes."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            raise _TooSlow
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]  # type: ignore[no-any-return]


def why_unreachable(exc: BaseException, seconds: float) -> str:
    """A few words for why a daemon could not be reached, from the OS error or timeout
    somewhere in the chain (the SDK wraps it in its own, requests' and urllib3's)."""
    for inner in _chain(exc):
        if _is_api_error(inner):
            return f"answered with an error: {clip(str(inner))}"
        if isinstance(inner, TimeoutError) or type(inner).__name__ in (
            "ReadTimeout",
            "ConnectTimeout",
            "ReadTimeoutError",
            "ConnectTimeoutError",
        ):
            return f"did not answer within {seconds:g} s"
        if any(t.__name__ == "SSLError" for t in type(inner).__mro__):  # its errno is TLS's
            return f"cannot be reached: TLS failed ({clip(str(inner))})"
        if isinstance(inner, OSError) and inner.errno is not None:
            if inner.errno in (errno.EACCES, errno.EPERM):
                return (
                    "cannot be reached: permission denied (run as root, or join the docker group)"
                )
            if inner.errno == errno.ECONNREFUSED:
                return "refused the connection (no daemon listening there)"
            if inner.errno == errno.ENOENT:
                return "cannot be reached: there is no such socket"
            return f"cannot be reached: {inner.strerror or inner}"
    return f"cannot be reached: {clip(str(exc) or type(exc).__name__)}"


def _garbage(exc: BaseException) -> str | None:
    """What the daemon answered, to follow "the daemon answered", when it is no answer
    its API gives: a body that is not JSON (as json raises it, or requests), or what
    `api.BadReply` says. None when `exc` is about something else."""
    for e in _chain(exc):
        if isinstance(e, BadReply):
            return clip(str(e))
        if isinstance(e, json.JSONDecodeError) or type(e).__name__ == "JSONDecodeError":
            return f"what is not JSON ({clip(str(e))})"
    return None


def _is_api_error(exc: BaseException) -> bool:
    """Whether the daemon answered with an HTTP error: our APIError, or the SDK's (of
    any subclass)."""
    return any(t.__name__ == "APIError" for t in type(exc).__mro__)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (cause, context, and exceptions in its args,
    as requests and urllib3 nest them), breadth first, each once."""
    out: list[BaseException] = []
    pending = [exc]
    while pending and len(out) < 32:
        e = pending.pop(0)
        if any(e is seen for seen in out):
            continue
        out.append(e)
        pending += [x for x in (e.__cause__, e.__context__) if x is not None]
        pending += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return out


def bad_reply(path: str, detail: str) -> Problem:
    """A `bad-daemon-reply` problem: the daemon answered what its API never does."""
    return Problem(ProblemKind.BAD_DAEMON_REPLY, path, detail)


def parse_info(raw: Any, shown: str) -> tuple[DaemonInfo | None, list[Problem]]:
    """The `info` reply as a DaemonInfo, or None when it cannot be used (no object, no
    DockerRootDir, no Driver); problems for what is wrong in it."""
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        return None, [bad_reply(shown, f"`info` is a {json_type(raw)}, not an object: not used")]
    root_dir, driver = raw.get("DockerRootDir"), raw.get("Driver")
    if not isinstance(root_dir, str) or not root_dir.startswith("/") or "\x00" in root_dir:
        return None, [
            bad_reply(shown, f"`info` DockerRootDir is {shown_value(root_dir)}: not used")
        ]
    if not isinstance(driver, str) or not driver:
        return None, [bad_reply(shown, f"`info` Driver is {shown_value(driver)}: not used")]
    version = raw.get("ServerVersion")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        problems.append(bad_reply(shown, f"`info` ServerVersion is {shown_value(version)}"))
        version = "?"
    return DaemonInfo(host=shown, root_dir=root_dir, driver=driver, server_version=version), (
        problems
    )


def shown_value(value: Any) -> str:
    """A value from the daemon, for a problem's detail: its JSON type, or a clipped repr
    (escaped again wherever the detail is printed)."""
    if isinstance(value, str):
        return clip(repr(value), 80)
    return f"a {json_type(value)}" if not isinstance(value, int | float) else repr(value)


def driver_status(raw: Any, shown: str, problems: list[Problem]) -> dict[str, str]:
    """`info`'s DriverStatus ([[name, value], …]) as a dict; entries of another shape
    are problems and left out."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        problems.append(bad_reply(shown, f"`info` DriverStatus is a {json_type(raw)}, not a list"))
        return {}
    out: dict[str, str] = {}
    for i, pair in enumerate(raw):
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            out[pair[0]] = pair[1]
        else:
            problems.append(
                bad_reply(
                    shown,
                    f"`info` DriverStatus[{i}] is {shown_value(pair)}, not a [name, value] pair",
                )
            )
    return out


def fetch_view(live: Live, info: DaemonInfo) -> DaemonView:
    """Inspect every container and image once, within the view's deadline; objects that
    vanish meanwhile are skipped. Never raises: what goes wrong is in `view.problems`,
    and a view whose lists could not be had is not `complete`."""
    return ViewFetch(live, info).result()


class ViewFetch:
    """`fetch_view` begun now, its answer taken later: the daemon lists and inspects on
    its own cores while this process reads the disk's records (`root/load.py`). The
    view's deadline runs from the start."""

    def __init__(self, live: Live, info: DaemonInfo) -> None:
        self._live, self._info = live, info
        # Built in the worker thread and handed over whole: a thread left behind past
        # the deadline never touches what this one returns.
        self._running = _Background(lambda: _fill(live, info), name="overlayscope-daemon-view")

    def result(self) -> DaemonView:
        """The view, as `fetch_view` says it."""
        live, info = self._live, self._info
        budget = live.timeout * VIEW_BUDGET
        status_problems: list[Problem] = []
        status = driver_status(live.raw_info.get("DriverStatus"), info.host, status_problems)
        try:
            view = self._running.result(self._running.started + budget)
        except _TooSlow:
            view = DaemonView(info=info, complete=False)
            view.problems.append(
                Problem(
                    ProblemKind.DAEMON_UNAVAILABLE,
                    info.host,
                    f"the Docker daemon did not list and inspect its containers and images "
                    f"within {budget:g} s: its view is not used, the answers are the disk's "
                    "alone",
                )
            )
        except Exception as exc:
            view = DaemonView(info=info, complete=False)
            garbage = _garbage(exc)
            view.problems.append(
                bad_reply(
                    info.host,
                    f"listing its containers and images, the Docker daemon answered "
                    f"{garbage}: its view is not used",
                )
                if garbage is not None
                else Problem(
                    ProblemKind.DAEMON_UNAVAILABLE,
                    info.host,
                    f"the Docker daemon did not list its containers and images "
                    f"({why_unreachable(exc, live.timeout)}): its view is not used, the "
                    "answers are the disk's alone",
                )
            )
        view.native_diff = _bool(status.get("Native Overlay Diff"))
        view.problems[:0] = status_problems
        return view


def _fill(live: Live, info: DaemonInfo) -> DaemonView:
    """The daemon's view (in `ViewFetch`'s thread). Raises when a list cannot be had; a
    list of the wrong shape is a problem and an incomplete view."""
    api = live.api
    view = DaemonView(info=info)
    shown = info.host
    containers = _ids(api.containers(), "containers", _HEX64, shown, view)
    images = _ids(api.images(), "images", _IMAGE_ID, shown, view)
    if containers is None or images is None:
        view.complete = False
        return view
    view.listed_containers, view.listed_images = set(containers), set(images)
    twins = _twins(api, max(len(containers), len(images)))
    try:
        _inspect_all(view, [api, *twins], containers, images, live.timeout)
    finally:
        for twin in twins:
            twin.close()
    return view


def _inspect_all(
    view: DaemonView, clients: list[DaemonAPI], containers: list[str], images: list[str],
    timeout: float,
) -> None:  # fmt: skip
    """Inspect the listed containers and images into `view`, over all `clients` at once."""
    shown = view.info.host
    for what, ids, into, listed in (
        ("container", containers, view.containers, view.listed_containers),
        ("image", images, view.images, view.listed_images),
    ):
        for oid, data in zip(ids, _inspected(clients, what, ids), strict=True):
            if isinstance(data, NotFound):  # removed meanwhile
                listed.discard(oid)
                continue
            if isinstance(data, _Failed):
                # an error for one object: it is still listed, only not known
                view.problems.append(_inspect_failed(what, oid, data.exc, timeout, shown))
                continue
            if not isinstance(data, dict):
                view.problems.append(
                    bad_reply(shown, f"{what} {oid}: inspect gave a {json_type(data)}")
                )
                continue
            into[oid] = data


class _Failed:
    """An inspect that raised (but NotFound, which is handed back as it is)."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _twins(api: DaemonAPI, objects: int) -> list[Client]:
    """For our own client, more connections to the same daemon at the same API version, to
    inspect `objects` objects over INSPECT_CONNECTIONS in all; none beside the SDK's."""
    if not isinstance(api, Client) or api.api_version is None:
        return []
    return [api.twin() for _ in range(min(INSPECT_CONNECTIONS, objects) - 1)]


def _inspected(clients: list[DaemonAPI], what: str, ids: list[str]) -> list[Any]:
    """The inspect reply of each of `ids` ("container" or "image"), in their order: the
    decoded JSON, the NotFound raised, or a `_Failed`; asked over all `clients` at once."""
    results: list[Any] = [None] * len(ids)
    pending = iter(range(len(ids)))
    lock = threading.Lock()

    def work(client: DaemonAPI) -> None:
        inspect = client.inspect_container if what == "container" else client.inspect_image
        while True:
            with lock:
                i = next(pending, None)
            if i is None:
                return
            try:
                results[i] = inspect(ids[i])
            except NotFound as exc:
                results[i] = exc
            except Exception as exc:
                results[i] = _Failed(exc)

    others = clients[1 : len(ids)]
    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in others]
    for thread in threads:
        thread.start()
    work(clients[0])
    for thread in threads:
        thread.join()
    return results


def _inspect_failed(what: str, oid: str, exc: Exception, seconds: float, shown: str) -> Problem:
    """Why inspecting one object gave nothing: an error or garbage it answered, or no
    answer (then the daemon is unavailable for it)."""
    if _garbage(exc) is not None or _is_api_error(exc):
        return bad_reply(shown, f"inspecting {what} {oid}: {clip(str(exc) or type(exc).__name__)}")
    why = why_unreachable(exc, seconds)
    return Problem(
        ProblemKind.DAEMON_UNAVAILABLE, shown, f"inspecting {what} {oid}: the daemon {why}"
    )


def _ids(
    raw: Any, what: str, pattern: re.Pattern[str], shown: str, view: DaemonView
) -> list[str] | None:
    """The ids of a `/containers/json` or `/images/json` reply, or None (and a problem)
    when it is not a list of objects with an `Id` of Docker's form."""
    if not isinstance(raw, list):
        view.problems.append(
            bad_reply(shown, f"the {what} list is a {json_type(raw)}: view not used")
        )
        return None
    out: list[str] = []
    for i, item in enumerate(raw):
        oid = item.get("Id") if isinstance(item, dict) else None
        if not isinstance(oid, str) or not pattern.fullmatch(oid):
            shown_id = shown_value(oid) if isinstance(item, dict) else f"a {json_type(item)}"
            view.problems.append(
                bad_reply(shown, f"the {what} list's item {i} has Id {shown_id}: view not used")
            )
            return None
        out.append(oid)
    return out


def _bool(value: str | None) -> bool | None:
    # DriverStatus values are words: "true"/"false"
    return None if value is None else value.strip().lower() == "true"
