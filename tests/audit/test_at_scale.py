"""`audit` at scale (issue #16): 100,002 findings alike are one row, progress moves within a
layer, `timeline` reports progress too, and a bad IOC line is refused with its number.

A copy of the captured dockerd root gets 100,002 files in the `web` container's rw layer,
each dated before its image was built: 100,002 identical low `mtime-before-image` findings.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.audit import audit
from overlayscope.audit.findings import GROUP_AT, FindingKind
from overlayscope.audit.progress import AuditProgress
from overlayscope.audit.timeline import timeline, timeline_layers
from overlayscope.errors import ExitCode
from overlayscope.root.load import load_host
from tests.engine import CapturedRoot
from tests.root.cli_helpers import run_json, run_text

MANY = 100_002
OLD_NS = 1_000_000_000  # 1970: long before any image here was built


@pytest.fixture(scope="module")
def sprayed(
    captured_root: CapturedRoot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """(root, web's rw layer id): the copy with MANY old-dated files in web's layer."""
    root = tmp_path_factory.mktemp("sprayed") / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    host = load_host(str(root))
    web = next(c for c in host.containers.values() if c.name == "web")
    assert web.layer is not None
    spray = Path(host.layers[web.layer].content_dir) / "spray"
    spray.mkdir()
    for i in range(MANY):
        p = spray / f"f{i:06d}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        os.utime(p, ns=(OLD_NS, OLD_NS))
    yield root, web.layer


def test_many_findings_alike_are_one_row(
    sprayed: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = sprayed
    code, out, err = run_text(capsys, "--root", str(root), "--offline", "audit")
    assert code == ExitCode.OK and "Traceback" not in err
    rows = [line for line in out.splitlines() if "mtime-before-image" in line]
    assert len(rows) == 1, rows  # one row, not 100,002
    flat = " ".join(out.split())
    # the scenario put a few of its own there too: the group holds them and the spray
    count = int(flat.split(" paths, e.g. ")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert MANY <= count < MANY + GROUP_AT
    assert f"the first of {count:,} alike; all in --json" in flat
    assert len(out.splitlines()) < 200


def test_json_keeps_every_finding_and_the_groups(
    sprayed: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, layer = sprayed
    code, doc = run_json(capsys, "--root", str(root), "--offline", "audit")
    assert code == ExitCode.OK
    mine = [
        f for f in doc["findings"] if f["layer"] == layer
        and f["kind"] == "mtime-before-image" and f["path"].startswith("/spray/")
    ]  # fmt: skip
    assert len(mine) == MANY and {f["severity"] for f in mine} == {"low"}
    group = next(
        g for g in doc["groups"] if g["layer"] == layer and g["kind"] == "mtime-before-image"
    )
    assert MANY <= group["count"] < MANY + GROUP_AT and len(group["examples"]) == 3
    assert group["count"] == sum(
        1 for f in doc["findings"] if f["layer"] == layer and f["kind"] == "mtime-before-image"
    )
    # the groups count every finding once
    assert sum(g["count"] for g in doc["groups"]) == len(doc["findings"])
    few = [g for g in doc["groups"] if g["count"] <= GROUP_AT]
    assert few  # the scenario's other findings stay as they are


def test_progress_moves_within_a_layer(sprayed: tuple[Path, str]) -> None:
    root, _ = sprayed
    seen: list[AuditProgress] = []
    report = audit(load_host(str(root)), progress=seen.append)
    assert any(f.kind is FindingKind.MTIME_BEFORE_IMAGE for f in report.findings)
    scan = [p for p in seen if p.phase == "scan"]
    check = [p for p in seen if p.phase == "check"]
    assert scan and check
    # the last report of each phase counts the entries it went through: the walk's
    # progress, not only the layers'
    assert scan[-1].entries > MANY and check[-1].entries > MANY
    entries = [p.entries for p in check]
    assert entries == sorted(entries)  # never goes back


def test_layer_auditor_ticks_within_the_layer(sprayed: tuple[Path, str]) -> None:
    """Deterministic: the walk of one layer calls its tick every 256 entries."""
    from overlayscope.audit.checks import LayerAuditor
    from overlayscope.audit.targets import plan, scan_for, stack_of

    root, layer = sprayed
    host = load_host(str(root))
    targets, _ = plan(host, images=False)
    target = next(t for t in targets if t.layer_id == layer)
    top, below = stack_of(host, target, scan_for(host, [target]))
    ticks: list[int] = []
    LayerAuditor(target, top, below, reference_ns=0, tick=ticks.append).run()
    assert len(ticks) == (len(top.index) + 255) // 256
    assert ticks == list(range(0, len(top.index), 256))


def test_timeline_reports_progress_while_walking(sprayed: tuple[Path, str]) -> None:
    root, layer = sprayed
    host = load_host(str(root))
    web = next(c for c in host.containers.values() if c.layer == layer)
    seen: list[AuditProgress] = []
    entries = list(timeline(timeline_layers(host, [web]), progress=seen.append))
    walk = [p for p in seen if p.phase == "walk"]
    assert len(entries) > MANY
    assert walk[-1].entries >= len(entries)
    assert [p.entries for p in walk] == sorted(p.entries for p in walk)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("d41d8cd98f00b204e9800998ecf8427e", "128-bit hash"),
        ("a" * 63, "63 hex digits"),
        ("sha256:1234", "is not sha256: and 64 hex digits"),
        ("a" * 64 + "  /usr/bin/evil", "a hash followed by more text"),
        ("usr/bin/evil", "is not absolute"),
        ("evil\x07name", "control characters"),
    ],
)
def test_bad_ioc_line_is_refused_with_its_number(
    captured_root: CapturedRoot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: str,
    says: str,
) -> None:
    iocs = tmp_path / "iocs.txt"
    iocs.write_text(f"# list\n/tmp/*.sh\n\n{line}\nxmrig\n")
    code, out, err = run_text(
        capsys, "--root", str(captured_root.path), "--offline", "audit", "--ioc", str(iocs)
    )
    assert code == ExitCode.USAGE
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "iocs.txt:4:" in lines[0] and says in lines[0], err


def test_good_ioc_lines_still_parse(
    captured_root: CapturedRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iocs = tmp_path / "iocs.txt"
    iocs.write_text("# list\n/tmp/*.sh\n*/evil\nsha256:" + "b" * 64 + "\nbig.txt\n")
    code, doc = run_json(
        capsys, "--root", str(captured_root.path), "--offline", "audit", "--ioc", str(iocs)
    )
    assert code == ExitCode.OK
    hits: list[dict[str, Any]] = [f for f in doc["findings"] if f["kind"] == "ioc-match"]
    assert any(f["path"].endswith("/big.txt") for f in hits)
