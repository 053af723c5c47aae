"""The benchmark script runs end to end on a small dataset (CI runs it so it cannot rot)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_small_runs_and_reports_every_part(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "bench/run.py", "--small", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["data"]["rows"] > 0 and res["data"]["load_parquet_s"] > 0
    assert res["models"]["train"]["total_s"] > 0 and res["models"]["peak_rss_gb"] > 0
    assert {r["method"] for r in res["models"]["quality"]} >= {"zeros", "compound mean", "mlp", "transformer",
                                                              "ensemble"}
    assert res["discovery"]["n_new_smiles"] == 100 and res["discovery"]["rank_1_gene_s"] > 0
    assert "MRRMSE" in proc.stdout and "machine:" in proc.stdout
