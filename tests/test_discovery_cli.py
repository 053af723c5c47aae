"""``rank`` and ``predict-smiles`` commands: outputs, exit codes, one-line errors (fake predictor)."""
from __future__ import annotations

import pandas as pd
import pytest

from scperturb_core.cli import discovery as discovery_cli
from scperturb_core.cli import main
from scperturb_core.discovery.rank import build_cube, rank_compounds
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
    for col in ("score_lower", "score_upper", "call", "p_down"):
        assert col in got.columns
    # provenance columns: the dataset, its hash, measured values (a user file), the model, the interval
    from scperturb_core.loader import load_dataset

    data = load_dataset(str(tiny_parquet))
    assert got["dataset"].unique().tolist() == [data.name]
    assert got["dataset_hash"].unique().tolist() == [data.key]
    assert got["dataset_values"].unique().tolist() == ["measured"]
    assert got["model_id"].unique().tolist() == ["unsaved:FakePredictor"]
    assert got["interval"].str.contains("calibrated model interval").all()
    printed = capsys.readouterr().out.splitlines()
    assert printed[:5] == [f"# dataset: {data.name}", f"# dataset_hash: {data.key}", "# dataset_values: measured",
                           "# model_id: unsaved:FakePredictor", f"# interval: {got['interval'].iloc[0]}"]
    assert printed[5].split() == ["rank", "sm_name", "cell_type", "score", "score_lower", "score_upper", "call",
                                  "source"]
    assert len(printed) == 5 + 6


def test_rank_threshold_nobody_meets(tiny_parquet, fake, tmp_path, capsys):
    out = tmp_path / "rank.csv"
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69", "--threshold", "1000", "--top", "0",
                 "--out", str(out)]) == 0
    assert "no pair meets the threshold" in capsys.readouterr().err
    assert "hit" not in set(pd.read_csv(out)["call"])
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69", "--threshold", "-1"]) == 2
    assert capsys.readouterr().err == "error: --threshold must be >= 0, got -1.0\n"


def test_rank_reversal_and_measured_only(tiny_parquet, fake, capsys):
    assert main(["rank", "--data", str(tiny_parquet), "--up", "CD69", "--down", "", "--cell-type", "all",
                 "--top", "0", "--measured-only"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
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


def test_predict_smiles_mixed_rows(tiny, tiny_parquet, fake, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("name,SMILES\nethanol,CCO\nbroken,C(\nbenzene,c1ccccc1\n")
    out = tmp_path / "out.csv"
    assert main(["predict-smiles", "--smiles-file", str(src), "--out", str(out), "--data", str(tiny_parquet),
                 "--no-intervals"]) == 0
    err = capsys.readouterr().err
    assert "invalid: row 2 (broken): 'C(': unparsable" in err
    got = pd.read_csv(out)
    T = len(fake.cell_types)
    assert list(got.columns[:8]) == ["row", "name", "SMILES", "known_compound", "cell_type", "source",
                                     "max_tanimoto", "nearest_compound"]
    assert got.shape == (2 * T, 8 + tiny.n_genes + 5)
    assert list(got.columns[-5:]) == ["dataset", "dataset_hash", "dataset_values", "model_id", "interval"]
    from scperturb_core.loader import load_dataset

    assert got["dataset_hash"].unique().tolist() == [load_dataset(str(tiny_parquet)).key]
    assert got["name"].tolist() == ["ethanol"] * T + ["benzene"] * T
    assert got["row"].tolist() == [1] * T + [3] * T


def test_predict_smiles_parquet_and_gene_subset(tiny, tiny_parquet, fake, tmp_path):
    out = tmp_path / "out.parquet"
    known = tiny.compounds.iloc[0]
    assert main(["predict-smiles", "--smiles", "CCO", f"{known['SMILES']}.[Na+].[Cl-]", "--out", str(out),
                 "--genes", "CD69", "--cell-types", "B cells", "NK cells", "--data", str(tiny_parquet)]) == 0
    got = pd.read_parquet(out)
    assert got.shape == (4, 8 + 3 + 5) and got["cell_type"].tolist() == ["B cells", "NK cells"] * 2
    assert list(got.columns[8:11]) == ["CD69", "CD69_lower", "CD69_upper"]
    # the salt form of a screen compound is that compound: measured values where the data has them
    rows = got[got["known_compound"] == known["sm_name"]]
    measured = set(tiny.obs.loc[tiny.obs["sm_name"] == known["sm_name"], "cell_type"])
    assert rows["source"].tolist() == ["measured" if ct in measured else "predicted" for ct in rows["cell_type"]]
    import pyarrow.parquet as pq
    meta = pq.read_schema(out).metadata
    from scperturb_core.loader import load_dataset

    assert meta[b"scperturb.dataset_hash"] == load_dataset(str(tiny_parquet)).key.encode() and meta[b"scperturb.dataset_values"] == b"measured"


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
    from scperturb_core.models.predictor import Predictor

    data, _, model_dir = real_models
    pred = Predictor.load(model_dir)
    out = tmp_path / "rank.csv"
    assert main(["rank", "--model-dir", str(model_dir), "--data", str(tiny_parquet), "--genes", "CD69",
                 "--top", "0", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    expected = rank_compounds(build_cube(data, pred), "CD69", "B cells")
    assert got["sm_name"].tolist() == expected["sm_name"].tolist()
    assert set(got["source"]) == {"measured", "predicted"}
    from scperturb_core.formats.provenance import manifest_id

    assert got["model_id"].unique().tolist() == [manifest_id(model_dir)]  # the folder's manifest hash
    preds = tmp_path / "pred.csv"
    assert main(["predict-smiles", "--model-dir", str(model_dir), "--smiles", "CCO", "C(", "c1ccccc1O",
                 "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert table.shape == (2 * len(pred.cell_types), 8 + 3 * len(pred.genes) + 5)
    assert table["model_id"].unique().tolist() == [manifest_id(model_dir)]
    assert table["dataset"].unique().tolist() == ["none (model only)"]
    assert "invalid: row 2" in capsys.readouterr().err


def test_rank_with_the_default_models_of_the_data(real_models, tiny_parquet, capsys):
    """Without --model-dir the dataset's cached default models are used (nothing is trained here)."""
    assert main(["rank", "--data", str(tiny_parquet), "--genes", "CD69", "--top", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5 + 4


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
