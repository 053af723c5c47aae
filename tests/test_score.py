"""``score``: the benchmark's five metrics on a hand-made example, exactly, through every file mix."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scperturb_core.cli import main
from scperturb_core.constants import CELL_TYPE, ID, LAYER_CLIPPED, LAYER_SIGN_LOG10_PVAL, SM_NAME
from scperturb_core.data import DataError
from scperturb_core.formats.h5ad import write_prediction_h5ad
from scperturb_core.formats.score import METRICS, score_files, score_matrices

GENES = ["G1", "G2", "G3", "G4"]
CELLS = ["B cells", "B cells", "Myeloid cells"]
TRUTH = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [1, -1, 1, -1]], dtype=float)
PRED = np.array([[2, 1, 3, 5], [1, 1, 1, 1], [-1, 1, -1, 1]], dtype=float)

# Worked by hand, row by row (see the module docstring of scperturb_core.formats.score):
# row 0: errors (-1, 1, 0, -1): RMSE sqrt(3/4), MAE 3/4; Pearson 5.5 / sqrt(5 * 8.75); ranks of the
#        prediction (2, 1, 3, 4) give Spearman 4/5; cosine 33 / sqrt(30 * 39)
# row 1: truth all zero, prediction constant: RMSE 1, MAE 1; Pearson, Spearman, cosine undefined -> 0
# row 2: prediction = -truth: RMSE 2, MAE 2, Pearson -1, Spearman -1, cosine -1
ROW = {
    "mean_rowwise_rmse": [math.sqrt(0.75), 1.0, 2.0],
    "mean_rowwise_mae": [0.75, 1.0, 2.0],
    "mean_rowwise_pearson": [5.5 / math.sqrt(43.75), 0.0, -1.0],
    "mean_rowwise_spearman": [0.8, 0.0, -1.0],
    "mean_rowwise_cosine": [33 / math.sqrt(1170), 0.0, -1.0],
}
EXPECTED = pd.DataFrame({
    "rows": [3, 2, 1],
    **{m: [sum(v) / 3, (v[0] + v[1]) / 2, v[2]] for m, v in ROW.items()},
}, index=["overall", "B cells", "Myeloid cells"])


def _check(table: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, rtol=1e-12, atol=1e-12)


def test_hand_made_example_exact():
    _check(score_matrices(TRUTH, PRED, CELLS))
    assert EXPECTED.loc["overall", "mean_rowwise_mae"] == 1.25  # (3/4 + 1 + 2) / 3
    assert EXPECTED.loc["overall", "mean_rowwise_spearman"] == pytest.approx(-0.2 / 3)


def test_perfect_prediction():
    table = score_matrices(TRUTH[[0, 2]], TRUTH[[0, 2]])
    assert table.loc["overall", "mean_rowwise_rmse"] == 0 and table.loc["overall", "mean_rowwise_mae"] == 0
    for m in ("mean_rowwise_pearson", "mean_rowwise_spearman", "mean_rowwise_cosine"):
        assert table.loc["overall", m] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------- files


def _truth_h5ad(path, values=TRUTH, layers=(LAYER_SIGN_LOG10_PVAL, LAYER_CLIPPED)):
    import anndata as ad

    obs = pd.DataFrame({CELL_TYPE: CELLS, SM_NAME: ["a", "b", "c"]}, index=["10", "11", "12"])
    ad.AnnData(obs=obs, var=pd.DataFrame(index=GENES), layers={k: values for k in layers}).write_h5ad(path)
    return path


@pytest.fixture
def files(tmp_path):
    """The example as: truth parquet (ids 0..2, with cell_type), truth h5ad, prediction CSV (rows
    shuffled, an extra gene, genes reordered) and prediction h5ad."""
    truth = pd.DataFrame(TRUTH, columns=GENES)
    truth.insert(0, ID, [0, 1, 2])
    truth.insert(1, CELL_TYPE, CELLS)
    truth.to_parquet(tmp_path / "truth.parquet", index=False)
    pred = pd.DataFrame(PRED, columns=GENES)
    pred["EXTRA"] = 99.0
    pred.insert(0, ID, [0, 1, 2])
    pred = pred.iloc[[2, 0, 1]][[ID, "G4", "EXTRA", "G2", "G1", "G3"]]
    pred.to_csv(tmp_path / "pred.csv", index=False)
    write_prediction_h5ad(tmp_path / "pred.h5ad", PRED, [0, 1, 2], GENES, method_id="hand")
    _truth_h5ad(tmp_path / "de_test.h5ad")
    return tmp_path


@pytest.mark.parametrize("truth", ["truth.parquet", "de_test.h5ad"])
@pytest.mark.parametrize("pred", ["pred.csv", "pred.h5ad"])
def test_any_mix_of_formats(files, truth, pred):
    result = score_files(files / truth, files / pred)
    _check(result.table)
    assert result.rows == 3 and result.genes == 4
    assert result.truth_layer == (LAYER_CLIPPED if truth.endswith("h5ad") else None)
    assert result.prediction_layer == ("prediction" if pred.endswith("h5ad") else None)


def test_truth_without_cell_types_uses_the_id_map(files):
    pd.DataFrame(np.c_[[0, 1, 2], TRUTH], columns=[ID, *GENES]).astype({ID: int}).to_csv(files / "t.csv", index=False)
    overall = score_files(files / "t.csv", files / "pred.csv")
    assert list(overall.table.index) == ["overall"] and any("--id-map" in n for n in overall.notes)
    pd.DataFrame({ID: [0, 1, 2], CELL_TYPE: CELLS, SM_NAME: ["a", "b", "c"]}).to_csv(files / "ids.csv", index=False)
    _check(score_files(files / "t.csv", files / "pred.csv", id_map=files / "ids.csv").table)


def test_nan_in_prediction_counts_as_zero(files):
    pred = PRED.copy()
    pred[1, :] = np.nan  # row 1 becomes all zeros: RMSE 0, MAE 0 against an all-zero truth
    write_prediction_h5ad(files / "nan.h5ad", pred, [0, 1, 2], GENES, method_id="hand")
    result = score_files(files / "truth.parquet", files / "nan.h5ad")
    assert result.table.loc["overall", "mean_rowwise_mae"] == pytest.approx((0.75 + 0 + 2) / 3)
    assert any("NaN" in n for n in result.notes)


def test_cli_prints_the_table(files, capsys):
    out = files / "scores.json"
    assert main(["score", "--truth", str(files / "de_test.h5ad"), "--prediction", str(files / "pred.csv"),
                 "--truth-layer", LAYER_SIGN_LOG10_PVAL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "scored 3 rows x 4 genes" in text and "'sign_log10_pval'" in text
    for m in METRICS:
        assert m in text
    assert f"{math.sqrt(0.75) / 3 + 1:.4f}" in text  # overall RMSE (sqrt(3/4) + 1 + 2) / 3 = 1.2887
    import json

    payload = json.loads(out.read_text())
    assert payload["scores"][0]["group"] == "overall" and payload["scores"][0]["mean_rowwise_mae"] == 1.25


# ----------------------------------------------------------------------------------- hostile input


def _one_line(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_mismatches_are_one_line_errors(files):
    write_prediction_h5ad(files / "short.h5ad", PRED[:2], [0, 1], GENES, method_id="x")
    assert "lacks 1 of the truth's ids: 2" in _one_line(score_files, files / "truth.parquet", files / "short.h5ad")
    write_prediction_h5ad(files / "genes.h5ad", PRED[:, :3], [0, 1, 2], GENES[:3], method_id="x")
    assert "'G4'" in _one_line(score_files, files / "truth.parquet", files / "genes.h5ad")
    write_prediction_h5ad(files / "extra.h5ad", np.r_[PRED, PRED[:1]], [0, 1, 2, 7], GENES, method_id="x")
    assert "ids the truth does not: 7" in _one_line(score_files, files / "truth.parquet", files / "extra.h5ad")


def test_hostile_h5ad(files, tmp_path):
    data = (files / "pred.h5ad").read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) // 2])
    assert "truncated" in _one_line(score_files, files / "truth.parquet", tmp_path / "cut.h5ad")
    assert "'nope' not found" in _one_line(score_files, files / "de_test.h5ad", files / "pred.h5ad",
                                           truth_layer="nope")
    _truth_h5ad(tmp_path / "no_layers.h5ad", layers=("logFC",))
    msg = _one_line(score_files, tmp_path / "no_layers.h5ad", files / "pred.h5ad")
    assert "layers found: 'logFC'" in msg
    bad = TRUTH.copy()
    bad[0, 0] = np.nan
    _truth_h5ad(tmp_path / "nan.h5ad", values=bad)
    assert "NaN or inf values in the truth" in _one_line(score_files, tmp_path / "nan.h5ad", files / "pred.h5ad")


def test_cli_error_exit_2(files, capsys):
    assert main(["score", "--truth", str(files / "truth.parquet"), "--prediction", str(files / "missing.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing.h5ad" in err
