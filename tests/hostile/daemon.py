"""A Docker daemon that says what we tell it to: a real HTTP server on a unix socket.

Its replies start as the real engine's own answers about the captured data root
(fixtures/snapshot/answers.json: `docker info`, and `docker inspect` of every container
and image, their GraphDriver paths moved to where the root is unpacked), in the shapes
of moby's API types (api/types: `system.Info`, `container.InspectResponse`,
`image.InspectResponse`, the `Summary` lists). A test then spoils one reply: a wrong JSON
type, a body that is not JSON, an HTTP error, a hostile string, or no answer at all
(`HANG`: the request is read and never answered) — what a broken, overloaded or hostile
daemon sends.
"""

from __future__ import annotations

import copy
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.engine import CapturedRoot

API_VERSION = "1.41"  # dockerd 20.10, which wrote the captured root


class _Hang:
    """A reply that never comes."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Hang:
        return self  # one sentinel, compared by identity


HANG = _Hang()


@dataclass(frozen=True)
class Raw:
    """A reply given as it is: any bytes, any status."""

    body: bytes
    status: int = 200


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.calls: list[str] = []
        self.stop = threading.Event()
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
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
        reply = self.server.replies.get(key, Raw(b'{"message": "page not found"}', 404))
        if reply is HANG:
            self.server.stop.wait()  # until the test ends: the client must give up first
            self.close_connection = True
            return
        if isinstance(reply, Raw):
            body, status = reply.body, reply.status
        else:
            body, status = json.dumps(reply).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


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
    server = _Server(str(sock), replies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()  # hung handlers return
        server.shutdown()
        server.server_close()
