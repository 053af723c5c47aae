"""Predict page under AppTest (tiny dataset, fake predictor)."""
from __future__ import annotations

import numpy as np

from pages.common import Keys
from scperturb_core.discovery.smiles import predict_smiles
from tests.discovery_pages import fake_models, page, page_real_models, real_models  # noqa: F401  (fixtures)

MIXED = "CCO ethanol\nC1CC broken\nc1ccccc1O phenol\n"


def _summary(at):
    return [d.value for d in at.dataframe if "rank_among_known" in d.value.columns][0]


def test_predict_mixed_rows_stay_aligned(tiny_parquet, fake_models):
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: MIXED}).run()
    assert not at.exception, at.exception
    assert any("Press **Predict**" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.warning[0].value.startswith("1 of 3 input rows are not valid")
    summary = _summary(at)
    assert summary["row"].tolist() == [1, 2, 3]
    assert summary["name"].tolist() == ["ethanol", "broken", "phenol"]
    assert summary["ok"].tolist() == [True, False, True]
    assert np.isnan(summary["score"].iloc[1]) and summary["reason"].iloc[1].startswith("unparsable")
    expected = predict_smiles(fake_models, MIXED).values
    ct = at.selectbox(key=Keys.PREDICT_CELL_TYPE).value
    col = fake_models.cell_types.index(ct)
    gi = fake_models.genes.index("CD69")
    np.testing.assert_allclose(summary["CD69"].to_numpy()[[0, 2]], expected[:, col, gi])
    assert len(at.get("download_button")) == 3  # CSV, Parquet, .h5ad
    # out-of-domain warnings: ethanol and phenol are far from the training compounds
    assert any("applicability domain" in w.value for w in at.warning)
    # results survive a widget change (no new prediction needed)
    at.selectbox(key=Keys.PREDICT_MOLECULE).select_index(1).run()
    assert not at.exception and len(_summary(at)) == 3


def test_predict_gene_and_cell_type_controls(tiny_parquet, fake_models):
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: MIXED}).run()
    at.button[0].click().run()
    at.text_input(key=Keys.PREDICT_GENES).input("cd6999").run()
    assert not at.exception
    assert at.error[0].value.startswith("unknown gene: 'cd6999'")
    at.text_input(key=Keys.PREDICT_GENES).input("cd69").run()
    at.selectbox(key=Keys.PREDICT_CELL_TYPE).select("NK cells").run()
    assert not at.exception and not at.error
    assert "CD69" in _summary(at).columns


def test_predict_no_valid_rows_is_one_error(tiny_parquet, fake_models):
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: "C1CC\nxx(\n"}).run()
    at.button[0].click().run()
    assert not at.exception
    assert at.error[0].value.startswith("no valid SMILES among 2 input(s); row 1: unparsable")
    assert "\n" not in at.error[0].value


def test_predict_empty_input(tiny_parquet, fake_models):
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: "  \n"}).run()
    at.button[0].click().run()
    assert not at.exception
    assert at.error[0].value.startswith("no molecules given")


def test_predict_with_real_models(tiny_parquet, page_real_models):
    """Real (small) default models loaded from the cache; the page's numbers are the core's."""
    from scperturb_core.models.predictor import Predictor

    _, _, model_dir = page_real_models
    pred = Predictor.load(model_dir)
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: MIXED}).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error
    summary = _summary(at)
    assert summary["ok"].tolist() == [True, False, True]
    expected = predict_smiles(pred, MIXED)
    ct = at.selectbox(key=Keys.PREDICT_CELL_TYPE).value
    gi = pred.genes.index("CD69")
    np.testing.assert_allclose(summary["CD69"].to_numpy()[[0, 2]], expected.values[:, expected.cell_types.index(ct), gi],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summary["max_tanimoto"].to_numpy()[[0, 2]],
                               expected.table["max_tanimoto"].to_numpy()[[0, 2]])
    assert len(at.get("image")) >= 2  # the molecule and its nearest training compounds


def test_predict_known_compound_shows_its_measured_values(tiny, tiny_parquet, fake_models):
    """A pasted screen compound (as a hydrochloride salt) is reported as that compound, with its measured
    values in the cell types where it was measured."""
    from scperturb_core.discovery.rank import MEASURED, build_cube

    cube = build_cube(tiny, None)
    b = tiny.cell_types.index("B cells")
    c = int(np.nonzero(cube.source[:, b] == MEASURED)[0][0])
    name, smi = cube.compounds["sm_name"].iloc[c], cube.compounds["SMILES"].iloc[c]
    at = page("pages/predict.py", tiny_parquet, **{Keys.PREDICT_TEXT: f"{smi}.Cl pasted\nCCO ethanol\n"}).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error
    info = [i.value for i in at.info if "is the screen compound" in i.value]
    assert len(info) == 1 and f"**{name}**" in info[0] and "**measured** values" in info[0]
    summary = _summary(at)
    assert at.selectbox(key=Keys.PREDICT_CELL_TYPE).value == "B cells"
    assert summary["known_compound"].tolist()[0] == name and summary["source"].tolist() == ["measured", "predicted"]
    np.testing.assert_allclose(summary["CD69"].iloc[0], cube.profile(name, "B cells")[tiny.genes.index("CD69")])
    # the applicability-domain columns come right after the name
    assert list(summary.columns[:6]) == ["row", "name", "known_compound", "max_tanimoto", "nearest_compound",
                                         "in_domain"]
