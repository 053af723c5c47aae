"""AnnData (.h5ad) files in and out: round trips, the simulated marker, the benchmark's prediction
file, and one-line errors for hostile files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scperturb_core.cli import main
from scperturb_core.constants import (
    CELL_TYPE, ID, LAYER_CLIPPED, LAYER_PREDICTION, LAYER_SIGN_LOG10_PVAL, SM_NAME, SPLIT, UNS_DATASET_ID,
    UNS_METHOD_ID, UNS_SIMULATED,
)
from scperturb_core.data import DataError
from scperturb_core.formats.h5ad import (
    check_prediction_h5ad, dataset_anndata, h5ad_layers, load_h5ad, looks_like_h5ad, write_prediction_h5ad,
)
from scperturb_core.formats.marker import write_marked_parquet
from scperturb_core.loader import load_dataset
from tests.discovery_pages import fake_models  # noqa: F401  (fixture)

QUICK = ["--epochs", "3", "--components", "8"]


@pytest.fixture(scope="module")
def demo_dir(tiny, tmp_path_factory, monkeypatch_module):
    """``demo-data`` in both formats, on the tiny dataset (standing in for the full demo)."""
    import scperturb_core.demo as demo

    monkeypatch_module.setattr(demo, "load_demo", lambda: tiny)
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo-data", "--out", str(out / "parquet")]) == 0
    assert main(["demo-data", "--out", str(out / "h5ad"), "--format", "h5ad"]) == 0
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture
def train_adata(tiny):
    return dataset_anndata(tiny, dataset_id="test", summary="tiny")


def _bytes(adata, tmp_path) -> bytes:
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    return path.read_bytes()


def _one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg and "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------------- round trips


def test_demo_h5ad_round_trip_matches_parquet(demo_dir, tiny):
    """demo -> h5ad -> load gives the same matrix and design as demo -> parquet -> load."""
    from_parquet = load_dataset(str(demo_dir / "parquet" / "de_train.parquet"))
    from_h5ad = load_dataset(str(demo_dir / "h5ad" / "de_train.h5ad"))
    assert from_h5ad.genes == from_parquet.genes == tiny.genes
    np.testing.assert_array_equal(from_h5ad.X, from_parquet.X)
    np.testing.assert_array_equal(from_h5ad.X, tiny.X)
    pd.testing.assert_frame_equal(from_h5ad.obs, from_parquet.obs)
    assert from_h5ad.X.dtype == np.float32


def test_demo_files_are_marked_simulated(demo_dir, tiny_parquet):
    """Both formats carry the marker and the loaders honour it; an unmarked file is not simulated."""
    assert load_dataset(str(demo_dir / "parquet" / "de_train.parquet")).simulated is True
    assert load_dataset(str(demo_dir / "h5ad" / "de_train.h5ad")).simulated is True
    assert load_dataset((demo_dir / "h5ad" / "de_train.h5ad").read_bytes()).simulated is True  # an upload
    assert load_dataset(str(tiny_parquet)).simulated is False
    import pyarrow.parquet as pq

    meta = pq.read_schema(demo_dir / "parquet" / "truth.parquet").metadata
    assert meta[b"scperturb.simulated"] == b"true"


def test_marker_keeps_parquet_readable(tiny, tmp_path):
    path = tmp_path / "marked.parquet"
    write_marked_parquet(tiny.to_frame(), path, simulated=True, name="x")
    back = pd.read_parquet(path)
    assert back.shape == (tiny.n_rows, tiny.n_genes + 5) and back.index.tolist() == list(range(tiny.n_rows))


def test_demo_h5ad_layout(demo_dir, tiny):
    import anndata as ad

    train = ad.read_h5ad(demo_dir / "h5ad" / "de_train.h5ad")
    assert list(train.obs.columns) == ["cell_type", "sm_name", "sm_lincs_id", "SMILES", "split", "control"]
    assert set(train.layers) == {LAYER_SIGN_LOG10_PVAL, LAYER_CLIPPED}
    assert np.abs(train.layers[LAYER_CLIPPED]).max() <= 4.0
    assert train.uns[UNS_SIMULATED] and "SIMULATED" in train.uns["dataset_summary"]
    assert set(train.obs[SPLIT]) == {"train", "control"}
    test = ad.read_h5ad(demo_dir / "h5ad" / "de_test.h5ad")
    assert list(test.obs_names) == [str(i) for i in tiny.id_map[ID]]
    assert test.obs[[CELL_TYPE, SM_NAME]].astype(str).values.tolist() == tiny.id_map[[CELL_TYPE, SM_NAME]].values.tolist()
    np.testing.assert_array_equal(test.layers[LAYER_SIGN_LOG10_PVAL], tiny.truth)
    np.testing.assert_array_equal(load_h5ad(str(demo_dir / "h5ad" / "de_test.h5ad")).X, tiny.truth)
    assert set(test.obs[SPLIT]) <= {"public_test", "private_test"}
    ids = pd.read_csv(demo_dir / "h5ad" / "id_map.csv")
    assert ids[ID].tolist() == tiny.id_map[ID].tolist()


def test_layer_choice(tiny, train_adata, tmp_path):
    data = _bytes(train_adata, tmp_path)
    assert h5ad_layers(data) == [LAYER_CLIPPED, LAYER_SIGN_LOG10_PVAL]
    clipped = load_dataset(data, layer=LAYER_CLIPPED)
    np.testing.assert_array_equal(clipped.X, np.clip(tiny.X, -4, 4))
    assert clipped.key != load_dataset(data).key  # a model trained on one layer is not reused for another
    # no sign_log10_pval layer: X is the default
    only_x = train_adata.copy()
    only_x.X = only_x.layers[LAYER_SIGN_LOG10_PVAL]
    only_x.layers.clear()
    np.testing.assert_array_equal(load_dataset(_bytes(only_x, tmp_path)).X, tiny.X)


def test_sparse_layer_reads_like_dense(tiny, train_adata, tmp_path):
    train_adata.layers[LAYER_SIGN_LOG10_PVAL] = sp.csr_matrix(train_adata.layers[LAYER_SIGN_LOG10_PVAL])
    np.testing.assert_array_equal(load_dataset(_bytes(train_adata, tmp_path)).X, tiny.X)


def test_info_and_train_accept_h5ad_and_layer(demo_dir, capsys):
    path = str(demo_dir / "h5ad" / "de_train.h5ad")
    assert main(["info", "--data", path, "--layer", LAYER_CLIPPED]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "split column" in out and "values from layer 'clipped_sign_log10_pval'" in out


def test_looks_like_h5ad(demo_dir, tiny_parquet):
    assert looks_like_h5ad(str(demo_dir / "h5ad" / "de_train.h5ad"))
    assert looks_like_h5ad("missing.h5ad")
    assert not looks_like_h5ad(str(tiny_parquet))
    assert not looks_like_h5ad(b"PAR1")


# ----------------------------------------------------------------------------------- hostile files


def test_truncated_file(train_adata, tmp_path):
    data = _bytes(train_adata, tmp_path)
    for cut in (len(data) // 2, 4096, 9):
        msg = _one_line_error(load_dataset, data[:cut])
        assert "truncated" in msg or "not a readable" in msg


def test_not_hdf5(tmp_path, tiny_parquet):
    path = tmp_path / "fake.h5ad"
    path.write_bytes(b"cell_type,sm_name\nB cells,x\n")
    assert "not an HDF5" in _one_line_error(load_dataset, str(path))
    path.write_bytes(tiny_parquet.read_bytes())
    assert "not an HDF5" in _one_line_error(load_dataset, str(path))
    path.write_bytes(b"")
    assert "empty file" in _one_line_error(load_dataset, str(path))


def test_hdf5_that_is_not_anndata(tmp_path):
    import h5py

    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as fh:
        fh["values"] = np.zeros(3)
    assert "not an AnnData file" in _one_line_error(load_dataset, path.read_bytes())


def test_missing_layer_names_the_layers_found(train_adata, tmp_path):
    msg = _one_line_error(load_dataset, _bytes(train_adata, tmp_path), layer="logFC")
    assert "'logFC' not found" in msg and "'sign_log10_pval'" in msg and "'clipped_sign_log10_pval'" in msg


def test_missing_obs_columns(train_adata, tmp_path):
    train_adata.obs = train_adata.obs.drop(columns=["SMILES", "sm_lincs_id"])
    msg = _one_line_error(load_dataset, _bytes(train_adata, tmp_path))
    assert msg.startswith("missing obs columns") and "'sm_lincs_id'" in msg and "'SMILES'" in msg


def test_nan_and_inf(train_adata, tmp_path, tiny):
    X = train_adata.layers[LAYER_SIGN_LOG10_PVAL].copy()
    X[3, 5] = np.nan
    X[7, 1] = np.inf
    train_adata.layers[LAYER_SIGN_LOG10_PVAL] = X
    msg = _one_line_error(load_dataset, _bytes(train_adata, tmp_path))
    assert "2 NaN or inf values" in msg and f"row 3 gene {tiny.genes[5]!r}" in msg


def test_duplicated_pairs_and_genes(train_adata, tmp_path):
    dup = train_adata.copy()
    dup.obs.iloc[1, dup.obs.columns.get_loc(SM_NAME)] = dup.obs[SM_NAME].iloc[0]
    dup.obs.iloc[1, dup.obs.columns.get_loc(CELL_TYPE)] = dup.obs[CELL_TYPE].iloc[0]
    dup.obs.iloc[1, dup.obs.columns.get_loc("SMILES")] = dup.obs["SMILES"].iloc[0]
    assert "duplicated (cell_type, sm_name)" in _one_line_error(load_dataset, _bytes(dup, tmp_path))
    genes = train_adata.var_names.tolist()
    genes[2] = genes[0]
    bad = train_adata.copy()
    bad.var_names = genes
    msg = _one_line_error(load_dataset, _bytes(bad, tmp_path))
    assert "duplicated gene names" in msg and repr(genes[0]) in msg


def test_layer_given_for_parquet(tiny_parquet):
    assert "not an .h5ad file" in _one_line_error(load_dataset, str(tiny_parquet), layer="logFC")


def test_cli_errors_are_one_line(train_adata, tmp_path, capsys):
    path = tmp_path / "bad.h5ad"
    path.write_bytes(_bytes(train_adata, tmp_path)[:5000])
    assert main(["info", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    good = tmp_path / "good.h5ad"
    good.write_bytes(_bytes(train_adata, tmp_path))
    assert main(["info", "--data", str(good), "--layer", "P.Value"]) == 2
    assert "layers found" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- prediction file


@pytest.fixture(scope="module")
def model_dir(tiny_parquet, tmp_path_factory):
    out = tmp_path_factory.mktemp("h5ad-model") / "model"
    assert main(["train", "--data", str(tiny_parquet), "--out", str(out), "-q", *QUICK]) == 0
    return out


def test_predict_format_h5ad_passes_the_benchmark_check(model_dir, tiny, tmp_path, capsys):
    import anndata as ad

    id_map = tmp_path / "id_map.csv"
    tiny.id_map.to_csv(id_map, index=False)
    out = tmp_path / "prediction.h5ad"
    csv = tmp_path / "prediction.csv"
    assert main(["predict", "--model-dir", str(model_dir), "--id-map", str(id_map), "--out", str(out)]) == 0
    assert main(["predict", "--model-dir", str(model_dir), "--id-map", str(id_map), "--out", str(csv)]) == 0
    facts = check_prediction_h5ad(str(out), id_map=tiny.id_map, genes=tiny.genes)
    assert facts == {"rows": len(tiny.id_map), "genes": tiny.n_genes, "dataset_id": "neurips-2023-data",
                     "method_id": "scperturb_ensemble"}
    adata = ad.read_h5ad(out)
    assert adata.layers[LAYER_PREDICTION].dtype == np.float32
    assert adata.uns["training_data"]["dataset"] == "de_train.parquet" and not adata.uns[UNS_SIMULATED]
    np.testing.assert_allclose(adata.layers[LAYER_PREDICTION], pd.read_csv(csv).drop(columns=[ID]).to_numpy(),
                               rtol=1e-5, atol=1e-5)  # the CSV is written with 6 significant digits


def test_prediction_check_rejects_violations(tiny, tmp_path):
    ids, genes = tiny.id_map[ID].tolist(), list(tiny.genes)
    values = np.zeros((len(ids), len(genes)), np.float32)
    path = tmp_path / "p.h5ad"
    write_prediction_h5ad(path, values, ids[::-1], genes, method_id="zeros")
    assert "differ at row 0" in _one_line_error(check_prediction_h5ad, str(path), id_map=tiny.id_map)
    write_prediction_h5ad(path, values[:, 1:], ids, genes[1:], method_id="zeros")
    assert repr(genes[0]) in _one_line_error(check_prediction_h5ad, str(path), genes=genes)
    import anndata as ad

    no_method = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in ids]), var=pd.DataFrame(index=genes),
                           layers={LAYER_PREDICTION: values}, uns={UNS_DATASET_ID: "x"})
    no_method.write_h5ad(path)
    assert f"uns[{UNS_METHOD_ID!r}]" in _one_line_error(check_prediction_h5ad, str(path))
    wrong_layer = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in ids]), var=pd.DataFrame(index=genes),
                             layers={"pred": values}, uns={UNS_DATASET_ID: "x", UNS_METHOD_ID: "y"})
    wrong_layer.write_h5ad(path)
    assert "'prediction' not found" in _one_line_error(check_prediction_h5ad, str(path))


# ----------------------------------------------------------------------------------- app export


def test_export_bytes_round_trip(tmp_path):
    import anndata as ad

    from scperturb_core.formats.export import frame_to_h5ad_bytes

    frame = pd.DataFrame({"name": ["a", "b"], CELL_TYPE: ["B cells", "NK cells"], "score": [1.5, -2.0],
                          "lower": [1.0, -3.0], "upper": [2.0, -1.0], "note": [None, "x"]})
    data = frame_to_h5ad_bytes(frame, ["score"], layer="score", provenance={"dataset": "demo", "genes": ["CD69"]},
                               simulated=True)
    path = tmp_path / "export.h5ad"
    path.write_bytes(data)
    adata = ad.read_h5ad(path)
    np.testing.assert_array_equal(adata.layers["score"][:, 0], np.float32([1.5, -2.0]))
    assert adata.obs["lower"].tolist() == [1.0, -3.0] and adata.obs["note"].tolist() == ["", "x"]
    assert adata.uns["provenance"]["dataset"] == "demo" and list(adata.uns["provenance"]["genes"]) == ["CD69"]
    assert adata.uns[UNS_SIMULATED]
    with pytest.raises(ValueError, match="not in the table"):
        frame_to_h5ad_bytes(frame, ["nope"])


def test_export_new_molecule_predictions(tiny, tmp_path):
    import anndata as ad

    from scperturb_core.discovery.smiles import predict_smiles
    from scperturb_core.formats.export import predictions_to_h5ad_bytes
    from tests.fake_predictor import FakePredictor

    preds = predict_smiles(FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5),
                           "CCO ethanol\nC1CC broken\nc1ccccc1O phenol\n")
    path = tmp_path / "predictions.h5ad"
    path.write_bytes(predictions_to_h5ad_bytes(preds, provenance={"dataset": tiny.name}, simulated=True))
    adata = ad.read_h5ad(path)
    frame = preds.long_frame()
    assert adata.shape == (2 * len(preds.cell_types), tiny.n_genes)  # the broken row is not exported
    assert list(adata.var_names) == list(tiny.genes)
    np.testing.assert_array_equal(adata.layers[LAYER_PREDICTION], frame[list(tiny.genes)].to_numpy(np.float32))
    assert adata.obs["name"].tolist() == frame["name"].tolist()
    assert adata.obs[CELL_TYPE].tolist() == frame[CELL_TYPE].tolist()
    np.testing.assert_array_equal(adata.layers["lower"], preds.lower.reshape(-1, tiny.n_genes))
    np.testing.assert_array_equal(adata.layers["upper"], preds.upper.reshape(-1, tiny.n_genes))
    assert adata.uns["provenance"]["dataset"] == tiny.name and adata.uns[UNS_SIMULATED]


# ----------------------------------------------------------------------------------- app sidebar


def test_sidebar_offers_the_layers_of_an_h5ad(demo_dir):
    from streamlit.testing.v1 import AppTest

    from pages.common import SOURCE_PATH, Keys
    from tests.conftest import ROOT

    path = str(demo_dir / "h5ad" / "de_train.h5ad")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = path
    at.run()
    assert not at.exception, at.exception
    assert not at.sidebar.error
    box = at.sidebar.selectbox(key=Keys.DATA_LAYER)
    assert box.options == [LAYER_CLIPPED, LAYER_SIGN_LOG10_PVAL] and box.value == LAYER_SIGN_LOG10_PVAL
    data = at.session_state[Keys.ACTIVE]
    assert data.simulated and np.abs(data.X).max() > 4  # the demo file's marker; the unclipped layer
    assert any("simulated values" in w.value for w in at.warning)
    clipped = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    clipped.session_state[Keys.SOURCE] = SOURCE_PATH
    clipped.session_state[Keys.PATH] = path
    clipped.session_state[Keys.DATA_LAYER] = LAYER_CLIPPED
    clipped.run()
    assert not clipped.exception and np.abs(clipped.session_state[Keys.ACTIVE].X).max() <= 4


def test_export_ranking(tiny, tmp_path):
    import anndata as ad

    from scperturb_core.formats.export import ranking_to_h5ad_bytes
    from scperturb_core.discovery.rank import build_cube, rank_compounds
    from tests.fake_predictor import FakePredictor

    cube = build_cube(tiny, FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5))
    table = rank_compounds(cube, "CD69", "B cells")
    path = tmp_path / "ranking.h5ad"
    path.write_bytes(ranking_to_h5ad_bytes(table, provenance={"genes": ["CD69"], "cell_type": "B cells"}))
    adata = ad.read_h5ad(path)
    assert list(adata.var_names) == ["score"] and adata.n_obs == len(table)
    np.testing.assert_allclose(adata.layers["score"][:, 0], table["score"].to_numpy(np.float32))
    assert adata.obs[SM_NAME].tolist() == table[SM_NAME].tolist()
    np.testing.assert_allclose(adata.obs["uncertainty"].to_numpy(), table["uncertainty"].to_numpy())
    assert list(adata.uns["provenance"]["genes"]) == ["CD69"] and not adata.uns[UNS_SIMULATED]


@pytest.fixture
def deferred_downloads(monkeypatch):
    """The callables that download buttons defer (file name -> callable), recorded under AppTest."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.media_file_manager import MediaFileManager

    recorded: dict[str, object] = {}

    class Recording(MediaFileManager):
        def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
            recorded[file_name] = data_callable
            return super().add_deferred(data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    return recorded


def _read_h5ad_bytes(data: bytes, tmp_path):
    import anndata as ad

    path = tmp_path / "download.h5ad"
    path.write_bytes(data)
    return ad.read_h5ad(path)


def test_rank_page_h5ad_download(tiny_parquet, fake_models, deferred_downloads, tmp_path):
    from tests.discovery_pages import page

    at = page("pages/rank.py", tiny_parquet).run()
    assert not at.exception, at.exception
    adata = _read_h5ad_bytes(deferred_downloads["ranking.h5ad"](), tmp_path)
    assert list(adata.var_names) == ["score"] and adata.n_obs > 0
    assert list(adata.uns["provenance"]["genes"]) == ["CD69"]
    assert adata.uns["provenance"]["cell_type"] == "B cells"


def test_predict_page_h5ad_download(tiny, tiny_parquet, fake_models, deferred_downloads, tmp_path):
    from pages.common import Keys
    from tests.discovery_pages import page

    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: "CCO ethanol\nc1ccccc1O phenol\n"}).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    adata = _read_h5ad_bytes(deferred_downloads["predictions.h5ad"](), tmp_path)
    assert adata.shape == (2 * len(tiny.cell_types), tiny.n_genes)
    assert adata.uns["provenance"]["dataset"] == "de_train.parquet"


def test_reads_a_file_shaped_like_the_benchmarks(tiny, tmp_path):
    """Categorical obs, a non-numeric obs index, extra layers (incl. a boolean one), var columns and
    a data frame in uns, as in the benchmark's de_train.h5ad."""
    import anndata as ad

    obs = tiny.obs.copy()
    obs.insert(4, SPLIT, np.where(obs["control"], "control", "train"))
    obs = obs.astype({c: "category" for c in ("cell_type", "sm_name", "sm_lincs_id", "SMILES", SPLIT)})
    obs.index = [f"{c}_{s}" for c, s in zip(tiny.obs[CELL_TYPE], tiny.obs[SM_NAME])]
    var = pd.DataFrame({"feature_name": list(tiny.genes)}, index=list(tiny.genes))
    layers = {"logFC": tiny.X / 3, "P.Value": 10 ** -np.abs(tiny.X), "is_de": np.abs(tiny.X) > 2,
              LAYER_SIGN_LOG10_PVAL: tiny.X.astype(np.float64), LAYER_CLIPPED: np.clip(tiny.X, -4, 4)}
    uns = {"dataset_id": "neurips-2023-data", "single_cell_obs": pd.DataFrame({"cell_id": ["a", "b"]})}
    path = tmp_path / "de_train.h5ad"
    ad.AnnData(obs=obs, var=var, layers=layers, uns=uns).write_h5ad(path, compression="gzip")
    data = load_dataset(str(path))
    np.testing.assert_array_equal(data.X, tiny.X)
    pd.testing.assert_frame_equal(data.obs, tiny.obs)
    assert not data.simulated and data.id_map is None  # the tiny design does not match the real id_map
    np.testing.assert_array_equal(load_dataset(str(path), layer="is_de").X, (np.abs(tiny.X) > 2).astype(np.float32))
    assert set(h5ad_layers(str(path))) == set(layers)


def test_sidebar_truncated_h5ad_is_one_line_error(train_adata, tmp_path):
    from streamlit.testing.v1 import AppTest

    from pages.common import SOURCE_PATH, Keys
    from tests.conftest import ROOT

    path = tmp_path / "cut.h5ad"
    path.write_bytes(_bytes(train_adata, tmp_path)[:3000])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = str(path)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.sidebar.error]
    assert errors and "truncated" in errors[0] and "\n" not in errors[0]
    assert at.session_state[Keys.ACTIVE] is None


def test_formats_do_not_import_streamlit():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, scperturb_core.formats.h5ad, scperturb_core.formats.score, scperturb_core.formats.export, "
            "scperturb_core.formats.marker, scperturb_core.formats.score_cli; print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
