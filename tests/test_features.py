"""Feature pipeline: fitted on training rows only, leave-one-out statistics, new SMILES, saved state."""
from __future__ import annotations

import numpy as np
import pytest

from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES
from scperturb_core.models.features import STATS, FeatureConfig, FeatureError, FeaturePipeline, reference_panel
from scperturb_core.validation.splits import leave_one_cell_type_out

CFG = FeatureConfig(n_components=8)


@pytest.fixture(scope="module")
def fold(tiny):
    return leave_one_cell_type_out(tiny)[0]


@pytest.fixture(scope="module")
def pipe(tiny):
    return FeaturePipeline(CFG).fit(tiny.obs, tiny.X, tiny.genes)


def _queries(data, idx):
    q = data.obs.iloc[idx]
    return q[CELL_TYPE].tolist(), q[SMILES].tolist(), q[SM_NAME].tolist()


def test_sizes_come_from_featurizers(pipe, tiny):
    dims = pipe.dims()
    k = pipe.k
    assert k == 8
    assert dims["stats"] == len(STATS) * k
    assert dims["cell"] == len(tiny.cell_types) + len(STATS) * k
    assert dims["chem"] == len(pipe.chem_featurizer) == pipe.cfg.n_bits + len(pipe.chem_featurizer.vocabulary)
    f = pipe.train_features()
    assert f.cell.shape == (tiny.n_rows, dims["cell"]) and f.chem.shape == (tiny.n_rows, dims["chem"])
    assert f.stats.shape == (tiny.n_rows, dims["stats"]) and f.base.shape == (tiny.n_rows, k)
    assert all(a.dtype == np.float32 for a in f.as_dict().values())


def test_reference_panel():
    assert reference_panel(["a"] * 10 + ["b"] * 5 + ["c"] * 4) == ["a", "b"]


def test_gene_space_error_is_exact_in_components(pipe, tiny):
    """|y - (mu + c B)|^2 = |c - t|^2 + residual for an orthonormal basis."""
    t, r = pipe.targets(tiny.X)
    c = t + np.random.default_rng(0).normal(size=t.shape).astype(np.float32)
    direct = np.sum((tiny.X.astype(np.float64) - pipe.to_genes(c)) ** 2, axis=1)
    via = np.sum((c.astype(np.float64) - t) ** 2, axis=1) + r
    np.testing.assert_allclose(direct, via, rtol=1e-4)


def test_leakage_heldout_values_never_enter_features(tiny, fold):
    """Changing the held-out rows' values changes no feature of any row (train or held-out)."""
    tr, va = fold.train_idx, fold.val_idx
    a = FeaturePipeline(CFG).fit(tiny.obs.iloc[tr].reset_index(drop=True), tiny.X[tr], tiny.genes)
    X2 = tiny.X.copy()
    X2[va] = X2[va] * -3.0 + 7.0
    b = FeaturePipeline(CFG).fit(tiny.obs.iloc[tr].reset_index(drop=True), X2[tr], tiny.genes)
    for key, arr in a.train_features().as_dict().items():
        np.testing.assert_array_equal(arr, b.train_features().as_dict()[key], err_msg=key)
    qa, qb = a.transform(*_queries(tiny, va)), b.transform(*_queries(tiny, va))
    for key, arr in qa.as_dict().items():
        np.testing.assert_array_equal(arr, qb.as_dict()[key], err_msg=key)


def test_loo_statistics_match_a_hand_computation(pipe, tiny):
    """A training row's compound statistics come from the compound's *other* panel rows."""
    obs = tiny.obs
    i = int(np.flatnonzero(obs[CELL_TYPE].isin(pipe.panel).to_numpy())[0])
    rows = np.flatnonzero((obs[SM_NAME] == obs[SM_NAME].iloc[i]).to_numpy() & obs[CELL_TYPE].isin(pipe.panel).to_numpy())
    rows = rows[rows != i]
    Z = tiny.X[rows].astype(np.float64)
    expected = np.concatenate([(Z.mean(0) - pipe.mu) @ pipe.basis.T, (np.median(Z, 0) - pipe.mu) @ pipe.basis.T,
                               Z.std(0) @ pipe.basis.T])
    np.testing.assert_allclose(pipe._train[2][i], expected, rtol=1e-5, atol=1e-5)


def test_known_compound_by_name_or_smiles_equal(pipe, tiny):
    ct, smi, names = tiny.cell_types[:2], tiny.compounds[SMILES].tolist()[:2], tiny.compounds[SM_NAME].tolist()[:2]
    by_name = pipe.transform(ct, smi, names)
    by_smiles = pipe.transform(ct, smi, None)
    for key, arr in by_name.as_dict().items():
        np.testing.assert_array_equal(arr, by_smiles.as_dict()[key])


def test_new_smiles_statistics_are_imputed_from_neighbours(pipe):
    new = "CC(=O)Oc1ccccc1C(=O)O"  # aspirin, not a training compound
    f = pipe.transform([pipe.cell_types[0]], [new])
    idx, _ = pipe.resolve([new], [None])
    assert idx[0] == -1
    expected = pipe._index.impute(pipe.comp_raw, [new], k=pipe.cfg.n_neighbors)
    np.testing.assert_allclose(f.stats[0], ((expected[0] - pipe.stats_center) / pipe.stats_scale), rtol=1e-5)
    assert np.all(np.isfinite(f.base))


def test_errors_name_the_bad_value(pipe):
    with pytest.raises(FeatureError, match="unknown cell type 'Neurons'"):
        pipe.transform(["Neurons"], ["CCO"])
    with pytest.raises(FeatureError, match="row 1: invalid SMILES 'C1CC'"):
        pipe.transform([pipe.cell_types[0]] * 2, ["CCO", "C1CC"])


def test_state_round_trip(pipe, tiny):
    arrays, meta = pipe.state()
    back = FeaturePipeline.from_state(arrays, meta)
    q = _queries(tiny, np.arange(10))
    for key, arr in pipe.transform(*q).as_dict().items():
        np.testing.assert_array_equal(arr, back.transform(*q).as_dict()[key])
    bad = dict(arrays)
    bad["basis"] = bad["basis"][:, :3]
    with pytest.raises(ValueError, match="'basis' has shape"):
        FeaturePipeline.from_state(bad, meta)


def test_config_validation():
    with pytest.raises(ValueError, match="n_components"):
        FeatureConfig(n_components=0)
    with pytest.raises(ValueError, match="unknown FeatureConfig"):
        FeatureConfig.from_dict({"bogus": 1})


def test_readout_can_be_switched_off(tiny):
    """Ablation: without the readout the networks start from the gene means (base = 0)."""
    pipe = FeaturePipeline(FeatureConfig(n_components=8, readout=False)).fit(tiny.obs, tiny.X, tiny.genes)
    assert not pipe.train_features().base.any()
    f = pipe.transform([pipe.cell_types[0]], [tiny.compounds[SMILES][0]])
    np.testing.assert_allclose(pipe.to_genes(f.base)[0], pipe.mu, rtol=1e-5, atol=1e-5)
