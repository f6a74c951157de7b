"""A container's log tail and run config, read from real files and records: the formats
the engines write, the captured Docker root's records, and hostile or damaged input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from overlayscope.record import replace
from overlayscope.root.container_logs import parse_log, read_log_tail
from overlayscope.root.load import load_host
from overlayscope.root.model import Container, ContainerMount
from overlayscope.root.run_config import docker_run_config, oci_run_config, podman_ports
from tests.engine import CapturedRoot


def container_with_logs(captured_root: CapturedRoot, *logs: str) -> Container:
    host = load_host(str(captured_root.path))
    web = next(c for c in host.containers.values() if c.name == "web")
    return replace(web, logs=logs)


@pytest.mark.parametrize(
    ("data", "fmt", "lines"),
    [
        (
            b'{"log":"hi\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\n'
            b'{"log":"oops\\n","stream":"stderr","time":"2026-01-01T00:00:01Z"}\n',
            "json-file",
            [("2026-01-01T00:00:00Z", "stdout", "hi"), ("2026-01-01T00:00:01Z", "stderr", "oops")],
        ),
        (
            # CRI: a partial (P) line continues on the next, keeping its own time.
            b"2026-01-01T00:00:00.1Z stdout P part one \n"
            b"2026-01-01T00:00:00.2Z stdout F and two\n"
            b"2026-01-01T00:00:01Z stderr F err\n",
            "cri",
            [
                ("2026-01-01T00:00:00.1Z", "stdout", "part one and two"),
                ("2026-01-01T00:00:01Z", "stderr", "err"),
            ],
        ),
        (b"plain\nlines\xff\n", "text", [(None, None, "plain"), (None, None, "lines\udcff")]),
        (b"", "text", []),
        # JSON of the wrong shape is no json-file line: shown as text, never guessed at.
        (b'{"log": 5}\n[1]\n', "text", [(None, None, '{"log": 5}'), (None, None, "[1]")]),
    ],
)
def test_parse_log(data: bytes, fmt: str, lines: list[tuple[str | None, str | None, str]]) -> None:
    got_fmt, got = parse_log(data)
    assert got_fmt == fmt
    assert [(line.time, line.stream, line.text) for line in got] == lines


@pytest.mark.root
def test_only_the_end_of_a_long_log_is_read(captured_root: CapturedRoot, tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    with log.open("w") as f:
        for i in range(5000):
            f.write(json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": "t"}) + "\n")
    before = os.stat(log)
    tail = read_log_tail(container_with_logs(captured_root, str(log)), max_bytes=4096)
    assert tail.format == "json-file" and tail.cut and tail.size == before.st_size
    assert tail.lines[-1].text == "line 4999"
    assert all(line.text.startswith("line ") for line in tail.lines)  # no half first line
    assert len(tail.lines) < 100
    assert os.stat(log).st_atime_ns == before.st_atime_ns  # read without touching it


@pytest.mark.root
def test_a_symlink_or_fifo_in_place_of_the_log_is_never_opened(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    link = tmp_path / "a-json.log"
    link.symlink_to(secret)
    tail = read_log_tail(container_with_logs(captured_root, str(link)))
    assert tail.lines == () and tail.note is not None and "not a regular file" in tail.note
    fifo = tmp_path / "b-json.log"
    os.mkfifo(fifo)
    tail = read_log_tail(container_with_logs(captured_root, str(fifo)))  # would block if opened
    assert tail.lines == () and tail.note is not None and "not a regular file" in tail.note


@pytest.mark.root
def test_no_log_and_rotated_logs_are_said(captured_root: CapturedRoot, tmp_path: Path) -> None:
    rotated = tmp_path / "c-json.log.1"
    rotated.write_text("old\n")
    tail = read_log_tail(container_with_logs(captured_root, str(rotated)))
    assert tail.path is None and tail.others == (str(rotated),)
    assert tail.note is not None and "no log file" in tail.note


@pytest.mark.root
def test_captured_docker_records_give_the_run_config(captured_root: CapturedRoot) -> None:
    host = load_host(str(captured_root.path))
    answers = {a["id"]: a for a in captured_root.answers["containers"]}
    for c in host.containers.values():
        with open(os.path.join(c.path, "config.v2.json")) as f:
            config = json.load(f)
        # Path + Args is what `docker inspect` shows as the command run.
        assert c.command == (config["Path"], *config["Args"])
        assert c.env == tuple(config["Config"]["Env"])
        assert c.restart_count == config["RestartCount"] == 0
        if c.state == "exited":
            assert c.exit_code == answers[c.id]["exit_code"]
    stopped = next(c for c in host.containers.values() if c.name == "stopped")
    assert stopped.command[:2] == ("sh", "-c") and "APP_HOME=/app" in stopped.env


def test_docker_config_mounts_and_ports() -> None:
    config = {
        "Path": "nginx",
        "Args": ["-g", "daemon off;"],
        "Config": {"Env": ["A=1", 7], "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}},
        "MountPoints": {
            "/data": {"Destination": "/data", "Type": "volume", "Name": "vol", "RW": True},
            "/etc/x": {"Destination": "/etc/x", "Type": "bind", "Source": "/srv/x", "RW": False},
            "bad": {"Destination": 5},
        },
        "RestartCount": 2,
    }
    hostconfig = {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
    run = docker_run_config(config, hostconfig)
    assert run.command == ("nginx", "-g", "daemon off;")
    assert run.env == ("A=1",)  # a value of another type reads as absent
    assert run.mounts == (
        ContainerMount("/data", "vol", "volume", False),
        ContainerMount("/etc/x", "/srv/x", "bind", True),
    )
    assert run.ports == ("0.0.0.0:8080->80/tcp", "443/tcp")
    assert run.restart_count == 2


@pytest.mark.parametrize(
    "config",
    [{}, {"Path": 5, "Args": "x", "Config": [], "MountPoints": [], "RestartCount": True}],
)
def test_docker_config_of_wrong_types_reads_as_nothing(config: dict[str, object]) -> None:
    run = docker_run_config(config, {"PortBindings": "x"})
    assert (run.command, run.env, run.mounts, run.ports, run.restart_count) == (
        (),
        (),
        (),
        (),
        None,
    )


def test_oci_spec_and_podman_ports() -> None:
    spec = {
        "process": {"args": ["/bin/sh", "-c", "x"], "env": ["PATH=/bin"]},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/hosts", "type": "bind", "source": "/h", "options": ["ro"]},
            "junk",
        ],
    }
    run = oci_run_config(spec)
    assert run.command == ("/bin/sh", "-c", "x") and run.env == ("PATH=/bin",)
    assert run.mounts == (
        ContainerMount("/proc", "proc", "proc", False),
        ContainerMount("/etc/hosts", "/h", "bind", True),
    )
    assert oci_run_config("not a spec").command == ()
    ports = podman_ports(
        {"newPortMappings": [{"container_port": 80, "host_port": 8080, "range": 2}, {"x": 1}]}
    )
    assert ports == ("0.0.0.0:8080->80/tcp", "0.0.0.0:8081->81/tcp")
