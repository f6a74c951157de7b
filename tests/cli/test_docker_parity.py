"""Where users reach for the Docker CLI, the same answer: `docker ps -s`'s virtual size,
`docker images` hiding intermediate images, `docker history`'s rows for empty steps, and
`--columns`. The truth is a real private dockerd's."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from overlayscope.cli.plain import size
from overlayscope.errors import ExitCode
from tests.engine import PrivateEngine
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def scenario(engine: PrivateEngine, base_image: str) -> dict[str, str]:
    """A classic build with empty steps (ENV, LABEL, CMD) between two layers, which
    leaves intermediate images; a container that wrote to its rw layer."""
    image = engine.build(
        "parity/app:1",
        f"FROM {base_image}\nENV GREETING=hello\nRUN echo one > /one\n"
        "LABEL org.example.step=two\nRUN dd if=/dev/zero of=/blob bs=1k count=64 2>/dev/null\n"
        'CMD ["sh", "-c", "sleep 1"]\n',
    )
    container = engine.run("parity/app:1", ["sh", "-c", "echo changed > /one"], name="parity-c")
    engine.docker("wait", container)
    return {"image": image, "container": container}


def _args(engine: PrivateEngine, *args: str) -> list[str]:
    return ["--offline", "--root", str(engine.data_root), *args]


def test_containers_size_and_virtual_size_are_dockers(
    engine: PrivateEngine, scenario: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, containers = run_json(capsys, *_args(engine, "containers"))
    assert code == ExitCode.OK
    by_id = {c["id"]: c for c in containers}
    assert scenario["container"] in by_id
    for cid, c in by_id.items():
        truth = engine.inspect(cid, size=True)[0]
        assert c["size"] == truth["SizeRw"], c["name"]
        assert c["size_root_fs"] == truth["SizeRootFs"], c["name"]
    # the table shows them side by side, as `docker ps -s` does ("2B (virtual 4.86MB)")
    code, out, _ = run_text(
        capsys, *_args(engine, "containers", "--columns", "container,size,virtual")
    )
    assert code == ExitCode.OK
    truth = engine.inspect(scenario["container"], size=True)[0]
    row = next(line for line in out.splitlines() if line.startswith(scenario["container"][:12]))
    assert row.split()[0] == scenario["container"][:12]
    assert re.search(
        rf"{re.escape(size(truth['SizeRw']))}\s+{re.escape(size(truth['SizeRootFs']))}$", row
    ), row


def _shown_ids(out: str) -> set[str]:
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def test_images_hide_intermediate_ones_unless_all(
    engine: PrivateEngine, scenario: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_text(capsys, *_args(engine, "images", "--columns", "image"))
    assert code == ExitCode.OK
    visible = set(engine.docker("images", "--quiet", "--no-trunc").split())
    assert _shown_ids(out) == {i.removeprefix("sha256:")[:12] for i in visible}
    every = set(engine.docker("images", "--all", "--quiet", "--no-trunc").split())
    assert every > visible, "the classic build left no intermediate image"
    hidden = len(every - visible)
    assert f"{hidden} intermediate image{'s' if hidden > 1 else ''} not shown" in err
    code, out, err = run_text(capsys, *_args(engine, "images", "--all", "--columns", "image"))
    assert code == ExitCode.OK and err == ""
    assert _shown_ids(out) == {i.removeprefix("sha256:")[:12] for i in every}


def _unix(created: str) -> int:
    return int(datetime.fromisoformat(created.replace("Z", "+00:00")[:19] + "+00:00").timestamp())


def test_history_is_dockers_with_empty_steps_and_their_times(
    engine: PrivateEngine, scenario: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run_json(capsys, *_args(engine, "history", "parity/app:1"))
    assert code == ExitCode.OK
    truth: list[dict[str, Any]] = engine.client.api.history("parity/app:1")
    assert len(rows) == len(truth)
    assert any(r["empty_layer"] for r in rows) and any(not r["empty_layer"] for r in rows)
    for ours, theirs in zip(rows, truth, strict=True):
        assert ours["created_by"] == theirs["CreatedBy"]
        assert ours["size"] == theirs["Size"], ours["created_by"]
        assert ours["comment"] == theirs["Comment"]
        assert _unix(ours["created"]) == theirs["Created"]
        assert ours["image"] == (None if theirs["Id"] == "<missing>" else theirs["Id"])
    # the table: one row a step, docker's ids (or <missing>) and its 45-character cut
    code, out, _ = run_text(capsys, *_args(engine, "history", "parity/app:1"))
    assert code == ExitCode.OK
    lines = out.splitlines()[1:]
    assert len(lines) == len(truth)
    cli = engine.docker("history", "--format", "{{.ID}}\t{{.CreatedBy}}", "parity/app:1")
    for line, docker_line in zip(lines, cli.splitlines(), strict=True):
        docker_id, created_by = docker_line.split("\t", 1)
        assert line.split()[0] == docker_id
        assert created_by in line, (line, created_by)


def test_columns_select_and_order(
    engine: PrivateEngine, scenario: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_text(capsys, *_args(engine, "layers", "--columns", "role,layer"))
    assert code == ExitCode.OK
    assert out.splitlines()[0].split() == ["role", "layer"]
    code, out, _ = run_text(capsys, *_args(engine, "history", "parity/app:1", "--columns=size"))
    assert out.splitlines()[0].split() == ["size"]


def test_an_unknown_column_is_a_usage_error(
    engine: PrivateEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        run_text(capsys, *_args(engine, "containers", "--columns", "name,bogus"))
    assert done.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "unknown column 'bogus'" in err and "virtual" in err  # names the choices
