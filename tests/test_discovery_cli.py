"""``rank`` and ``predict-smiles`` commands: outputs, exit codes, one-line errors (fake predictor)."""
from __future__ import annotations

import pandas as pd
import pytest

from scperturb_core import discovery_cli
from scperturb_core.cli import main
from scperturb_core.rank import build_cube, rank_compounds
from tests.discovery_pages import real_models  # noqa: F401  (fixture)
from tests.fake_predictor import FakePredictor


@pytest.fixture()
def fake(tiny, monkeypatch):
    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5)
    monkeypatch.setattr(discovery_cli, "load_predictor", lambda model_dir, data=None: pred)
    return pred


def test_rank_writes_the_core_ranking(tiny, tiny_parquet, fake, tmp_path, capsys):
    out = tmp_path / "rank.csv"
    rc = main(["rank", "--data", str(tiny_parquet), "--genes", "cd69", "--cell-type", "B cells",
               "--top", "5", "--out", str(out)])
    assert rc == 0
    got = pd.read_csv(out)
    expected = rank_compounds(build_cube(tiny, fake), "CD69", "B cells").head(5)
    assert got["sm_name"].tolist() == expected["sm_name"].tolist()
    assert got["source"].tolist() == expected["source"].tolist()
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["rank", "sm_name", "cell_type", "score", "source", "uncertainty"]
    assert len(printed.splitlines()) == 6


def test_rank_reversal_and_measured_only(tiny_parquet, fake, capsys):
    assert main(["rank", "--data", str(tiny_parquet), "--up", "CD69", "--down", "", "--cell-type", "all",
                 "--top", "0", "--measured-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 192 and "measured" in lines[1] and "predicted" not in "".join(lines)


@pytest.mark.parametrize("argv, message", [
    (["--genes", "CD69X"], "error: genes: unknown gene: 'CD69X' (did you mean CD69"),
    (["--genes", "CD69", "--cell-type", "Neurons"], "error: unknown --cell-type 'Neurons'"),
    ([], "error: give --genes"),
    (["--genes", "CD69", "--up", "CD69"], "error: give either --genes"),
])
def test_rank_user_errors_exit_2(tiny_parquet, fake, capsys, argv, message):
    assert main(["rank", "--data", str(tiny_parquet), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_rank_model_data_mismatch(tiny_parquet, monkeypatch, capsys):
    other = FakePredictor(("A1BG", "CD69"), ["B cells"], pd.DataFrame({"sm_name": ["x"], "SMILES": ["CCO"]}))
    monkeypatch.setattr(discovery_cli, "load_predictor", lambda model_dir, data=None: other)
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69"]) == 2
    err = capsys.readouterr().err
    assert "does not fit the model: the model predicts 2 genes but the data has 64" in err


def test_missing_model_dir_is_one_line(tiny_parquet, capsys):
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69", "--model-dir", "no/such/dir"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_predict_smiles_mixed_rows(tiny, fake, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("name,SMILES\nethanol,CCO\nbroken,C(\nbenzene,c1ccccc1\n")
    out = tmp_path / "out.csv"
    assert main(["predict-smiles", "--smiles-file", str(src), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "invalid: row 2 (broken): 'C(': unparsable" in err
    got = pd.read_csv(out)
    T = len(fake.cell_types)
    assert list(got.columns[:6]) == ["row", "name", "SMILES", "cell_type", "max_tanimoto", "nearest_compound"]
    assert got.shape == (2 * T, 6 + tiny.n_genes)
    assert got["name"].tolist() == ["ethanol"] * T + ["benzene"] * T
    assert got["row"].tolist() == [1] * T + [3] * T


def test_predict_smiles_parquet_and_gene_subset(fake, tmp_path):
    out = tmp_path / "out.parquet"
    assert main(["predict-smiles", "--smiles", "CCO", "CCN", "--out", str(out), "--genes", "CD69",
                 "--cell-types", "B cells", "NK cells"]) == 0
    got = pd.read_parquet(out)
    assert got.shape == (4, 7) and got["cell_type"].tolist() == ["B cells", "NK cells"] * 2


def test_predict_smiles_none_valid_exit_2(fake, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["predict-smiles", "--smiles", "C(", "xyz", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "error: no valid SMILES among 2 input(s)"
    assert len(err) == 3 and not out.exists()


def test_predict_smiles_csv_without_smiles_column(fake, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("name,structure\na,CCO\n")
    assert main(["predict-smiles", "--smiles-file", str(src), "--out", str(tmp_path / "o.csv")]) == 2
    assert capsys.readouterr().err == "error: no SMILES column in the SMILES file; its columns are: 'name', 'structure'\n"


def test_rank_and_predict_with_a_real_model_dir(real_models, tiny_parquet, tmp_path, capsys):
    from scperturb_core.predictor import Predictor

    data, _, model_dir = real_models
    pred = Predictor.load(model_dir)
    out = tmp_path / "rank.csv"
    assert main(["rank", "--model-dir", str(model_dir), "--data", str(tiny_parquet), "--genes", "CD69",
                 "--top", "0", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    expected = rank_compounds(build_cube(data, pred), "CD69", "B cells")
    assert got["sm_name"].tolist() == expected["sm_name"].tolist()
    assert set(got["source"]) == {"measured", "predicted"}
    preds = tmp_path / "pred.csv"
    assert main(["predict-smiles", "--model-dir", str(model_dir), "--smiles", "CCO", "C(", "c1ccccc1O",
                 "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert table.shape == (2 * len(pred.cell_types), 6 + len(pred.genes))
    assert "invalid: row 2" in capsys.readouterr().err


def test_rank_with_the_default_models_of_the_data(real_models, tiny_parquet, capsys):
    """Without --model-dir the dataset's cached default models are used (nothing is trained here)."""
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69", "--top", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_rank_model_dir_of_another_dataset(real_models, capsys):
    _, _, model_dir = real_models
    assert main(["rank", "--model-dir", str(model_dir), "--data", "demo", "--genes", "CD69"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --data 'demo' does not fit the model: the model predicts 64 genes but the data has 18211")


def test_progress_printer_is_throttled(capsys):
    report = discovery_cli._progress(step=0.25)
    for i in range(101):
        report(i / 100, "training")
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["[  0%] training", "[ 25%] training", "[ 50%] training", "[ 75%] training", "[100%] training"]
