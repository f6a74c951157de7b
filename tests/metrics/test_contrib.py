"""The files a fleet applies (contrib/): the alert rules under `promtool`, the systemd units
under `systemd-analyze verify`, and the container, Kubernetes and Grafana files against what
the CLI accepts and publishes."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from overlayscope.cli.main import build_parser
from overlayscope.cli.metrics import DEFAULT_LISTEN, parse_duration, parse_listen
from tests.metrics.prom import DASHBOARD, PROMTOOL, REPO, RULE_TESTS, RULES, metric_names

CONTRIB = REPO / "contrib"
SYSTEMD = CONTRIB / "systemd"
KUBERNETES = CONTRIB / "kubernetes"


def _promtool() -> str:
    if PROMTOOL is None:
        from tests.conftest import skip_or_fail

        skip_or_fail("no promtool on PATH (apt-get install prometheus)")
    assert PROMTOOL is not None
    return PROMTOOL


def test_rules_are_valid() -> None:
    done = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_passes_its_unit_test() -> None:
    done = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
              if "alert" in r}  # fmt: skip
    tested = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
        if t["exp_alerts"]
    }
    assert alerts == tested  # each alert is seen firing at least once


def _exec_lines(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.partition("=")[2])
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]


def _overlayscope_args(argv: list[str]) -> list[str]:
    assert Path(argv[0]).name == "overlayscope", argv
    return argv[1:]


def test_systemd_units_verify_and_run_our_cli(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    units = sorted(SYSTEMD.iterdir())
    assert {u.name for u in units} == {
        "overlayscope-textfile.service",
        "overlayscope-textfile.timer",
        "overlayscope-exporter.service",
    }
    here = Path(sys.executable).parent / "overlayscope"
    for unit in units:
        text = unit.read_text().replace("/usr/local/bin/overlayscope", str(here))
        (tmp_path / unit.name).write_text(text)
        for argv in _exec_lines(unit):
            args = build_parser().parse_args(_overlayscope_args(argv))
            assert args.offline and args.root == "/var/lib/docker" and args.no_copy_ups
            assert args.command in ("metrics", "serve")
            if args.command == "metrics":
                assert args.textfile == "/var/lib/prometheus/node-exporter"
            else:
                assert args.listen == parse_listen(DEFAULT_LISTEN)  # loopback
    for unit in units:  # what the comments promise about privileges
        if unit.suffix == ".service":
            text = unit.read_text()
            assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH\n" in text
            assert "IOSchedulingClass=idle" in text or "exporter" in unit.name
    if analyze is None:
        pytest.skip("no systemd-analyze on PATH")
    done = subprocess.run(
        [analyze, "verify", *(f"./{u.name}" for u in units)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_daemonset_reads_the_root_read_only_with_one_capability() -> None:
    docs = {d["kind"]: d for d in _documents(KUBERNETES / "daemonset.yaml")}
    spec = docs["DaemonSet"]["spec"]["template"]
    (container,) = spec["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.root, args.offline) == ("serve", "/var/lib/containerd", True)
    port = args.listen[1]
    assert args.listen == ("0.0.0.0", port)  # the pod's IP, for Prometheus
    assert container["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    annotations = spec["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    security = container["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    volumes = {v["name"]: v for v in spec["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "hostPath" in volume:
            assert mount["readOnly"] is True
            assert volume["hostPath"] == {"path": mount["mountPath"], "type": "Directory"}
            assert args.root.startswith(mount["mountPath"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert any(m["mountPath"] == env["XDG_CACHE_HOME"] for m in container["volumeMounts"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    monitors = {d["kind"]: d for d in _documents(KUBERNETES / "servicemonitor.yaml")}
    (endpoint,) = monitors["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert monitors["Service"]["spec"]["ports"][0]["port"] == port
    assert {"targetLabel": "instance"}.items() <= endpoint["relabelings"][0].items()
    selector = monitors["Service"]["spec"]["selector"]
    assert selector.items() <= spec["metadata"]["labels"].items()


def test_container_image_runs_our_cli() -> None:
    text = (CONTRIB / "container" / "Containerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["overlayscope"]
    args = build_parser().parse_args(cmd)
    assert (args.command, args.listen) == ("serve", ("0.0.0.0", 9861))
    assert f"EXPOSE {args.listen[1]}" in text


def test_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance", "root"}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert metric_names(target["expr"]), target["expr"]
            used = set(re.findall(r"\$(\w+)", target["expr"]))
            assert used <= variables, target["expr"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9861", ("127.0.0.1", 9861)),
        (":9861", ("0.0.0.0", 9861)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9861", ("::1", 9861)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9861", "::1:9861", "host:port", "host:70000", ""])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(Exception, match=r"ADDR:PORT|brackets"):
        parse_listen(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("300", 300), ("90s", 90), ("5m", 300), ("1.5h", 5400), ("0.5", 0.5)]
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "5d", "-1m", "m", "1 m s"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(Exception, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("command", ["metrics", "serve"])
def test_json_does_not_apply(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from overlayscope.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["--json", "--root", "/nonexistent", command])
    assert exit_.value.code == 2
    assert "--json" in capsys.readouterr().err
