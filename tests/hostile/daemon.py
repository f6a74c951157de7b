"""A Docker daemon that says what we tell it to: a real HTTP server on a unix socket.

Its replies start as the real engine's own answers about the captured data root
(fixtures/snapshot/answers.json: `docker info`, and `docker inspect` of every container
and image, their GraphDriver paths moved to where the root is unpacked), in the shapes
of moby's API types (api/types: `system.Info`, `container.InspectResponse`,
`image.InspectResponse`, the `Summary` lists). A test then spoils one reply: a wrong JSON
type, a body that is not JSON, an HTTP error, a hostile string, a reply in chunks
(`Chunked`, as dockerd streams its large ones), bytes that are no HTTP at all (`Wire`),
or no answer at all (`HANG`: the request is read and never answered) — what a broken,
overloaded or hostile daemon sends.
"""

from __future__ import annotations

import copy
import json
import socketserver
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

from tests.engine import CapturedRoot

API_VERSION = "1.41"  # dockerd 20.10, which wrote the captured root


class _Hang:
    """A reply that never comes."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Hang:
        return self  # one sentinel, compared by identity


HANG = _Hang()


@dataclass(frozen=True)
class Raw:
    """A reply given as it is: any bytes, any status, any Api-Version header (None: no
    such header; dockerd sends one with every reply, `_ping`'s the one negotiated)."""

    body: bytes
    status: int = 200
    api_version: str | None = API_VERSION


@dataclass(frozen=True)
class Chunked:
    """A reply sent with `Transfer-Encoding: chunked`, `size` bytes a chunk: a JSON
    value, or bytes as they are."""

    value: Any
    size: int = 4096
    status: int = 200


@dataclass(frozen=True)
class Wire:
    """Bytes written instead of a whole response (status line, headers, body); then the
    connection is closed, or held open until the test ends (`hold`)."""

    data: bytes
    hold: bool = False


class _Recording:
    """What a fake daemon keeps: the replies to give, and what it was asked."""

    replies: dict[str, Any]
    calls: list[str]  # routes: `containers/json`
    paths: list[str]  # as requested: `/v1.41/containers/json?all=1`
    connections: int  # accepted: a client keeping its connection alive makes one
    stop: threading.Event  # set when the test ends: hung replies return

    def _record(self, replies: dict[str, Any]) -> None:
        self.replies, self.calls, self.paths = replies, [], []
        self.connections, self.stop = 0, threading.Event()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply (past its bound, or its deadline) is no news.
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)  # type: ignore[misc]


class _Server(_Recording, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, replies: dict[str, Any]) -> None:
        self._record(replies)
        super().__init__(path, _Handler)


class _TcpServer(_Recording, socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The same daemon on 127.0.0.1 (a free port), speaking TLS when given a context."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, replies: dict[str, Any], tls: ssl.SSLContext | None) -> None:
        self._record(replies)
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake happens in the handler's thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    server: _Server | _TcpServer
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:  # a unix socket has no client address
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        key = route(self.path)
        self.server.calls.append(key)
        self.server.paths.append(self.path)
        reply = self.server.replies.get(key, Raw(b'{"message": "page not found"}', 404))
        if reply is HANG:
            self.server.stop.wait()  # until the test ends: the client must give up first
            self.close_connection = True
            return
        if isinstance(reply, Wire):
            self.wfile.write(reply.data)
            self.wfile.flush()
            if reply.hold:
                self.server.stop.wait()
            self.close_connection = True
            return
        if isinstance(reply, Chunked):
            self._send_chunked(reply)
            return
        api_version: str | None = API_VERSION
        if isinstance(reply, Raw):
            body, status, api_version = reply.body, reply.status, reply.api_version
        else:
            body, status = json.dumps(reply).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if api_version is not None:
            self.send_header("Api-Version", api_version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, reply: Chunked) -> None:
        value = reply.value
        body = value if isinstance(value, bytes) else json.dumps(value).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), reply.size):
            piece = body[start : start + reply.size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


def route(path: str) -> str:
    """`/v1.41/containers/json?all=1` → `containers/json`."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts and parts[0].startswith("v1."):
        parts = parts[1:]
    return "/".join(parts)


def real_replies(captured: CapturedRoot, root: Path) -> dict[str, Any]:
    """The engine's own answers about the captured root, for a daemon whose data root is
    `root` (the captured root, or a copy of it)."""
    answers = copy.deepcopy(captured.answers)
    old = str(captured.capture_data_root)

    def moved(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(old, str(root))
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        return value

    info = answers["info"]
    info["DockerRootDir"] = str(root)
    replies: dict[str, Any] = {
        "_ping": Raw(b"OK"),
        "version": {
            "Version": info["ServerVersion"],
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.12",
        },
        "info": info,
    }
    containers = []
    for c in answers["containers"]:
        containers.append({"Id": c["id"], "Names": ["/" + c["name"]], "State": c["state"]})
        replies[f"containers/{c['id']}/json"] = {
            "Id": c["id"],
            "Name": "/" + c["name"],
            "Image": c["image"],
            "State": {"Status": c["state"], "Running": c["state"] == "running"},
            "GraphDriver": moved(c["graph_driver"]),
        }
    replies["containers/json"] = containers
    images = []
    for i in answers["images"]:
        images.append({"Id": i["id"], "RepoTags": i["tags"], "ParentId": i.get("parent", "")})
        replies[f"images/{i['id']}/json"] = {
            "Id": i["id"],
            "RepoTags": i["tags"],
            "GraphDriver": moved(i["graph_driver"]),
        }
    replies["images/json"] = images
    return replies


@contextmanager
def fake_daemon(sock: Path, replies: dict[str, Any]) -> Iterator[_Server]:
    """Serve `replies` on the unix socket `sock` while the block runs."""
    with _serving(_Server(str(sock), replies)) as server:
        yield server


@contextmanager
def fake_tcp_daemon(
    replies: dict[str, Any], tls: ssl.SSLContext | None = None
) -> Iterator[_TcpServer]:
    """Serve `replies` on 127.0.0.1 at `server.port` (over TLS with `tls`)."""
    with _serving(_TcpServer(replies, tls)) as server:
        yield server


S = TypeVar("S", _Server, _TcpServer)


@contextmanager
def _serving(server: S) -> Iterator[S]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()  # hung handlers return
        server.shutdown()
        server.server_close()
