"""The exporter's HTTP endpoint: `/metrics` (prometheus_client's encoders, text or OpenMetrics
as the scraper asks, gzip when it accepts it) and `/healthz`."""

from __future__ import annotations

import gzip
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector

from overlayscope.metrics.exporter import Exporter
from overlayscope.names import printable

INDEX = b"""overlayscope exporter
  /metrics  the figures of the last completed scan (docs/metrics.md)
  /healthz  200 while the exporter runs; the last scan's status in the body
"""


def make_registry(exporter: Exporter) -> CollectorRegistry:
    """The exporter's figures and the process's own (`process_*`: memory, CPU, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    ProcessCollector(registry=registry)
    return registry


class MetricsServer(ThreadingHTTPServer):
    """A threading HTTP server bound to an IPv4 or IPv6 address."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exporter: Exporter) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.exporter = exporter
        self.registry = make_registry(exporter)
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "overlayscope"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", self._health())
        elif path == "/":
            self._send(200, "text/plain; charset=utf-8", INDEX)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body = encoder(self.server.registry)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            self._send(200, content_type, gzip.compress(body), {"Content-Encoding": "gzip"})
        else:
            self._send(200, content_type, body)

    def _health(self) -> bytes:
        """Always 200 while serving: a damaged root is a metric, not a reason to restart the
        exporter. The body says how the scans go, for a human."""
        figures, status, attempts = self.server.exporter.state()
        lines = ["ok", f"scans: {attempts}" + (", one under way" if status.running else "")]
        if figures is not None:
            age = time.time() - figures.finished
            lines.append(f"last completed scan: {printable(figures.root)}, {age:.0f} s ago")
        if status.failed:
            lines.append(f"last scan failed: {printable(status.error)}")
        return ("\n".join(lines) + "\n").encode()

    def _send(
        self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news
