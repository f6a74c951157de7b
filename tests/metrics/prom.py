"""Helpers for the metrics tests: read an exposition, run `overlayscope serve`, and a private
Prometheus and node_exporter (Debian's packages) on loopback high ports with their own data
dirs and configs, never the system's; each stopped by its pid."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "contrib" / "prometheus" / "overlayscope.rules.yml"
RULE_TESTS = REPO / "contrib" / "prometheus" / "overlayscope.rules.test.yml"
DASHBOARD = REPO / "contrib" / "grafana" / "overlayscope.json"
DEMO = REPO / "contrib" / "prometheus" / "demo.py"
INSTANCE = "test-node"  # every target's `instance`, so the rules' joins meet on it


def tool(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


PROMETHEUS = tool("prometheus")
PROMTOOL = tool("promtool")
NODE_EXPORTER = tool("prometheus-node-exporter", "node_exporter")


def prometheus_unavailable_reason() -> str | None:
    missing = [
        name
        for name, path in (
            ("prometheus", PROMETHEUS),
            ("promtool", PROMTOOL),
            ("prometheus-node-exporter", NODE_EXPORTER),
        )
        if path is None
    ]
    if missing:
        return f"not on PATH: {', '.join(missing)} (apt-get install prometheus " + (
            "prometheus-node-exporter)"
        )
    return None


# -- expositions ------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def parse(text: str) -> dict[str, list[Sample]]:
    """Family name → its samples, read with prometheus_client's own parser."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(Sample(s.labels, s.value))
    return out


def by(samples: Sequence[Sample], label: str) -> dict[str, Sample]:
    """Samples keyed by one label's value (each value once)."""
    out = {s.labels[label]: s for s in samples}
    assert len(out) == len(samples), f"{label} is not unique"
    return out


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """The series names a PromQL expression reads: identifiers that are neither functions
    nor aggregations (followed by `(`), keywords, label names or label values."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)  # label values
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    out = set()
    for m in re.finditer(r"(?<![0-9A-Za-z_:.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if m.group(0) not in _KEYWORDS and not text[m.end() :].lstrip().startswith("("):
            out.add(m.group(0))
    return out


# -- processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    """Poll `check` until it returns something true (returned), at most `timeout` seconds:
    a bound on waiting for a daemon, never an assertion about speed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


class Daemon:
    """A process of ours with its output in a log file; stopped by its pid."""

    def __init__(self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None):
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        self._log_file.close()


class Serve(Daemon):
    """`overlayscope … serve --listen 127.0.0.1:0`; the port read from its first log line."""

    def __init__(
        self,
        global_args: Sequence[str],
        serve_args: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ):
        argv = [*wrapper, sys.executable, "-m", "overlayscope", *global_args, "serve"]
        super().__init__([*argv, "--listen", "127.0.0.1:0", *serve_args], log, env)
        found = wait_until("overlayscope serve listening", self._port, 60)
        self.url = f"http://127.0.0.1:{found}"

    def _port(self) -> int | None:
        if not self.alive():
            raise AssertionError(f"overlayscope serve exited:\n{self.log_text()}")
        m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", self.log_text())
        return int(m.group(1)) if m else None

    def scrape(self) -> str:
        code, text = http_get(self.url + "/metrics", {"Accept": "text/plain"})
        assert code == 200, (code, text, self.log_text())
        return text

    def rescan(self) -> None:
        self.signal(signal.SIGHUP)


class NodeExporter(Daemon):
    def __init__(self, textfile_dir: Path, log: Path):
        assert NODE_EXPORTER is not None
        self.address = f"127.0.0.1:{free_port()}"
        super().__init__(
            [
                NODE_EXPORTER,
                f"--web.listen-address={self.address}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={textfile_dir}",
                "--collector.filesystem",
            ],
            log,
        )
        wait_until("node_exporter up", lambda: self._up(), 60)

    def _up(self) -> bool:
        if not self.alive():
            raise AssertionError(f"node_exporter exited:\n{self.log_text()}")
        return http_get(f"http://{self.address}/metrics")[0] == 200


class Prometheus(Daemon):
    """Prometheus scraping `targets` (job → host:port) every second, with `rules` loaded."""

    def __init__(self, base: Path, targets: Mapping[str, str], rules: Sequence[Path] = ()):
        assert PROMETHEUS is not None
        base.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(r) for r in rules],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [{"targets": [address], "labels": {"instance": INSTANCE}}],
                }
                for job, address in targets.items()
            ],
        }
        (base / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.url = f"http://127.0.0.1:{free_port()}"
        super().__init__(
            [
                PROMETHEUS,
                f"--config.file={base / 'prometheus.yml'}",
                f"--storage.tsdb.path={base / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                f"--web.console.templates={base / 'consoles'}",
                f"--web.console.libraries={base / 'console_libraries'}",
            ],
            base / "prometheus.log",
        )
        wait_until("prometheus ready", self._ready, 120)

    def _ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"prometheus exited:\n{self.log_text()}")
        return http_get(self.url + "/-/ready")[0] == 200

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        code, text = http_get(f"{self.url}/api/v1/{path}?{query}")
        answer = json.loads(text) if text else {"status": "error", "code": code}
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def values(self, expr: str, label: str) -> dict[str, float]:
        """An instant vector as {value of `label`: value}."""
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def wait_for(
        self, what: str, expr: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        def attempt() -> list[dict[str, Any]] | None:
            result = self.query(expr)
            return result if check(result) else None

        found: list[dict[str, Any]] = wait_until(what, attempt, timeout, every=0.5)
        return found


def sections(text: str) -> Iterator[tuple[str, str]]:
    """(HELP name, TYPE) of every family in a text exposition."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name in re.findall(r"^# HELP (\S+) ", text, re.M):
        yield name, types.get(name, "")


def copy_root(src: Path, dest: Path) -> Path:
    """Copy a live data root, xattrs and whiteout devices kept, without crossing the mounted
    merged/ dirs of running containers."""
    dest.mkdir()
    tar = subprocess.Popen(
        ["tar", "--xattrs", "--xattrs-include=*", "--one-file-system", "--numeric-owner",
         "-cf", "-", "-C", str(src), "."],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", "-", "-C", str(dest)],
        stdin=tar.stdout,
        check=True,
    )
    assert tar.wait() in (0, 1)  # 1: a file changed while read (a live daemon's logs)
    return dest
