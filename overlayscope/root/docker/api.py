"""A small Docker Engine API client, on the standard library alone.

The live view asks a daemon five things: `version` (to pick the API version, as the
docker SDK's `version="auto"` does), `info`, the container and image lists, and the
inspect of one container or image. That is a few GETs of JSON: here over a unix socket
or TCP (TLS as the docker CLI sets it up from the environment), one connection kept
alive for the whole conversation, every socket operation under the timeout. Other
addresses (`ssh://`, …) are the docker SDK's: `parse_host` says None for them.

Importing this module is cheap: `http.client` and `socket` (and `ssl`, for TLS) load
when a connection is made, so a command with no daemon to ask pays nothing for them.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    import http.client
    import ssl

DEFAULT_SOCKET = "/var/run/docker.sock"
MAX_BODY = 256 * 1024 * 1024  # bytes of one reply's body; beyond them it is a BadReply
_PIECE = 1024 * 1024  # bytes read at once: memory grows with what arrives, not what is claimed
# A version of the API as the daemon gives it ("1.41"): never a path of its own.
_API_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
_HEADERS = {"User-Agent": "overlayscope", "Accept": "application/json"}
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


@dataclass(frozen=True)
class TLS:
    """TLS as the docker CLI sets it up: `ca.pem`, `cert.pem`, `key.pem` in `cert_path`;
    the server checked against `ca.pem` only when `verify`."""

    verify: bool
    cert_path: str


@dataclass(frozen=True)
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

    The API version is the daemon's own (`version`'s ApiVersion), asked once, before
    the first versioned request.
    """

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.api_version: str | None = None
        self._conn: http.client.HTTPConnection | None = None
        # A request left behind by `bounded` (past its deadline) may still hold the
        # connection: the next one waits a timeout for it, never interleaves with it.
        self._lock = threading.Lock()

    def version(self) -> Any:
        """`GET /version`, unversioned."""
        return self._get("/version")

    def negotiate(self) -> str:
        """The daemon's API version, from `version`; BadReply when it gives none."""
        reply = self.version()
        found = reply.get("ApiVersion") if isinstance(reply, dict) else None
        if not isinstance(found, str) or not _API_VERSION.fullmatch(found):
            if isinstance(found, str):
                shown = clip(repr(found), 80)
            else:
                shown = "null" if found is None else f"a {json_type(found)}"
            what = "no object" if not isinstance(reply, dict) else f"ApiVersion {shown}"
            raise BadReply(f"a `version` with {what}, not an API version")
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
        if not self._lock.acquire(timeout=self.timeout):
            raise TimeoutError("an earlier request to the daemon still waits for its answer")
        try:
            status, body = self._exchange(self.endpoint.base_path + target)
        finally:
            self._lock.release()
        if status >= 400:
            kind = NotFound if status == 404 else APIError
            raise kind(status, target, _message(body))
        return _json(body)

    def _exchange(self, target: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            reused = conn.sock is not None and attempt == 1
            if self.endpoint.socket_path is not None and conn.sock is None:
                conn.sock = _unix_socket(self.endpoint.socket_path, self.timeout)
            try:
                conn.request("GET", target, headers=_HEADERS)
                response = conn.getresponse()
            except (BrokenPipeError, ConnectionResetError):  # RemoteDisconnected is one
                conn.close()
                if reused:  # the daemon closed the idle kept-alive connection: a new one
                    continue
                raise
            except BaseException as exc:
                conn.close()
                _raise_as_documented(exc)
            try:
                return response.status, _read_body(response)
            except BaseException as exc:
                conn.close()
                _raise_as_documented(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> http.client.HTTPConnection:
        import http.client

        if self._conn is None:
            ep = self.endpoint
            conn: http.client.HTTPConnection
            if ep.socket_path is not None:
                # The socket is connected here (`_unix_socket`), never by http.client.
                conn = http.client.HTTPConnection("localhost", timeout=self.timeout)
            elif ep.tls is not None:
                conn = http.client.HTTPSConnection(
                    ep.host, ep.port, timeout=self.timeout, context=_tls_context(ep.tls)
                )
            else:
                conn = http.client.HTTPConnection(ep.host, ep.port, timeout=self.timeout)
            conn.response_class = _capped_response  # type: ignore[assignment]
            self._conn = conn
        return self._conn


def _unix_socket(path: str, timeout: float) -> Any:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


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


def _capped_response(sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
    """http.client's response, reading through `_Capped`: a chunk size of -1, which
    http.client takes for "until the connection closes", reads no further than the cap."""
    import http.client

    response = http.client.HTTPResponse(sock, *args, **kwargs)
    response.fp = _Capped(response.fp, 2 * MAX_BODY + 64 * 1024)  # type: ignore[assignment]
    return response


class _Capped:
    """A response's bytes off the wire, at most `limit` of them: BadReply past it."""

    def __init__(self, fp: Any, limit: int) -> None:
        self._fp, self._left, self._limit = fp, limit, limit

    def read(self, amt: int | None = -1) -> bytes:
        want = self._left + 1 if amt is None or amt < 0 else min(amt, self._left + 1)
        pieces = []
        while want > 0:
            piece = self._fp.read(min(want, _PIECE))
            if not piece:
                break
            self._spend(len(piece))
            pieces.append(piece)
            want -= len(piece)
        return b"".join(pieces)

    def readline(self, limit: int | None = -1) -> bytes:
        want = self._left + 1 if limit is None or limit < 0 else min(limit, self._left + 1)
        line: bytes = self._fp.readline(want)
        self._spend(len(line))
        return line

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fp.close()

    def flush(self) -> None:
        self._fp.flush()

    def fileno(self) -> int:
        return int(self._fp.fileno())

    def _spend(self, n: int) -> None:
        self._left -= n
        if self._left < 0:
            raise BadReply(f"a reply of more than {self._limit} bytes")


def _read_body(response: http.client.HTTPResponse) -> bytes:
    """The whole body, at most MAX_BODY bytes: a Content-Length beyond it is refused
    unread, a chunked body as soon as it passes it."""
    if response.length is not None:
        if response.length > MAX_BODY:
            raise BadReply(f"a body of {response.length} bytes, over the {MAX_BODY}-byte bound")
        return response.read()  # IncompleteRead when cut short
    pieces, size = [], 0
    while piece := response.read(_PIECE):
        size += len(piece)
        if size > MAX_BODY:
            raise BadReply(f"a body of more than {MAX_BODY} bytes")
        pieces.append(piece)
    return b"".join(pieces)


def _raise_as_documented(exc: BaseException) -> NoReturn:
    """Raise `exc` as `Client.get` may: http.client's complaints about what is not HTTP
    (a bad status line, a body cut short, a bad chunk size) as a BadReply."""
    import http.client

    if isinstance(exc, http.client.HTTPException | ValueError) and not isinstance(
        exc, OSError | json.JSONDecodeError
    ):
        raise BadReply(f"what is not HTTP ({type(exc).__name__}: {clip(str(exc), 120)})") from exc
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


def _quote(object_id: str) -> str:
    from urllib.parse import quote

    return quote(object_id, safe=":")


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, in Python's words ("null" for None)."""
    return "null" if value is None else type(value).__name__
