"""A live Docker 29 daemon with the containerd image store, as overlayscope meets one.

No Docker 29 runs here (Debian ships dockerd 20.10), so the daemon is an HTTP server on a
unix socket answering the few API calls overlayscope makes, in the shapes of moby's API
types at HEAD (`api/types/system/info.go`: `Driver` is the snapshotter, `overlayfs`, and
`DriverStatus` holds `["driver-type", "io.containerd.snapshotter.v1"]`;
`api/types/container`: `GraphDriver` with no `Data` for the containerd store). Its data root
is the captured Docker 29 root of fixtures/containerd (real records written by containerd
1.6, config.v2.json built from moby's source), so what the disk says is real and only the
daemon's replies are made here.
"""

from __future__ import annotations

import json
import shutil
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.containerd_fixtures import CapturedContainerd
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.root


class _Daemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, root: Path, containers: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.containers = containers
        self.calls: list[str] = []
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Daemon

    def address_string(self) -> str:  # a unix socket has no client address
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.calls.append(path)
        # /v1.NN/... or /...
        parts = [p for p in path.split("/") if p]
        if parts and parts[0].startswith("v1."):
            parts = parts[1:]
        if parts == ["_ping"]:
            return self._reply("OK", "text/plain")
        if parts == ["version"]:
            return self._json({"Version": "29.0.1", "ApiVersion": "1.52", "MinAPIVersion": "1.24"})
        if parts == ["info"]:
            return self._json(
                {
                    "ServerVersion": "29.0.1",
                    "DockerRootDir": str(self.server.root),
                    "Driver": "overlayfs",
                    "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
                }
            )
        if parts == ["containers", "json"]:
            return self._json([{"Id": cid} for cid in self.server.containers])
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            found = self.server.containers.get(parts[1])
            return self._json(found) if found else self._reply('{"message": "no such"}', code=404)
        if parts == ["images", "json"]:
            return self._json([])
        return self._reply('{"message": "page not found"}', code=404)

    def _json(self, value: Any) -> None:
        self._reply(json.dumps(value), "application/json")

    def _reply(self, body: str, kind: str = "application/json", code: int = 200) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Api-Version", "1.52")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def docker29(
    captured_containerd: CapturedContainerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_Daemon]:
    """The fake daemon over the captured Docker 29 root; DOCKER_HOST points at it."""
    configs = {
        p.name: json.loads((p / "config.v2.json").read_text())
        for p in (captured_containerd.docker_root / "containers").iterdir()
    }
    # The daemon's live view: `batch` was started again since the capture.
    inspected = {
        cid: {
            "Id": cid,
            "Name": "/" + ("batch-renamed" if c["Name"] == "/batch" else c["Name"].lstrip("/")),
            "State": {"Status": "running"},
            "GraphDriver": {"Name": "overlayfs", "Data": None},
        }
        for cid, c in configs.items()
    }
    sock = tmp_path / "docker.sock"
    server = _Daemon(str(sock), captured_containerd.docker_root, inspected)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_daemon_says_which_store_and_where(
    docker29: _Daemon, captured_containerd: CapturedContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --root: the daemon's DockerRootDir, read as Docker 29's containerd image store with
    the containerd root beside it, the daemon's live states and names applied."""
    code, containers = run_json(capsys, "containers")
    assert code == 0 and any(call.endswith("/info") for call in docker29.calls)
    by_name = {c["name"]: c for c in containers}
    assert set(by_name) == {"web", "batch-renamed"}
    for c in containers:
        assert c["store"] == "containerd" and c["namespace"] == "moby"
        assert c["state"] == "running"  # the live daemon's word, not config.v2.json's
        assert c["layer"] is not None and c["init_layer"] is not None
    code, report = run_json(capsys, "check")
    # The containerd store has no GraphDriver data to compare: no false daemon-mismatch.
    assert code == 0, report["problems"]


def test_offline_the_same_root_is_the_disk_alone(
    docker29: _Daemon, captured_containerd: CapturedContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    code, containers = run_json(
        capsys, "--offline", "--root", str(captured_containerd.docker_root), "containers"
    )
    assert code == 0 and docker29.calls == []
    states = {c["name"]: c["state"] for c in containers}
    assert states == {"web": "running", "batch": "exited"}


def test_no_containerd_root_beside_a_copied_data_root(
    captured_containerd: CapturedContainerd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Docker 29 data root alone (copied without its containerd root): one clear error,
    never the host's own /var/lib/containerd."""
    alone = tmp_path / "docker"
    shutil.copytree(captured_containerd.docker_root, alone, symlinks=True)
    code, out, err = run_text(capsys, "--offline", "--root", str(alone), "containers")
    assert code == 3 and out == ""
    assert "containerd image store" in err and "--containerd-root" in err
    assert "/var/lib/containerd" not in err.split("none found")[1].split(")")[0]
    code, out, err = run_text(
        capsys,
        "--offline",
        "--root",
        str(alone),
        "--containerd-root",
        str(captured_containerd.root),
        "--json",
        "containers",
    )
    assert code == 0 and {c["name"] for c in json.loads(out)} == {"web", "batch"}
