"""The scanner is core library: importing it must not pull in a UI."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import overlayscope.scan, overlayscope.scan.worker
ui = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'humanize'))
assert not ui, ui
"""


def test_scan_imports_no_ui() -> None:
    subprocess.run([sys.executable, "-c", CHECK], check=True)
