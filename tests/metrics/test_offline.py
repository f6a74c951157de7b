"""`overlayscope metrics` on the captured roots of real engines (Docker overlay2, containerd with
a Kubernetes pod and Docker 29, Podman rootful and rootless), offline: every series equals the
engine's own answer at capture time, or the JSON command that is tested against it
(`containers`, `images`, `orphans`, `check`, `df`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

from overlayscope.cli.main import main
from tests.containerd_fixtures import CapturedContainerd
from tests.engine import CapturedRoot, unpack_snapshot
from tests.legacy_overlay_engine import legacy_captured
from tests.metrics.prom import (
    DASHBOARD,
    PROMTOOL,
    REPO,
    RULES,
    Sample,
    by,
    metric_names,
    parse,
    promtool_check_metrics,
)
from tests.root.cli_helpers import run_json

pytestmark = pytest.mark.root
__all__ = ["legacy_captured"]  # the fixture, for pytest

PODMAN = REPO / "fixtures" / "podman"
METRICS_DOC = REPO / "docs" / "metrics.md"


def metrics(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """`overlayscope --offline ARGS… ` in-process (ARGS holds `metrics` and its options)."""
    capsys.readouterr()
    assert main(["--offline", *args]) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return out


def _json(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Any:
    code, doc = run_json(capsys, "--offline", "--root", str(root), *args)
    assert code == 0, args
    return doc


def _only(samples: list[Sample]) -> float:
    assert len(samples) == 1, samples
    return samples[0].value


# -- Docker overlay2 (fixtures/snapshot) ------------------------------------------------


@pytest.fixture(scope="module")
def docker_text(captured_root: CapturedRoot) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "overlayscope", "--offline", "--root", str(captured_root.path),
         "metrics", "--top", "1000"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return out.stdout


def test_writable_bytes_are_size_rw(
    docker_text: str, captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    series = parse(docker_text)
    writable = by(series["overlayscope_container_writable_bytes"], "container_id")
    listed = {c["id"]: c for c in _json(capsys, captured_root.path, "containers")}
    answers = captured_root.answers["containers"]
    assert set(writable) == {a["id"] for a in answers} | {"other"}
    for answer in answers:
        s = writable[answer["id"]]
        assert s.value == answer["size_rw"] == listed[answer["id"]]["size"], answer["name"]
        assert s.labels["name"] == answer["name"]
        assert s.labels["image"] == answer["image_ref"]  # the tag it was run from
        assert (s.labels["store"], s.labels["namespace"], s.labels["pod"]) == (
            "docker-overlay2", "", "",
        )  # fmt: skip
        assert s.labels["root"] == str(captured_root.path)
    assert writable["other"].value == 0
    copy_ups = by(series["overlayscope_container_copy_up_bytes"], "container_id")
    report = _json(capsys, captured_root.path, "df", "--containers")
    for c in report["containers"]:
        assert copy_ups[c["id"]].value == c["copy_ups"]["copied_up_bytes"]
        meta = by(series["overlayscope_container_metadata_only_copy_up_bytes"], "container_id")
        assert meta[c["id"]].value == c["copy_ups"]["metadata_only_bytes"]
        logs = by(series["overlayscope_container_log_bytes"], "container_id")
        assert logs[c["id"]].value == c["logs"]["allocated"]


def test_images_are_system_df(
    docker_text: str, captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    series = parse(docker_text)
    unique = by(series["overlayscope_image_unique_bytes"], "image_id")
    shared = by(series["overlayscope_image_shared_bytes"], "image_id")
    listed = [i for i in _json(capsys, captured_root.path, "images") if not i["intermediate"]]
    assert set(unique) == set(shared) == {i["id"] for i in listed} | {"other"}
    system_df = {i["Id"]: i for i in captured_root.answers["system_df"]["Images"]}
    for image in listed:
        assert unique[image["id"]].value == image["unique_size"]
        assert (
            shared[image["id"]].value
            == image["shared_size"]
            == system_df[image["id"]]["SharedSize"]
        )
        assert unique[image["id"]].labels["image"] == (image["tags"] or [""])[0]
    assert _only(series["overlayscope_images"]) == len(listed)


def test_df_series_are_df(
    docker_text: str, captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    series = parse(docker_text)
    report = _json(capsys, captured_root.path, "df")
    for name, field in (
        ("apparent_bytes", "apparent"),
        ("allocated_bytes", "allocated"),
        ("reclaimable_bytes", "reclaimable"),
        ("items", "count"),
    ):
        got = {s.labels["category"]: s.value for s in series[f"overlayscope_df_{name}"]}
        assert got == {c["name"]: c[field] for c in report["categories"]}, name
    layers = next(c for c in report["categories"] if c["name"] == "image_layers")
    for measure in ("apparent", "allocated"):
        split = by(series[f"overlayscope_df_image_layers_{measure}_bytes"], "sharing")
        assert set(split) == {"shared", "unique"}
        assert split["shared"].value + split["unique"].value == layers[measure]
        assert split["shared"].value > 0  # scope/app and scope/tool share the base image
    info = _only(series["overlayscope_info"])
    assert info == 1
    labels = series["overlayscope_info"][0].labels
    assert (labels["store"], labels["driver"], labels["engine"], labels["engine_version"]) == (
        "docker-overlay2", "overlay2", "Docker", "",
    )  # fmt: skip
    (fs,) = series["overlayscope_root_info"]
    assert fs.labels["path"] == str(captured_root.path)
    found = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE,TARGET,FSTYPE", "--target", str(captured_root.path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert [fs.labels["device"], fs.labels["mountpoint"], fs.labels["fstype"]] == found[:3]


def test_a_healthy_root_has_no_problems_orphans_or_errors(
    docker_text: str, captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    series = parse(docker_text)
    assert _json(capsys, captured_root.path, "check")["problems"] == []
    problems = series["overlayscope_problems"]
    assert len(problems) > 20 and all(s.value == 0 for s in problems)  # every kind, at 0
    assert _only(series["overlayscope_orphans"]) == _only(series["overlayscope_orphan_bytes"]) == 0
    errors = {s.labels["kind"]: s.value for s in series["overlayscope_scan_errors"]}
    assert errors == {"failed": 0, "permission": 0, "vanished": 0, "error": 0}
    states = {s.labels["state"]: s.value for s in series["overlayscope_containers"]}
    assert states == {"running": 1, "exited": 2, "created": 1}
    assert _only(series["overlayscope_scan_duration_seconds"]) > 0


def test_promtool_accepts_the_exposition(docker_text: str, captured_root: CapturedRoot) -> None:
    if PROMTOOL is None:
        pytest.skip("no promtool on PATH (apt-get install prometheus)")
    checked = promtool_check_metrics(docker_text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_openmetrics(captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]) -> None:
    text = metrics(capsys, "--root", str(captured_root.path), "metrics", "--openmetrics")
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_om(text)}  # the OpenMetrics parser is strict
    assert families["overlayscope"].type == "info"
    assert families["overlayscope_container_writable_bytes"].unit == "bytes"
    assert families["overlayscope_scan_timestamp_seconds"].unit == "seconds"


def test_top_bounds_the_series(
    docker_text: str, captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = parse(docker_text)
    text = metrics(capsys, "--root", str(captured_root.path), "metrics", "--top", "1")
    top = parse(text)
    for family, key in (
        ("overlayscope_container_writable_bytes", "container_id"),
        ("overlayscope_container_log_bytes", "container_id"),
        ("overlayscope_container_copy_up_bytes", "container_id"),
        ("overlayscope_image_unique_bytes", "image_id"),
        ("overlayscope_image_shared_bytes", "image_id"),
    ):
        all_ = by(everything[family], key)
        bounded = by(top[family], key)
        assert len(bounded) == 2 and "other" in bounded, family
        (kept,) = set(bounded) - {"other"}
        assert bounded[kept].value == all_[kept].value
        assert bounded["other"].value == sum(s.value for k, s in all_.items() if k != kept)
    # the container holding the most on disk keeps its own series: `web`, with 1 MB written
    kept_name = {s.labels["name"] for s in top["overlayscope_container_writable_bytes"]}
    assert kept_name == {"web", "other"}
    zero = parse(metrics(capsys, "--root", str(captured_root.path), "metrics", "--top", "0"))
    (other,) = zero["overlayscope_container_writable_bytes"]
    assert other.value == sum(s.value for s in everything["overlayscope_container_writable_bytes"])


def test_textfile_is_replaced_whole(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    (textfile / "overlayscope.prom").write_text("# the previous figures\n")
    old = os.umask(0o077)  # a strict umask must not hide the file from node_exporter
    try:
        args = ["--root", str(captured_root.path), "metrics", "--textfile", str(textfile)]
        assert metrics(capsys, *args) == ""
        metrics(capsys, *args, "--textfile-name", "overlayscope-second.prom")
    finally:
        os.umask(old)
    assert sorted(p.name for p in textfile.iterdir()) == [
        "overlayscope-second.prom",
        "overlayscope.prom",
    ]  # fmt: skip  (no temporary file left behind)
    written = textfile / "overlayscope.prom"
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    text = written.read_text()
    stdout = metrics(capsys, "--root", str(captured_root.path), "metrics")
    drop = ("overlayscope_scan_duration_seconds", "overlayscope_scan_timestamp_seconds")
    assert {k: v for k, v in parse(text).items() if k not in drop} == {
        k: v for k, v in parse(stdout).items() if k not in drop
    }


def test_textfile_and_openmetrics_is_a_usage_error(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--root", str(captured_root.path), "metrics", "--openmetrics", "--textfile",
              str(tmp_path)])  # fmt: skip
    assert exit_.value.code == 2
    assert "text format" in capsys.readouterr().err


def test_a_textfile_dir_that_is_not_there_is_an_error(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capsys.readouterr()
    args = ["--offline", "--root", str(captured_root.path), "metrics"]
    assert main([*args, "--textfile", str(tmp_path / "absent")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("overlayscope: error: cannot write ")


def test_a_failed_scan_says_so_in_the_textfile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A root that is not a data root (say, an empty mount): exit 3 with one line, and the
    textfile says the scan failed, so that node_exporter does not serve old figures."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "overlayscope.prom").write_text("overlayscope_orphans 5\n")
    capsys.readouterr()
    code = main(["--offline", "--root", str(empty), "metrics", "--textfile", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert len(err.strip().splitlines()) == 1 and "not a" in err
    series = parse((tmp_path / "out" / "overlayscope.prom").read_text())
    assert set(series) == {"overlayscope_scan_errors"}
    errors = {s.labels["kind"]: s for s in series["overlayscope_scan_errors"]}
    assert (errors["failed"].value, errors["failed"].labels["root"]) == (1, str(empty))


def _copy(captured: CapturedRoot, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(captured.path), str(dest)], check=True)
    return dest


def test_orphans_equal_the_orphans_command(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Drop the stopped container's records from a copy: its rw and init dirs are orphans,
    and the rw one holds the SizeRw docker gave for it."""
    copy = _copy(captured_root, tmp_path / "root")
    stopped = next(a for a in captured_root.answers["containers"] if a["name"] == "stopped")
    shutil.rmtree(copy / "containers" / stopped["id"])
    shutil.rmtree(copy / "image/overlay2/layerdb/mounts" / stopped["id"])
    series = parse(metrics(capsys, "--root", str(copy), "metrics"))
    orphans = _json(capsys, copy, "orphans")
    assert len(orphans) == 2
    assert _only(series["overlayscope_orphans"]) == len(orphans)
    assert _only(series["overlayscope_orphan_bytes"]) == sum(o["size"] for o in orphans)
    assert sum(o["size"] for o in orphans) >= stopped["size_rw"] > 0
    assert stopped["id"] not in by(series["overlayscope_container_writable_bytes"], "container_id")


def test_damaged_records_are_problem_series(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    copy = _copy(captured_root, tmp_path / "root")
    stopped = next(a for a in captured_root.answers["containers"] if a["name"] == "stopped")
    (copy / "containers" / stopped["id"] / "config.v2.json").write_text('{"ID": ')  # truncated
    series = parse(metrics(capsys, "--root", str(copy), "metrics"))
    problems = {s.labels["kind"]: s.value for s in series["overlayscope_problems"]}
    code, report = run_json(capsys, "--offline", "--root", str(copy), "check")
    assert code == 1
    expected: dict[str, int] = {}
    for p in report["problems"]:
        expected[p["kind"]] = expected.get(p["kind"], 0) + 1
    assert expected.get("bad-metadata", 0) >= 1
    assert {k: v for k, v in problems.items() if v} == expected


# -- containerd (fixtures/containerd): a Kubernetes node and Docker 29 -------------------


def test_kubernetes_containers_carry_their_pod(
    captured_containerd: CapturedContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    root = captured_containerd.root
    series = parse(metrics(capsys, "--root", str(root), "metrics", "--top", "1000"))
    writable = series["overlayscope_container_writable_bytes"]
    listed = _json(capsys, root, "containers")
    got = {(s.labels["namespace"], s.labels["container_id"]): s for s in writable}
    assert set(got) == {(c["namespace"], c["id"]) for c in listed} | {("", "other")}
    pods = 0
    for c in listed:
        s = got[(c["namespace"], c["id"])]
        assert s.value == c["size"], c["id"]
        assert (s.labels["store"], s.labels["name"]) == ("containerd", c["name"])
        k8s = c["kubernetes"]
        if k8s is None:
            assert (s.labels["pod"], s.labels["pod_namespace"], s.labels["container"]) == ("",) * 3
        else:
            pods += 1
            assert (s.labels["pod"], s.labels["pod_namespace"], s.labels["container"]) == (
                k8s["pod"], k8s["pod_namespace"], k8s["container"],
            )  # fmt: skip
    assert pods >= 2  # the pod's sandbox and its container
    assert {s.labels["namespace"] for s in writable} >= {"k8s.io"}
    # one image pulled into two namespaces is two images, told apart by `namespace`
    unique = series["overlayscope_image_unique_bytes"]
    keys = [(s.labels["namespace"], s.labels["image_id"]) for s in unique]
    assert len(keys) == len(set(keys))
    images = {(i["namespace"], i["id"]): i for i in _json(capsys, root, "images")}
    for s in unique:
        if s.labels["image_id"] != "other":
            image = images[(s.labels["namespace"], s.labels["image_id"])]
            assert s.value == image["unique_size"]


def test_docker29_is_measured_across_both_roots(
    captured_containerd: CapturedContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    root = captured_containerd.docker_root
    series = parse(metrics(capsys, "--root", str(root), "metrics"))
    listed = _json(capsys, root, "containers")
    writable = by(series["overlayscope_container_writable_bytes"], "container_id")
    assert listed and all(writable[c["id"]].value == c["size"] for c in listed)
    paths = {s.labels["path"] for s in series["overlayscope_root_info"]}
    assert paths == {str(root), str(captured_containerd.root)}
    assert {s.labels["root"] for s in series["overlayscope_root_info"]} == {str(root)}


# -- containers/storage (fixtures/podman) ---------------------------------------------------


@pytest.fixture(scope="module", params=["rootful", "rootless"])
def podman_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, Any]]]:
    if os.geteuid() != 0:
        from tests.conftest import skip_or_fail

        skip_or_fail("not root: whiteout device nodes and overlay xattrs need root to unpack")
    kind = request.param
    answers = json.loads((PODMAN / f"answers-{kind}.json").read_text())
    dest = tmp_path_factory.mktemp(f"podman-{kind}")
    try:
        unpack_snapshot(PODMAN / f"{kind}.tar.xz", dest)
        yield dest, answers
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_podman_containers_and_images(
    podman_store: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, answers = podman_store
    series = parse(metrics(capsys, "--root", str(root), "metrics"))
    writable = by(series["overlayscope_container_writable_bytes"], "container_id")
    for answer in answers["containers"]:
        inspect = answer["inspect"]
        s = writable[inspect["Id"]]
        assert s.value == inspect["SizeRw"], answer["name"]  # podman inspect --size
        assert (s.labels["name"], s.labels["store"]) == (answer["name"], "containers-storage")
    images = {i["id"]: i for i in _json(capsys, root, "images")}
    for s in series["overlayscope_image_unique_bytes"]:
        if s.labels["image_id"] != "other":
            assert s.value == images[s.labels["image_id"]]["unique_size"]
    labels = series["overlayscope_info"][0].labels
    assert (labels["store"], labels["engine"]) == ("containers-storage", "Podman")
    assert _only(series["overlayscope_orphans"]) == 0
    assert all(s.value == 0 for s in series["overlayscope_problems"])


# -- what the docs, the dashboard and the rules name --------------------------------------

SERVE_ONLY = {"overlayscope_scan_running"}
NODE_EXPORTER = {"node_filesystem_size_bytes", "up"}


def _published(text: str) -> set[str]:
    return set(parse(text)) | SERVE_ONLY


def test_every_series_is_documented(docker_text: str) -> None:
    documented = set(re.findall(r"^\| `(overlayscope_\w+)` \|", METRICS_DOC.read_text(), re.M))
    assert documented == _published(docker_text)


def test_dashboard_and_rules_read_published_series(docker_text: str) -> None:
    rules = yaml.safe_load(RULES.read_text())
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    known = _published(docker_text) | records | NODE_EXPORTER
    queries = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    queries += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    for query in queries:
        names = metric_names(re.sub(r"^label_values\((.*), *\w+\)$", r"\1", query))
        assert names and names <= known, (query, names - known)


def test_names_from_the_evidence_are_safe_label_values(
    captured_root: CapturedRoot, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A container named with a terminal escape, a newline, quotes, a backslash and a lone
    surrogate (what JSON's \\udcff gives): a label value shown as human output shows it."""
    copy = _copy(captured_root, tmp_path / "root")
    web = next(a for a in captured_root.answers["containers"] if a["name"] == "web")
    config = copy / "containers" / web["id"] / "config.v2.json"
    record = json.loads(config.read_text())
    record["Name"] = '/we\x1b[2Jb\n"x"\\\udcff'
    config.write_text(json.dumps(record))
    text = metrics(capsys, "--root", str(copy), "metrics")
    writable = by(parse(text)["overlayscope_container_writable_bytes"], "container_id")
    assert writable[web["id"]].labels["name"] == 'we\\x1b[2Jb\\n"x"\\\\\\xff'
    assert writable[web["id"]].value == web["size_rw"]
    if PROMTOOL is not None:
        checked = promtool_check_metrics(text)
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_legacy_overlay_containers(
    legacy_captured: CapturedRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    """Docker's legacy `overlay` driver, whose SizeRw is what the diff adds or changes."""
    series = parse(metrics(capsys, "--root", str(legacy_captured.path), "metrics"))
    writable = by(series["overlayscope_container_writable_bytes"], "container_id")
    for answer in legacy_captured.answers["containers"]:
        assert writable[answer["id"]].value == answer["size_rw"], answer["name"]
        assert writable[answer["id"]].labels["store"] == "docker-overlay"
    assert series["overlayscope_info"][0].labels["driver"] == "overlay"
