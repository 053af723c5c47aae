"""The browser floor benchmark (``bench/browser_floor.py``) runs and prints its table."""
from __future__ import annotations

import re
import subprocess
import sys

from tests.browser.conftest import ROOT

SCRIPT = ROOT / "bench" / "browser_floor.py"


def test_floor_bench_times_a_bare_app():
    out = subprocess.run([sys.executable, str(SCRIPT), "--cases", "text", "--repeat", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = [line for line in out.stdout.splitlines() if line.startswith("| text |")]
    assert len(row) == 1, out.stdout
    first, reload = (float(x) for x in re.findall(r"\| (\d+\.\d+) ", row[0] + " "))
    assert 0 < reload and 0 < first


def test_floor_bench_names_a_bad_case():
    out = subprocess.run([sys.executable, str(SCRIPT), "--cases", "nope"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "unknown case 'nope'" in out.stderr and "vega" in out.stderr
