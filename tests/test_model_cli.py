"""``train`` / ``predict`` / ``benchmark``: exit 0 on success, 2 with one line on any user error."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from scperturb_core.cli import main
from tests.conftest import ROOT

QUICK = ["--epochs", "3", "--components", "8"]


@pytest.fixture(scope="module")
def model_dir(tiny_parquet, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert main(["train", "--data", str(tiny_parquet), "--out", str(out), "-q", *QUICK]) == 0
    return out


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_train_writes_a_model_dir(model_dir):
    assert (model_dir / "weights.pt").exists() and (model_dir / "manifest.json").exists()


def test_predict_writes_a_submission(model_dir, tiny, tmp_path, capsys):
    id_map = tmp_path / "id_map.csv"
    tiny.id_map.to_csv(id_map, index=False)
    out = tmp_path / "submission.csv"
    assert main(["predict", "--model-dir", str(model_dir), "--id-map", str(id_map), "--out", str(out)]) == 0
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["id", *tiny.genes]
    assert sub["id"].tolist() == tiny.id_map["id"].tolist()
    assert sub.shape == (len(tiny.id_map), tiny.n_genes + 1) and sub.notna().all().all()
    printed = capsys.readouterr().out
    assert "wrote" in printed and "submission.csv.provenance.json" in printed
    facts = json.loads((tmp_path / "submission.csv.provenance.json").read_text())
    assert facts["file"] == "submission.csv" and facts["values"] == "predicted"
    assert facts["training_values"] in ("simulated", "measured", "unknown")
    assert len(facts["model_id"]) == 16


def test_benchmark_small(tiny_parquet, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["benchmark", "--data", str(tiny_parquet), "--folds", "1", "--genes", "16", "-q", *QUICK,
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "compound mean" in text and "ensemble" in text
    payload = json.loads(out.read_text())
    assert {r["method"] for r in payload["results"]} >= {"zeros", "additive", "mlp", "transformer", "ensemble"}


@pytest.mark.parametrize("argv, expected", [
    (["train", "--data", "no/such.parquet", "--out", "x"], "file not found"),
    (["predict", "--model-dir", "no/such/dir", "--id-map", "x.csv", "--out", "y.csv"], "--model-dir not found"),
    (["benchmark", "--data", "no/such.parquet"], "file not found"),
])
def test_user_errors_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in _err(capsys)


def test_bad_arguments_exit_2(capsys):
    assert main(["train", "--data", "demo", "--out", "x", "--epochs", "0"]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err
    assert main(["train", "--data", "demo", "--out", "x", "--model", "gru"]) == 2


def test_predict_user_errors(model_dir, tiny, tmp_path, capsys):
    bad_dir = tmp_path / "broken"
    bad_dir.mkdir()
    id_map = tmp_path / "id_map.csv"
    tiny.id_map.to_csv(id_map, index=False)
    assert main(["predict", "--model-dir", str(bad_dir), "--id-map", str(id_map), "--out", str(tmp_path / "s.csv")]) == 2
    assert "manifest.json is missing" in _err(capsys)
    other = tmp_path / "other.csv"
    pd.DataFrame({"id": [0], "cell_type": ["B cells"], "sm_name": ["Unobtainium"]}).to_csv(other, index=False)
    assert main(["predict", "--model-dir", str(model_dir), "--id-map", str(other), "--out", str(tmp_path / "s.csv")]) == 2
    assert "'Unobtainium', which the model was not trained on" in _err(capsys)
    cells = tmp_path / "cells.csv"
    pd.DataFrame({"id": [0], "cell_type": ["Neurons"], "sm_name": [tiny.compounds["sm_name"][0]]}).to_csv(cells, index=False)
    assert main(["predict", "--model-dir", str(model_dir), "--id-map", str(cells), "--out", str(tmp_path / "s.csv")]) == 2
    assert "cell type 'Neurons'" in _err(capsys)
    assert not (tmp_path / "s.csv").exists()


def test_train_out_is_a_file(tiny_parquet, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--data", str(tiny_parquet), "--out", str(f), *QUICK]) == 2
    assert "--out must be a folder" in _err(capsys)


def test_subprocess_exit_codes(model_dir, tmp_path):
    """As a user runs it: a real process, exit code 2 and a single stderr line."""
    proc = subprocess.run([sys.executable, "-m", "scperturb_core", "predict", "--model-dir", str(tmp_path),
                           "--id-map", "x.csv", "--out", str(tmp_path / "s.csv")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
