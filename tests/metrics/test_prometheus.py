"""overlayscope in a real Prometheus: `overlayscope serve` on a private dockerd's live root, and
`overlayscope metrics --textfile` on a copy of it read by a real node_exporter, both scraped
every second by Prometheus 2.42 with the alert rules loaded. Every assertion goes through
Prometheus' query API: each container's series is `docker inspect --size` SizeRw, the orphan
series are `overlayscope orphans`, the recording rule joins node_exporter's own
`node_filesystem_size_bytes`, every dashboard query runs.

One Prometheus, one node_exporter and one exporter for the module; polling is bounded and
waits for scrapes, it never asserts a speed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.engine import PrivateEngine
from tests.metrics.prom import (
    DASHBOARD,
    DEMO,
    RULES,
    NodeExporter,
    Prometheus,
    Serve,
    copy_root,
    parse,
    prometheus_unavailable_reason,
    promtool_check_metrics,
    wait_until,
)
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.engine

WRITES = 12  # the writer container adds 1 MiB, WRITES times, a pause between each


@dataclass
class Fleet:
    engine: PrivateEngine
    prometheus: Prometheus
    serve: Serve
    node: NodeExporter
    copy: Path  # a copy of the live root, the stopped container's records dropped
    textfile: Path
    writer: str
    stopped: str
    wrote: tuple[float, float]  # when the writer started and finished (Unix time)


@pytest.fixture(scope="module")
def fleet(
    engine: PrivateEngine, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    reason = prometheus_unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("fleet")
    engine.build(
        "fleet/app:1",
        f"FROM {base_image}\nRUN dd if=/dev/zero of=/blob bs=1k count=200 2>/dev/null\n",
    )
    stopped = engine.run(
        "fleet/app:1",
        ["sh", "-c", "echo done > /out; dd if=/dev/zero of=/big bs=1k count=150 2>/dev/null"],
        name="fleet-stopped",
    )
    engine.docker("wait", stopped)
    textfile = base / "textfile"
    textfile.mkdir()
    started: list[Any] = []
    try:
        node = NodeExporter(textfile, base / "node_exporter.log")
        started.append(node)
        serve = Serve(
            ["--root", str(engine.data_root)],
            ["--interval", "2s", "--top", "1000"],
            base / "serve.log",
            env={**os.environ, "DOCKER_HOST": engine.host},
        )
        started.append(serve)
        prometheus = Prometheus(
            base / "prometheus",
            {"overlayscope": serve.url.removeprefix("http://"), "node": node.address},
            rules=[RULES],
        )
        started.append(prometheus)
        prometheus.wait_for(  # scraped once before the writer starts: its growth is seen whole
            "a first scrape",
            'overlayscope_container_writable_bytes{job="overlayscope", name="fleet-stopped"}',
            lambda r: len(r) == 1,
            180,
        )
        begin = time.time()
        writer = engine.run(
            "fleet/app:1",
            ["sh", "-c", f"i=0; while [ $i -lt {WRITES} ]; do i=$((i+1)); "
             "dd if=/dev/urandom of=/data$i bs=64k count=16 2>/dev/null; sleep 2; done; "
             "touch /done; sleep 3600"],
            name="fleet-writer",
        )  # fmt: skip
        wait_until("the writer's last write", lambda: _done(engine, writer), 300, every=1)
        end = time.time()
        copy = copy_root(engine.data_root, base / "copy")
        shutil.rmtree(copy / "containers" / stopped)
        shutil.rmtree(copy / "image/overlay2/layerdb/mounts" / stopped)
        _write_textfile(copy, textfile)
        yield Fleet(engine, prometheus, serve, node, copy, textfile, writer, stopped, (begin, end))
    finally:
        for daemon in reversed(started):
            daemon.stop()
        for name in ("fleet-writer", "fleet-stopped"):
            subprocess.run(
                ["docker", "rm", "-f", name], env=engine.env, capture_output=True, check=False
            )
        shutil.rmtree(base / "copy", ignore_errors=True)


def _done(engine: PrivateEngine, container: str) -> bool:
    done = subprocess.run(
        ["docker", "exec", container, "test", "-e", "/done"], env=engine.env, check=False
    )
    return done.returncode == 0


def _write_textfile(copy: Path, textfile: Path) -> None:
    """As contrib/systemd/overlayscope-textfile.service does: uid 0 holding
    CAP_DAC_READ_SEARCH alone (so file modes bind it, but for reading), --no-copy-ups."""
    setpriv = shutil.which("setpriv")
    wrapper = (
        [setpriv, "--inh-caps=-all,+dac_read_search", "--bounding-set=-all,+dac_read_search",
         "--"] if setpriv else []
    )  # fmt: skip
    done = subprocess.run(
        [*wrapper, sys.executable, "-m", "overlayscope", "--offline", "--root", str(copy),
         "metrics", "--no-copy-ups", "--top", "1000", "--textfile", str(textfile)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _size_rw(engine: PrivateEngine) -> dict[str, dict[str, Any]]:
    """Every container of the engine as `docker inspect --size` gives it."""
    ids = [c["Id"] for c in engine.client.api.containers(all=True)]
    return {i["Id"]: i for i in engine.inspect(*ids, size=True)} if ids else {}


def _by_id(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["container_id"]: float(r["value"][1]) for r in result}


def test_each_containers_series_is_its_size_rw(fleet: Fleet) -> None:
    truth = _size_rw(fleet.engine)
    expected = {cid: float(i["SizeRw"]) for cid, i in truth.items()}
    query = 'overlayscope_container_writable_bytes{job="overlayscope", container_id!="other"}'
    result = fleet.prometheus.wait_for(
        "every container's SizeRw", query, lambda r: _by_id(r) == expected, 180
    )
    for r in result:
        labels, inspect = r["metric"], truth[r["metric"]["container_id"]]
        assert labels["name"] == inspect["Name"].lstrip("/")
        assert (labels["store"], labels["instance"], labels["root"]) == (
            "docker-overlay2", "test-node", str(fleet.engine.data_root),
        )  # fmt: skip
    writer = next(r["metric"] for r in result if r["metric"]["container_id"] == fleet.writer)
    assert writer["image"] == "fleet/app:1"
    assert expected[fleet.writer] >= WRITES * 1024 * 1024


def test_orphan_series_are_the_orphans_command(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    for job, root in (("overlayscope", fleet.engine.data_root), ("node", fleet.copy)):
        code, orphans = run_json(capsys, "--offline", "--root", str(root), "orphans")
        assert code == 0
        total = float(sum(o["size"] for o in orphans))
        fleet.prometheus.wait_for(
            f"orphans of {job}",
            f'overlayscope_orphan_bytes{{job="{job}"}} == {total} '
            f'and overlayscope_orphans{{job="{job}"}} == {len(orphans)}',
            lambda r: len(r) == 1,
            180,
        )
        if job == "node":  # the copy's dropped container: its rw and init dirs
            assert len(orphans) == 2
            assert total >= fleet.engine.inspect(fleet.stopped, size=True)[0]["SizeRw"] > 0


def test_the_textfile_path(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, listed = run_json(capsys, "--offline", "--root", str(fleet.copy), "containers")
    assert code == 0
    truth = _size_rw(fleet.engine)
    expected = {c["id"]: float(truth[c["id"]]["SizeRw"]) for c in listed}
    assert fleet.stopped not in expected and fleet.writer in expected
    query = 'overlayscope_container_writable_bytes{job="node", container_id!="other"}'
    fleet.prometheus.wait_for("the textfile's containers", query,
                              lambda r: _by_id(r) == expected, 180)  # fmt: skip
    # node_exporter read the file without complaint; it is no older than the copy
    assert fleet.prometheus.values('node_textfile_scrape_error{job="node"}', "job") == {"node": 0.0}
    written = (fleet.textfile / "overlayscope.prom").read_text()
    checked = promtool_check_metrics(written)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    assert "overlayscope_container_copy_up_bytes" not in parse(written)  # --no-copy-ups


def test_info_names_the_live_engine(fleet: Fleet) -> None:
    result = fleet.prometheus.wait_for(
        "overlayscope_info", 'overlayscope_info{job="overlayscope"}', lambda r: len(r) == 1, 180
    )
    labels = result[0]["metric"]
    assert labels["engine_version"] == fleet.engine.client.version()["Version"]
    assert (labels["store"], labels["driver"], labels["engine"]) == (
        "docker-overlay2", "overlay2", "Docker",
    )  # fmt: skip


def test_reclaimable_share_joins_node_exporters_filesystem(fleet: Fleet) -> None:
    """The recording rule, evaluated by Prometheus on real node_exporter series, equals the
    division done by hand."""
    prom = fleet.prometheus
    record = "overlayscope:df_reclaimable_bytes:ratio_filesystem_size"
    result = prom.wait_for(record, record, lambda r: len(r) == 2, 180)
    assert {r["metric"]["root"] for r in result} == {
        str(fleet.engine.data_root),
        str(fleet.copy),
    }
    for r in result:
        root = r["metric"]["root"]
        (info,) = prom.query(f'overlayscope_root_info{{root="{root}"}}')
        device = info["metric"]["device"]
        size = prom.values(f'node_filesystem_size_bytes{{device="{device}"}}', "device")[device]
        reclaimable = prom.query(f'sum(overlayscope_df_reclaimable_bytes{{root="{root}"}})')
        expected = float(reclaimable[0]["value"][1]) / size
        assert expected > 0
        assert float(r["value"][1]) == pytest.approx(expected, rel=1e-9)


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_dashboard_query_runs(fleet: Fleet) -> None:
    prom = fleet.prometheus
    prom.wait_for(
        "the recording rule",
        "overlayscope:df_reclaimable_bytes:ratio_filesystem_size",
        lambda r: len(r) == 2,
        180,
    )
    for title, expr in _dashboard_queries():
        query = expr.replace("$instance", ".*").replace("$root", ".*")
        result = prom.query(query)  # raises unless Prometheus parsed and ran it
        if not any(op in expr for op in (">", "==")):
            assert result, (title, expr)


def test_what_we_serve_passes_promtool(fleet: Fleet) -> None:
    checked = promtool_check_metrics(fleet.serve.scrape())
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_the_fleet_demo_renders_a_query_range(fleet: Fleet) -> None:
    """contrib/prometheus/demo.py on this Prometheus: the writer's writable layer as it grew.
    With OVERLAYSCOPE_FLEET_DEMO=FILE, the table is also written there (for the README)."""
    begin = fleet.wrote[0]
    query = 'overlayscope_container_writable_bytes{job="overlayscope", name=~"fleet-.*"}'
    size = float(fleet.engine.inspect(fleet.writer, size=True)[0]["SizeRw"])
    fleet.prometheus.wait_for(
        "the writer's final size",
        f'overlayscope_container_writable_bytes{{job="overlayscope", name="fleet-writer"}} '
        f"== {size}",
        lambda r: len(r) == 1,
        180,
    )
    last = math.ceil(time.time())  # the final sample is in: the last row shows it
    since = math.ceil((last - begin) / 4) * 4 + 4  # whole steps, from before the first write
    args = [
        sys.executable, str(DEMO), "--url", fleet.prometheus.url, "--query", query,
        "--end", str(last), "--since", f"{since}s", "--step", "4s",
    ]  # fmt: skip
    shown = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    raw = subprocess.run(
        [*args, "--raw"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    header = next(line for line in raw.splitlines() if line.startswith("| time"))
    assert header == "| time (UTC) | fleet-stopped | fleet-writer |"
    rows = [line.split("|")[2:4] for line in raw.splitlines() if re.match(r"\| \d\d:", line)]
    writer = [float(w) for _, w in rows if w.strip()]
    assert writer == sorted(writer) and writer[-1] == size and writer[0] < size
    stopped = {s.strip() for s, _ in rows if s.strip()}
    assert stopped == {str(fleet.engine.inspect(fleet.stopped, size=True)[0]["SizeRw"])}
    out = os.environ.get("OVERLAYSCOPE_FLEET_DEMO")
    if out:
        command = f"python3 contrib/prometheus/demo.py --url $PROMETHEUS --query '{query}'"
        Path(out).write_text(f"$ {command} --since {since}s --step 4s\n{shown}")
