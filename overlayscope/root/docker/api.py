"""A small Docker Engine API client, on the standard library alone.

The live view asks a daemon five things: `version` (to pick the API version, as the
docker SDK's `version="auto"` does), `info`, the container and image lists, and the
inspect of one container or image. That is a few GETs of JSON: here over a unix socket
or TCP (TLS as the docker CLI sets it up from the environment), one connection kept
alive for the whole conversation, every socket operation under the timeout. Other
addresses (`ssh://`, …) are the docker SDK's: `parse_host` says None for them.

Importing this module is cheap: `http11` (our own HTTP/1.1, over `socket`) loads when
a connection is made, and `ssl` only for a TLS endpoint, so a command with no daemon to
ask pays nothing for them, and one that asks a unix socket or plain TCP never loads
`ssl`, `http.client` or `email` (~20 ms of imports).

The daemon is untrusted: no more than `MAX_BODY` bytes of a reply are read (nor more
than twice that off the wire, chunk framing included), and `Client` raises only what
`Client.get` lists, whatever comes back.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from overlayscope.record import record

if TYPE_CHECKING:
    import ssl

    from overlayscope.root.docker import http11

DEFAULT_SOCKET = "/var/run/docker.sock"
MAX_BODY = 256 * 1024 * 1024  # bytes of one reply's body; beyond them it is a BadReply
# A version of the API as the daemon gives it ("1.41"): never a path of its own.
_API_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
# The docker CLI's ports for tcp:// without one (moby opts/hosts.go).
_HTTP_PORT, _TLS_PORT = 2375, 2376


def clip(text: str, width: int = 200) -> str:
    """`text` cut to `width` characters (a daemon's error may be any length)."""
    return text if len(text) <= width else text[:width] + "…"


class APIError(Exception):
    """The daemon answered an HTTP error: its status, and the `message` it gave."""

    def __init__(self, status: int, target: str, message: str) -> None:
        super().__init__(status, target, message)
        self.status, self.target, self.message = status, target, message

    def __str__(self) -> str:
        said = f": {self.message}" if self.message else ""
        return f"HTTP {self.status} for {self.target}{said}"


class NotFound(APIError):
    """HTTP 404: no such object (an inspected one was removed meanwhile)."""


class BadReply(Exception):
    """The daemon answered what neither HTTP nor its API ever does; the text says what,
    to follow "the daemon answered …"."""


class BadHost(ValueError):
    """`DOCKER_HOST` names no address a client could use."""


class DaemonAPI(Protocol):
    """What the live view asks a daemon: this module's `Client`, or the SDK's adapter."""

    def info(self) -> Any: ...
    def containers(self) -> Any: ...
    def images(self) -> Any: ...
    def inspect_container(self, container_id: str) -> Any: ...
    def inspect_image(self, image_id: str) -> Any: ...


@record(slots=False)
class TLS:
    """TLS as the docker CLI sets it up: `ca.pem`, `cert.pem`, `key.pem` in `cert_path`;
    the server checked against `ca.pem` only when `verify`."""

    verify: bool
    cert_path: str


@record(slots=False)
class Endpoint:
    """Where a daemon listens: a unix socket's path, or a TCP host and port (with a
    base path, and TLS or not)."""

    socket_path: str | None = None
    host: str = ""
    port: int = 0
    base_path: str = ""
    tls: TLS | None = None


def parse_host(url: str, env: Mapping[str, str] | None = None) -> Endpoint | None:
    """The endpoint `url` (a `DOCKER_HOST` value) names, with TLS from `env` (default
    os.environ) as the docker CLI reads it: `DOCKER_TLS_VERIFY` or `DOCKER_TLS` set
    (non-empty), certificates in `DOCKER_CERT_PATH`, else ~/.docker.

    None for a scheme this client does not speak (`ssh://`, `npipe://`, …): the docker
    SDK's. Raises BadHost for a `unix://` or `tcp://` address that cannot be right.
    """
    env = os.environ if env is None else env
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    if scheme == "unix":
        if "\x00" in rest:
            raise BadHost(f"DOCKER_HOST {clip(url, 80)!r} is no socket path")
        return Endpoint(socket_path=rest or DEFAULT_SOCKET)
    if scheme != "tcp":
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadHost(f"DOCKER_HOST {clip(url, 80)!r} is no host:port ({exc})") from None
    if parts.query or parts.fragment or parts.username is not None:
        raise BadHost(f"DOCKER_HOST {clip(url, 80)!r} is no tcp://host:port address")
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    tls = None
    if verify or env.get("DOCKER_TLS"):
        cert_path = env.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
        tls = TLS(verify=verify, cert_path=cert_path)
    return Endpoint(
        host=parts.hostname or "localhost",
        port=port or (_TLS_PORT if tls else _HTTP_PORT),
        base_path=parts.path.rstrip("/"),
        tls=tls,
    )


class Client:
    """One conversation with a daemon: one connection, kept alive and reopened when
    the daemon closes it; every socket operation waits at most `timeout` seconds.

    The API version is the daemon's own (the Api-Version header of `_ping`, as the
    docker CLI negotiates it: dockerd answers a ping in ~0.5 ms, `version` in ~5), asked
    once, before the first versioned request.
    """

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.api_version: str | None = None
        self._conn: http11.Connection | None = None
        # A request left behind past its deadline (daemon._Background) may still hold the
        # connection: the next one waits a timeout for it, never interleaves with it.
        self._lock = threading.Lock()

    def twin(self) -> Client:
        """Another conversation with the same daemon, at the API version this one
        negotiated (none asked again); it connects on its first request."""
        other = Client(self.endpoint, self.timeout)
        other.api_version = self.api_version
        return other

    def version(self) -> Any:
        """`GET /version`, unversioned."""
        return self._get("/version")

    def negotiate(self) -> str:
        """The daemon's API version, from `_ping`'s Api-Version header; BadReply when it
        gives none (APIError, NotFound for an error status)."""
        _, headers = self._answered("/_ping")
        found = headers.get("api-version")
        if found is None or not _API_VERSION.fullmatch(found):
            shown = (
                "no Api-Version header" if found is None else f"Api-Version {clip(repr(found), 80)}"
            )
            raise BadReply(f"a `_ping` with {shown}, not an API version")
        self.api_version = found
        return found

    def info(self) -> Any:
        return self.get("/info")

    def containers(self) -> Any:
        """Every container's summary, stopped ones too (`docker ps -a`)."""
        return self.get("/containers/json", "all=1")

    def images(self) -> Any:
        """Every image's summary, intermediate ones too (`docker images -a`)."""
        return self.get("/images/json", "all=1")

    def inspect_container(self, container_id: str) -> Any:
        return self.get(f"/containers/{_quote(container_id)}/json")

    def inspect_image(self, image_id: str) -> Any:
        return self.get(f"/images/{_quote(image_id)}/json")

    def get(self, path: str, query: str = "") -> Any:
        """The decoded JSON of `GET /v<version><path>?<query>`.

        Raises only: OSError (no connection, no answer in time — TimeoutError —, TLS
        refused), NotFound for 404 and APIError for any other status from 400, BadReply
        for what is not HTTP or is too large, json.JSONDecodeError for a body that is
        not JSON.
        """
        if self.api_version is None:
            self.negotiate()
        return self._get(f"/v{self.api_version}{path}" + (f"?{query}" if query else ""))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _get(self, target: str) -> Any:
        body, _ = self._answered(target)
        return _json(body)

    def _answered(self, target: str) -> tuple[bytes, dict[str, str]]:
        """Body and headers of `GET target`, one request at a time; NotFound for 404,
        APIError for any other status from 400."""
        if not self._lock.acquire(timeout=self.timeout):
            raise TimeoutError("an earlier request to the daemon still waits for its answer")
        try:
            status, body, headers = self._exchange(self.endpoint.base_path + target)
        finally:
            self._lock.release()
        if status >= 400:
            kind = NotFound if status == 404 else APIError
            raise kind(status, target, _message(body))
        return body, headers

    def _exchange(self, target: str) -> tuple[int, bytes, dict[str, str]]:
        from overlayscope.root.docker import http11

        for attempt in (1, 2):
            conn = self._connection()
            try:
                return conn.get(target, MAX_BODY)
            except http11.IdleClosed:
                if attempt == 1:  # the daemon closed the idle kept-alive connection: a new one
                    continue
                raise
            except BaseException as exc:
                _raise_as_documented(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> http11.Connection:
        from overlayscope.root.docker import http11

        if self._conn is None:
            ep = self.endpoint
            if ep.socket_path is not None:
                self._conn = http11.Connection(socket_path=ep.socket_path, timeout=self.timeout)
            else:
                context = _tls_context(ep.tls) if ep.tls is not None else None
                self._conn = http11.Connection(
                    host=ep.host, port=ep.port, tls=context, timeout=self.timeout
                )
        return self._conn


def _tls_context(tls: TLS) -> ssl.SSLContext:
    import ssl

    ca, cert, key = (os.path.join(tls.cert_path, n) for n in ("ca.pem", "cert.pem", "key.pem"))
    if tls.verify:
        context = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
    else:  # DOCKER_TLS without VERIFY: encrypted, the server unchecked (as the CLI does)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if os.path.exists(cert) and os.path.exists(key):
        context.load_cert_chain(cert, key)
    return context


def _raise_as_documented(exc: BaseException) -> NoReturn:
    """Raise `exc` as `Client.get` may: a reply past a bound, and complaints about what
    is not HTTP (a bad status line, a body cut short, a bad chunk size), as a BadReply."""
    from overlayscope.root.docker import http11

    if isinstance(exc, http11.TooLarge):
        raise BadReply(str(exc)) from exc
    if isinstance(exc, ValueError) and not isinstance(exc, OSError | json.JSONDecodeError):
        what = str(exc) if isinstance(exc, http11.NotHTTP) else f"{type(exc).__name__}: {exc}"
        raise BadReply(f"what is not HTTP ({clip(what, 120)})") from exc
    raise exc


def _json(body: bytes) -> Any:
    """`body` decoded: json.JSONDecodeError when it is not JSON (in UTF-8, as RFC 8259
    has it), BadReply for JSON this reader refuses (nested past the recursion limit, an
    integer of more digits than Python converts)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        doc = body[: exc.start + 1].decode("utf-8", "replace")
        raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", doc, exc.start) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise BadReply(f"JSON this reader refuses ({clip(str(exc), 80)})") from None


def _message(body: bytes) -> str:
    """The `message` of an error's JSON body (clipped), else its text (clipped)."""
    try:
        data = _json(body)
    except (ValueError, BadReply):
        return clip(body[:400].decode("utf-8", "replace").strip())
    message = data.get("message") if isinstance(data, dict) else None
    return clip(message) if isinstance(message, str) else ""


# What `_quote` leaves as it is: RFC 3986's unreserved characters, and ':'.
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")


def _quote(object_id: str) -> str:
    """`object_id` as one path segment, percent-encoded in UTF-8 (as urllib.parse.quote
    with safe=":", which this spares importing)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in object_id.encode("utf-8"))


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, in Python's words ("null" for None)."""
    return "null" if value is None else type(value).__name__
