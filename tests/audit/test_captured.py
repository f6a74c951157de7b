"""`audit` and `timeline` on the captured snapshot (a real engine's data root), offline."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from overlayscope.audit import AuditOptions, AuditProgress, audit
from overlayscope.audit.findings import FindingKind
from overlayscope.audit.timeline import timeline, timeline_layers
from overlayscope.cli import progress
from overlayscope.errors import Cancelled
from overlayscope.root.load import load_host
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_json, run_text

pytestmark = pytest.mark.root

AUDIT_KEYS = {
    "root", "store", "reference_time", "images_audited", "hashed", "summary", "containers",
    "images", "layers", "orphans", "unresolved", "problems", "audited", "findings", "groups",
    "hashes",
}  # fmt: skip
FINDING_KEYS = {
    "kind",
    "severity",
    "container",
    "image",
    "layer",
    "role",
    "path",
    "detail",
    "sha256",
}


def _audit(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, Any]:
    return run_json(capsys, "--root", str(root), "--offline", "audit", *args)


def _web(captured: CapturedRoot) -> dict[str, Any]:
    return next(c for c in captured.answers["containers"] if c["name"] == "web")


def test_report_shape_and_sections(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot
) -> None:
    code, report = _audit(capsys, captured_root.path)
    assert code == 0
    assert set(report) == AUDIT_KEYS
    assert not report["images_audited"] and not report["hashed"] and report["hashes"] == []
    answers = {c["id"]: c for c in captured_root.answers["containers"]}
    assert {c["id"] for c in report["containers"]} == set(answers)
    for c in report["containers"]:
        assert (
            c["size"] == answers[c["id"]]["size_rw"]
        )  # the same shape and numbers as `containers`
    assert {i["id"] for i in report["images"]} == {i["id"] for i in captured_root.answers["images"]}
    assert report["problems"] == []
    assert {a["role"] for a in report["audited"]} == {"rw", "init"}
    for f in report["findings"]:
        assert set(f) == FINDING_KEYS
        assert f["kind"] in {str(k) for k in FindingKind}
        assert f["role"] in ("rw", "init")


def test_the_scenario_has_nothing_high(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot
) -> None:
    """The snapshot's containers append, chmod, touch, delete, rename and hard-link ordinary
    files: what they did is visible, and nothing reaches medium but a new executable name."""
    _, report = _audit(capsys, captured_root.path)
    web = _web(captured_root)["id"]
    got = {(f["kind"], f["severity"], f["path"], f["container"]) for f in report["findings"]}
    assert ("executable-added", "medium", "/app/bin/tool-link", web) in got  # `ln tool.sh`
    assert not [f for f in report["findings"] if f["severity"] == "high"]
    assert not [f for f in report["findings"] if f["role"] == "init"]  # Docker's stubs only
    assert report["summary"]["high"] == 0


def test_images_and_exit_status(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot
) -> None:
    code, report = _audit(capsys, captured_root.path, "--images", "--fail-on", "medium")
    assert code == 1  # a medium finding exists
    tab = [f for f in report["findings"] if f["path"] == "/app/tab\tname"]
    assert [(f["kind"], f["severity"], f["role"]) for f in tab] == [
        ("name-control", "medium", "image")
    ]
    assert report["images_audited"]
    code, _ = _audit(capsys, captured_root.path, "--images", "--fail-on", "high")
    assert code == 0
    code, filtered = _audit(capsys, captured_root.path, "--images", "--min-severity", "medium")
    assert code == 0
    assert {f["severity"] for f in filtered["findings"]} == {"medium"}
    assert filtered["summary"] == report["summary"]  # counts are of every finding


def test_hashes_and_iocs(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot, tmp_path: Path
) -> None:
    zeros = hashlib.sha256(bytes(1 << 20)).hexdigest()  # web's /srv/www/big.bin
    iocs = tmp_path / "iocs.txt"
    iocs.write_text(f"# known bad\n{zeros.upper()}\n/app/stopped.txt\n")
    code, report = _audit(
        capsys, captured_root.path, "--hash", "--ioc", str(iocs), "--fail-on", "high"
    )
    assert code == 1
    assert report["hashed"]
    web = _web(captured_root)["id"]
    hashes = {(h["container"], h["path"]): h for h in report["hashes"]}
    big = hashes[(web, "/srv/www/big.bin")]
    assert (big["sha256"], big["size"], big["change"]) == (zeros, 1 << 20, "added")
    assert hashes[(web, "/app/conf/app.conf")]["change"] == "changed"
    iocs_found = {
        (f["path"], f["severity"]) for f in report["findings"] if f["kind"] == "ioc-match"
    }
    assert iocs_found == {("/srv/www/big.bin", "high"), ("/app/stopped.txt", "high")}
    big_finding = next(f for f in report["findings"] if f["path"] == "/srv/www/big.bin")
    assert big_finding["sha256"] == zeros


def test_bad_ioc_file_is_an_error(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot, tmp_path: Path
) -> None:
    iocs = tmp_path / "iocs.txt"
    iocs.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    code, out, err = run_text(
        capsys, "--root", str(captured_root.path), "--offline", "audit", "--ioc", str(iocs)
    )
    assert code == 2 and out == ""  # a bad line of the analyst's list: a usage error
    assert "only SHA-256" in err and "iocs.txt:1:" in err


def test_human_output(capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot) -> None:
    code, out, _ = run_text(
        capsys, "--root", str(captured_root.path), "--offline", "audit", "--images"
    )
    assert code == 0
    assert "executable-added" in out and " findings: " in out
    assert "/app/tab\\tname" in out  # escaped, never a raw tab
    assert "\t" not in out and "\x1b" not in out
    lines = [
        line for line in out.splitlines() if line.startswith(("high", "medium", "low", "info"))
    ]
    order = ["high", "medium", "low", "info"]
    ranks = [order.index(line.split()[0]) for line in lines]
    assert ranks == sorted(ranks)  # most severe first


def _diff_entries(root: Path, layer: str) -> set[str]:
    diff = root / "overlay2" / layer / "diff"
    found = set()
    for top, dirs, files in os.walk(diff):
        for name in dirs + files:
            found.add("/" + os.path.relpath(os.path.join(top, name), diff))
    return found


def test_timeline_bodyfile(capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot) -> None:
    code, out, err = run_text(
        capsys, "--root", str(captured_root.path), "--offline", "timeline", "web"
    )
    assert code == 0 and err == ""
    data = _web(captured_root)["graph_driver"]["Data"]
    rw = Path(data["UpperDir"]).parent.name
    lines = out.splitlines()
    assert all(len(line.split("|")) == 11 for line in lines)
    names = [line.split("|")[1] for line in lines]
    rw_paths = {n.split(":", 3)[3].split(" -> ")[0] for n in names if n.startswith("web:rw:")}
    assert rw_paths == {p.replace("\t", "\\x09") for p in _diff_entries(captured_root.path, rw)}
    init_paths = {n.split(":", 3)[3].split(" -> ")[0] for n in names if n.startswith("web:init:")}
    assert init_paths == _diff_entries(captured_root.path, rw + "-init")
    assert any(n == f"web:rw:{rw[:12]}:/app/conf/extra.conf" for n in names)  # the whiteout
    whiteout = next(line for line in lines if ":/app/conf/extra.conf|" in line)
    assert whiteout.split("|")[3] == "w/c---------"
    assert any(n == f"web:init:{rw[:12]}:/etc/mtab -> /proc/mounts" for n in names)


def test_timeline_csv_json_and_images(
    capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot
) -> None:
    root = str(captured_root.path)
    code, out, _ = run_text(
        capsys, "--root", root, "--offline", "timeline", "web", "--csv", "--hash"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    big = next(r for r in rows if r["path"] == "/srv/www/big.bin")
    assert big["sha256"] == hashlib.sha256(bytes(1 << 20)).hexdigest()
    assert big["md5"] == hashlib.md5(bytes(1 << 20)).hexdigest()
    assert big["mtime"].endswith("Z") and len(big["mtime"]) == 30
    code, doc = run_json(capsys, "--root", root, "--offline", "timeline", "--all", "--images")
    assert code == 0
    assert set(doc) == {"layers", "entries", "problems"}
    roles = {layer["role"] for layer in doc["layers"]}
    assert roles == {"rw", "init", "image"}
    tab = [e for e in doc["entries"] if e["path"] == "/app/tab\tname"]
    assert len(tab) == 1 and tab[0]["role"] == "image"  # exact name in JSON, each layer once
    assert doc["problems"] == []
    ids = [layer["layer"] for layer in doc["layers"]]
    assert len(ids) == len(set(ids))


def test_timeline_usage(capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot) -> None:
    root = str(captured_root.path)
    assert run_text(capsys, "--root", root, "--offline", "timeline")[0] == 2
    assert run_text(capsys, "--root", root, "--offline", "timeline", "web", "--all")[0] == 2
    code, _, err = run_text(capsys, "--root", root, "--offline", "timeline", "nosuch")
    assert code == 3 and "nosuch" in err
    code, out, _ = run_text(capsys, "--root", root, "--offline", "timeline", "scope/tool:1")
    assert code == 0 and out
    assert all(line.split("|")[1].startswith("@image:image:") for line in out.splitlines())


def test_progress_and_cancel(captured_root: CapturedRoot) -> None:
    host = load_host(str(captured_root.path))
    seen: list[AuditProgress] = []
    audit(host, AuditOptions(images=True, hash=True), progress=seen.append)
    assert {"scan", "check", "hash"} <= {p.phase for p in seen}
    assert any(p.phase == "hash" and p.done == p.total for p in seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        audit(host, cancel=stop)

    later = threading.Event()

    def cancel_while_hashing(p: AuditProgress) -> None:
        if p.phase == "hash":
            later.set()

    with pytest.raises(Cancelled):
        audit(
            host, AuditOptions(images=True, hash=True), cancel=later, progress=cancel_while_hashing
        )
    entries = timeline(timeline_layers(host, None, images=True), cancel=stop)
    with pytest.raises(Cancelled):
        list(entries)


def test_reference_time(capsys: pytest.CaptureFixture[str], captured_root: CapturedRoot) -> None:
    """Audited as of 2001 (say, a clock the analyst trusts), what containers wrote is "future"."""
    root = str(captured_root.path)
    code, report = _audit(capsys, Path(root), "--reference-time", "2001-01-01T00:00:00Z")
    assert code == 0
    assert report["reference_time"] == "2001-01-01T00:00:00.000000000Z"
    future = {f["path"] for f in report["findings"] if f["kind"] == "future-mtime"}
    assert "/srv/www/big.bin" in future
    with pytest.raises(SystemExit) as exit_:
        run_text(capsys, "--root", root, "audit", "--reference-time", "yesterday")
    assert exit_.value.code == 2 and "RFC 3339" in capsys.readouterr().err


def test_timeline_output_survives_the_progress_bar(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    captured_root: CapturedRoot,
) -> None:
    """The bar runs on stderr while the bodyfile streams to stdout; neither swallows the other."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, _ = run_text(
        capsys, "--root", str(captured_root.path), "--offline", "timeline", "web"
    )
    assert code == 0
    assert out.count("\n") > 20 and all(len(line.split("|")) == 11 for line in out.splitlines())
