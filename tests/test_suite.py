"""``benchmark --suite``: the default predictor on the simulator family."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scperturb_core.cli import main
from scperturb_core.demo import SIM_SETTINGS
from scperturb_core.validation.suite import (
    ABLATION, DEFAULT, SMALL, SMALL_SETTINGS, SuiteConfig, ablation_predictions, check_bars, format_report,
    suite_spec, suite_table,
)

ROOT = Path(__file__).resolve().parent.parent


def test_small_mode_runs_six_settings_with_different_seeds():
    assert len(SMALL_SETTINGS) >= 6 and set(SMALL_SETTINGS) <= set(SIM_SETTINGS)
    seeds = [SIM_SETTINGS[s].seed for s in SMALL_SETTINGS]
    assert len(set(seeds)) == len(seeds)
    assert SMALL.genes is not None and SMALL.epochs is not None


def test_suite_spec_is_the_default_predictor_with_fewer_epochs():
    from scperturb_core.models.predictor import default_spec

    spec = suite_spec(SuiteConfig(epochs=5, seed=3, train_overrides=(("no_such_field", 1),)))
    default = default_spec()
    assert spec.train.epochs == 5 and spec.train.patience <= 5 and spec.train.seed == 3
    assert spec.model == default.model and spec.features == default.features


def test_ablation_uses_what_the_predictor_exposes():
    class Bare:  # only predict: every member it lacks is left out
        def predict(self, cts, smiles, names=None):
            return np.zeros((len(cts), 3), dtype=np.float32)

    out = ablation_predictions(Bare(), ["B cells"], ["C"], ["x"])
    assert list(out) == [DEFAULT] and out[DEFAULT].shape == (1, 3)


def test_ablation_of_a_trained_predictor(tiny):
    from dataclasses import replace

    from scperturb_core.models.predictor import train_ensemble

    spec = suite_spec(SuiteConfig(epochs=2))
    spec = replace(spec, train=replace(spec.train, **{k: v for k, v in SMALL.train_overrides
                                                      if hasattr(spec.train, k)}))
    pred = train_ensemble(tiny.obs, tiny.X, tiny.genes, spec)
    smiles = dict(zip(tiny.compounds["sm_name"], tiny.compounds["SMILES"]))
    q = tiny.id_map.head(5)
    out = ablation_predictions(pred, q["cell_type"].tolist(), [smiles[n] for n in q["sm_name"]],
                               q["sm_name"].tolist())
    assert {"readout", "mlp", "transformer", DEFAULT} <= set(out)
    for value in out.values():
        assert value.shape == (5, tiny.n_genes) and np.isfinite(value).all()


def _fake_result(ratios, margins, new=1.1, genes=None):
    sets = []
    for i, (r, m) in enumerate(zip(ratios, margins)):
        sets.append({
            "setting": "demo" if i == 0 else f"s{i}", "seed": i,
            "id_map": {"ratio": {DEFAULT: r, "mlp": r + 0.1}, "best_baseline": "compound mean"},
            "ranking": {"default": {"spearman": 0.3 + m, "precision_at_k": 0.2},
                        "compound_mean": {"spearman": 0.3, "precision_at_k": 0.2}},
            "new_compound": {"ratio": new}, "coverage_80": None, "seconds": 1.0,
        })
    return {"config": {"genes": genes, "epochs": None}, "settings": sets}


def test_bars_pass_and_fail_as_stated():
    good = check_bars(_fake_result([0.6, 0.9], [0.05, 0.04], new=0.95))
    assert all(passed for _, passed, _ in good)
    bad = dict((bar, passed) for bar, passed, _ in check_bars(_fake_result([0.95, 1.02], [0.0, -0.01], new=1.1)))
    assert bad["every setting: default <= 1.00 x best baseline (id_map truth)"] is False
    assert bad["every setting: new-compound ratio <= 1.00 x cell-type mean"] is False
    assert bad["every setting: ranking Spearman >= compound-mean ranking's"] is False
    assert bad["mean: default <= 0.92 x best baseline"] is False
    assert bad["demo: default <= 0.613 x best baseline (as before)"] is False
    subset = dict((bar, passed) for bar, passed, _ in check_bars(_fake_result([0.5], [0.1], genes=300)))
    assert subset["demo: default <= 0.613 x best baseline (as before)"] is None  # not comparable on a subset


def test_table_has_a_row_per_setting_and_a_mean():
    result = _fake_result([0.6, 0.9], [0.05, 0.04])
    table = suite_table(result)
    assert list(table.index) == ["demo", "s1", "mean"]
    assert table.loc["mean", "default / best"] == pytest.approx(0.75)
    assert math.isnan(table.loc["demo", "readout / best"])  # absent member
    text = format_report(result)
    assert "PASS  mean: default <= 0.92 x best baseline: 0.750" in text
    result["settings"][1]["predictor"] = {"fallback_message": "predicting with gene mean"}
    assert "s1: predicting with gene mean" in format_report(result)


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "--small"], "--small and --settings go with --suite"),
    (["benchmark", "--suite", "--settings", "demo,nope"], "unknown simulator setting 'nope'"),
    (["benchmark", "--suite", "--data", "x.parquet"], "--suite simulates its own data"),
])
def test_suite_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


@pytest.mark.slow
def test_small_suite_runs_end_to_end(tmp_path):
    """``bench/suite.py --small`` (= ``benchmark --suite --small``): structure and finiteness only."""
    out = tmp_path / "suite.json"
    proc = subprocess.run([sys.executable, "bench/suite.py", "--small", "-q", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = proc.stdout
    result = json.loads(out.read_text())
    names = [r["setting"] for r in result["settings"]]
    assert names == list(SMALL_SETTINGS)
    for r in result["settings"]:
        assert r["genes"] == SMALL.genes and r["id_map_rows"] == 255
        ratios = r["id_map"]["ratio"]
        assert DEFAULT in ratios and set(ratios) <= set(ABLATION)
        assert all(np.isfinite(v) and v > 0 for v in ratios.values())
        assert r["id_map"]["best_baseline"] in r["id_map"]["mrrmse"]
        for side in ("default", "compound_mean"):
            assert -1 <= r["ranking"][side]["spearman"] <= 1
            assert 0 <= r["ranking"][side]["precision_at_k"] <= 1
        assert np.isfinite(r["new_compound"]["ratio"]) and r["new_compound"]["rows"] > 0
        assert r["coverage_80"] is None or 0 <= r["coverage_80"] <= 1
    for name in names + ["mean"]:
        assert any(line.startswith(name) for line in printed.splitlines())
    assert sum(line[:4] in ("PASS", "FAIL", "n/a ") for line in printed.splitlines()) == 6
