"""The exporter (`overlayscope serve`): scrapes answer from the last completed scan, never start
one, get the previous figures during a rescan, and survive scans that fail — a damaged root,
permission denied, the root gone — with the failure published as a series.

In-process where a test must hold a scan at a known point (the exporter's own classes, on
a real root), and the real `overlayscope serve` process where privileges matter.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlayscope.cli.context import Context
from overlayscope.cli.main import build_parser
from overlayscope.metrics.exporter import Exporter
from overlayscope.metrics.figures import Figures, measure
from overlayscope.metrics.priority import IOPRIO_CLASS_IDLE, NICE, io_class
from overlayscope.metrics.server import MetricsServer
from overlayscope.scan import ScanProgress
from tests.engine import CapturedRoot, PrivateEngine
from tests.metrics.prom import Serve, http_get, parse, wait_until

LONG = 3600.0  # an interval no test waits out: rescans come from rescan() / SIGHUP


@dataclass
class Running:
    exporter: Exporter
    server: MetricsServer
    log: list[str]
    scans: list[int]  # one item per call of the scan function

    def scrape(self, accept: str = "text/plain") -> str:
        code, text = http_get(self.server.url + "/metrics", {"Accept": accept})
        assert code == 200, text
        return text


def _start(argv: list[str], progress: object = None, top: int = 1000) -> Running:
    """An exporter scanning like `overlayscope ARGV… serve` does, and its HTTP server."""
    args = build_parser().parse_args([*argv, "serve"])
    log: list[str] = []
    scans: list[int] = []

    def scan(cancel: threading.Event) -> Figures:
        scans.append(1)
        return measure(Context(args).host, cancel=cancel, progress=progress)  # type: ignore[arg-type]

    exporter = Exporter(scan, root=str(args.root), interval=LONG, top=top, log=log.append)
    server = MetricsServer(("127.0.0.1", 0), exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter.start()
    return Running(exporter, server, log, scans)


def _stop(running: Running) -> None:
    running.exporter.stop()
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def copy(captured_root: CapturedRoot, tmp_path: Path) -> Path:
    dest = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(dest)], check=True)
    return dest


def _value(text: str, family: str, **labels: str) -> float:
    found = [s for s in parse(text)[family] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (family, labels, found)
    return found[0].value


def test_a_scrape_never_starts_a_scan(copy: Path) -> None:
    running = _start(["--offline", "--root", str(copy)])
    try:
        assert running.exporter.wait_for_scans(1, 300)
        first = running.scrape()
        for _ in range(20):
            assert _figures(running.scrape()) == _figures(first)  # nothing measured again
        assert len(running.scans) == 1
        om = running.scrape("application/openmetrics-text; version=1.0.0")
        assert om.endswith("# EOF\n") and "# UNIT overlayscope_orphan_bytes bytes" in om
        request = urllib.request.Request(
            running.server.url + "/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert "overlayscope_container_writable_bytes" in gzip.decompress(r.read()).decode()
        assert http_get(running.server.url + "/nothing")[0] == 404
        code, health = http_get(running.server.url + "/healthz")
        assert code == 200 and health.startswith("ok\n") and "scans: 1" in health
        assert "process_resident_memory_bytes" in first  # the exporter's own figures
        assert _value(first, "overlayscope_scan_running") == 0
        assert len(running.scans) == 1
    finally:
        _stop(running)


def test_a_failing_scan_keeps_the_figures_and_the_exporter(copy: Path) -> None:
    """The root disappears (an unmounted disk): the scan fails, the previous figures stay,
    the failure is a series; the root comes back: the next scan clears it."""
    running = _start(["--offline", "--root", str(copy)])
    try:
        assert running.exporter.wait_for_scans(1, 300)
        before = running.scrape()
        assert _value(before, "overlayscope_scan_errors", kind="failed") == 0
        stamp = _value(before, "overlayscope_scan_timestamp_seconds")
        copy.rename(copy.with_name("elsewhere"))
        running.exporter.rescan()
        assert running.exporter.wait_for_scans(2, 300)
        during = running.scrape()
        assert _value(during, "overlayscope_scan_errors", kind="failed") == 1
        assert _value(during, "overlayscope_scan_timestamp_seconds") == stamp
        assert _figures(during) == _figures(before)
        code, health = http_get(running.server.url + "/healthz")
        assert code == 200 and "last scan failed: " in health
        assert any(line.startswith("scan failed: ") for line in running.log)
        copy.with_name("elsewhere").rename(copy)
        running.exporter.rescan()
        assert running.exporter.wait_for_scans(3, 300)
        after = running.scrape()
        assert _value(after, "overlayscope_scan_errors", kind="failed") == 0
        assert _value(after, "overlayscope_scan_timestamp_seconds") > stamp
    finally:
        _stop(running)


def _figures(text: str) -> dict[str, object]:
    """The host's figures in an exposition: what a failed scan must leave as they were."""
    status = {"overlayscope_scan_errors", "overlayscope_scan_running"}
    found = parse(text).items()
    return {k: v for k, v in found if k.startswith("overlayscope_") and k not in status}


def _setpriv(*options: str) -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        from tests.conftest import skip_or_fail

        skip_or_fail("needs root and setpriv (util-linux) to drop capabilities")
    return [str(setpriv), *options, "--"]


def test_permission_denied_and_damage_are_series(
    captured_root: CapturedRoot, copy: Path, tmp_path: Path
) -> None:
    """`overlayscope serve` as uid 0 without a single capability (so file modes bind it) on a
    copy with a broken record and a layer dir it may not read; then on a root it may not
    open at all. Every scrape is answered throughout."""
    web = next(a for a in captured_root.answers["containers"] if a["name"] == "web")
    stopped = next(a for a in captured_root.answers["containers"] if a["name"] == "stopped")
    (copy / "containers" / stopped["id"] / "config.v2.json").write_text('{"ID": ')
    upper = Path(web["graph_driver"]["Data"]["UpperDir"]).name  # "diff"
    rw = Path(web["graph_driver"]["Data"]["UpperDir"]).parent.name
    assert upper == "diff"
    (copy / "overlay2" / rw / "diff").chmod(0)
    serve = Serve(
        ["--offline", "--root", str(copy)],
        ["--interval", "1h"],
        tmp_path / "serve.log",
        wrapper=_setpriv("--inh-caps=-all", "--bounding-set=-all"),
    )
    try:
        first = wait_until("a first scan", lambda: _scanned(serve), 300)
        problems = {s.labels["kind"]: s.value for s in parse(first)["overlayscope_problems"]}
        assert problems["bad-metadata"] >= 1
        errors = {s.labels["kind"]: s.value for s in parse(first)["overlayscope_scan_errors"]}
        assert errors["failed"] == 0
        assert errors["permission"] >= 1  # the rw layer's diff/ could not be read
        stamp = _value(first, "overlayscope_scan_timestamp_seconds")
        copy.chmod(0)  # now the root itself
        serve.rescan()
        failed = wait_until("the failed scan", lambda: _failed(serve), 300)
        assert _value(failed, "overlayscope_scan_timestamp_seconds") == stamp
        assert _figures(failed) == _figures(first)
        code, health = http_get(serve.url + "/healthz")
        assert code == 200 and "permission denied" in health.lower()
        copy.chmod(0o710)
        serve.rescan()
        wait_until(
            "a scan again",
            lambda: _value(serve.scrape(), "overlayscope_scan_timestamp_seconds") > stamp,
            300,
        )
        assert serve.alive()
    finally:
        copy.chmod(0o710)
        (copy / "overlay2" / rw / "diff").chmod(0o755)
        serve.stop()


def _failed(serve: Serve) -> str | None:
    text = serve.scrape()
    return text if _value(text, "overlayscope_scan_errors", kind="failed") == 1 else None


def _scanned(serve: Serve) -> str | None:
    text = serve.scrape()
    return text if "overlayscope_scan_timestamp_seconds" in text else None


def test_dac_read_search_alone_reads_everything(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    """What docs/metrics.md and the run-files claim: `nobody` holding CAP_DAC_READ_SEARCH and
    nothing else gets every figure root gets (copy-ups aside: trusted.* xattrs)."""
    argv = ["-m", "overlayscope", "--offline", "--root", str(captured_root.path), "metrics",
            "--no-copy-ups"]  # fmt: skip

    as_root = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, check=True, timeout=300
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    capped = subprocess.run(
        [
            *_setpriv(
                "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
                "--bounding-set=-all,+dac_read_search",
            ),
            "env", f"XDG_CACHE_HOME={cache}", sys.executable, *argv,
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert capped.returncode == 0, capped.stderr
    drop = {"overlayscope_scan_duration_seconds", "overlayscope_scan_timestamp_seconds"}
    mine = {k: v for k, v in parse(capped.stdout).items() if k not in drop}
    assert mine == {k: v for k, v in parse(as_root.stdout).items() if k not in drop}
    assert all(s.value == 0 for s in parse(capped.stdout)["overlayscope_scan_errors"])


# -- a live engine ------------------------------------------------------------------------


@pytest.fixture
def writer(engine: PrivateEngine, base_image: str) -> Iterator[str]:
    cid = engine.run(base_image, ["sh", "-c", "echo a > /a; sleep 3600"], name="metrics-rescan")
    wait_until(
        "the container's first write",
        lambda: any(c["Path"] == "/a" for c in engine.client.api.diff(cid) or []),
        60,
    )
    try:
        yield cid
    finally:
        engine.docker("rm", "-f", cid)


def test_a_scrape_during_a_rescan_gets_the_previous_figures(
    engine: PrivateEngine, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second scan is held inside its walk (its progress callback waits): a scrape then
    gets the first scan's figures; released, the scan publishes the container's new size,
    equal to `docker inspect --size`."""
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    hold, entered, release = threading.Event(), threading.Event(), threading.Event()
    priority: list[tuple[int | None, int]] = []

    def progress(p: ScanProgress) -> None:
        priority.append((io_class(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        if hold.is_set() and not release.is_set():
            entered.set()
            release.wait(300)

    running = _start(["--root", str(engine.data_root)], progress=progress)
    try:
        assert running.exporter.wait_for_scans(1, 300)
        first = running.scrape()
        size = engine.inspect(writer, size=True)[0]["SizeRw"]
        assert _value(first, "overlayscope_container_writable_bytes", container_id=writer) == size
        info = parse(first)["overlayscope_info"][0].labels
        assert info["engine_version"] == engine.client.version()["Version"]
        engine.docker("exec", writer, "dd", "if=/dev/zero", "of=/grown", "bs=1k", "count=300")
        grown = engine.inspect(writer, size=True)[0]["SizeRw"]
        assert grown >= size + 300 * 1024
        hold.set()
        running.exporter.rescan()
        assert entered.wait(300), running.log
        during = running.scrape()
        assert _value(during, "overlayscope_scan_running") == 1
        assert _value(during, "overlayscope_container_writable_bytes", container_id=writer) == size
        assert _value(during, "overlayscope_scan_timestamp_seconds") == _value(
            first, "overlayscope_scan_timestamp_seconds"
        )
        release.set()
        assert running.exporter.wait_for_scans(2, 300)
        after = running.scrape()
        assert _value(after, "overlayscope_container_writable_bytes", container_id=writer) == grown
        assert _value(after, "overlayscope_scan_running") == 0
        assert len(running.scans) == 2
        # the scan ran in the idle I/O class at nice 19; the test's own thread did not
        assert set(priority) == {(IOPRIO_CLASS_IDLE, NICE)}
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != NICE
    finally:
        release.set()
        _stop(running)
