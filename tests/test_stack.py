"""The stacked default predictor: no held-out row reaches any fitted object, the stack falls back to
the best baseline without signal, intervals cover what they claim, and everything survives a save/load."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES
from scperturb_core.io import sha256_bytes
from scperturb_core.models.checkpoint import MANIFEST, ModelDirError
from scperturb_core.models.features import FeatureConfig
from scperturb_core.models.networks import MLPConfig, TransformerConfig
from scperturb_core.models.predictor import Predictor, train_ensemble
from scperturb_core.models.stack import (BASELINE_CANDIDATES, CT_MEAN, MAX_ROW_BETA, NEW_SAFETY, READOUT, SIM_EDGES,
                                         GroupMeans, _coverage, _fit_new, _Fold, fit_fold, fit_row_scale,
                                         fit_shrinkage, fit_weights, interval_multipliers, mix_rmse, row_grams,
                                         row_scale)
from scperturb_core.models.train import ModelSpec, TrainConfig
from scperturb_core.validation.baselines import BASELINE_NAMES, all_baselines
from scperturb_core.validation.metrics import mrrmse
from scperturb_core.validation.splits import shift_folds

SMALL = ModelSpec(features=FeatureConfig(n_components=8), mlp=MLPConfig(hidden=32),
                  transformer=TransformerConfig(d_model=16, ff_dim=32, hidden=32),
                  train=TrainConfig(epochs=6, patience=3))


def _smiles(data, names):
    return names.map(dict(zip(data.compounds[SM_NAME], data.compounds[SMILES]))).tolist()


@pytest.fixture(scope="module")
def trained(tiny):
    return train_ensemble(tiny.obs, tiny.X, tiny.genes, SMALL)


def test_group_means_match_the_baselines(tiny):
    obs, X = tiny.obs, tiny.X
    names = list(dict.fromkeys(obs[SM_NAME]))
    means = GroupMeans.fit(obs, X, names, sorted(obs[CELL_TYPE].unique()))
    q = tiny.id_map.head(10)
    idx = np.array([names.index(n) for n in q[SM_NAME]])
    got = means.predict(q[CELL_TYPE].tolist(), idx)
    for base in all_baselines():
        want = base.fit(obs, X, tiny.genes).predict(q[CELL_TYPE].tolist(), [None] * len(q), q[SM_NAME].tolist())
        np.testing.assert_allclose(got[base.name], want, rtol=1e-5, atol=1e-5)
    assert tuple(got) == BASELINE_CANDIDATES == BASELINE_NAMES


def test_no_held_out_row_reaches_a_fitted_object(tiny):
    """Perturbing the held-out rows of a shift fold leaves its features, means, candidate predictions
    and the networks' per-epoch predictions bit-identical (only the validation scores move)."""
    fold = shift_folds(tiny)[0]
    X2 = tiny.X.copy()
    X2[fold.val_idx] += np.random.default_rng(1).normal(0, 5, size=X2[fold.val_idx].shape).astype(X2.dtype)
    a = fit_fold(tiny.obs, tiny.X, tiny.genes, SMALL, fold.train_idx, fold.val_idx, SMALL.members)
    b = fit_fold(tiny.obs, X2, tiny.genes, SMALL, fold.train_idx, fold.val_idx, SMALL.members)
    arr_a, meta_a = a.pipe.state()
    arr_b, meta_b = b.pipe.state()
    assert meta_a == meta_b
    for k in arr_a:
        assert np.array_equal(arr_a[k], arr_b[k]), k
    for k in a.cands:
        assert np.array_equal(a.cands[k], b.cands[k]), k
    for kind in SMALL.members:
        n = min(len(a.traces[kind]), len(b.traces[kind]))
        assert n >= 2
        for e in range(n):
            assert np.array_equal(a.traces[kind][e], b.traces[kind][e]), (kind, e)
        assert a.curves[kind] != b.curves[kind]  # the held-out values do reach the validation score


def test_weights_are_non_negative_and_never_worse_than_their_start():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(12, 50))
    preds = [np.zeros_like(y), y + rng.normal(0, 1, size=y.shape), -y]
    G, b, c = row_grams(preds, y)
    start = np.array([1.0, 0.0, 0.0])
    w = fit_weights(G, b, c, 50, start)
    assert (w >= 0).all() and w[2] == pytest.approx(0.0, abs=1e-6)
    assert mix_rmse(w, G, b, c, 50).mean() < mix_rmse(start, G, b, c, 50).mean()
    # the row Grams reproduce the row RMSE of the mix exactly
    mix = sum(wi * p for wi, p in zip(w, preds))
    np.testing.assert_allclose(mix_rmse(w, G, b, c, 50), np.sqrt(np.mean((mix - y) ** 2, axis=1)), rtol=1e-6)


def test_shrinkage_is_in_unit_interval_and_monotone():
    rng = np.random.default_rng(0)
    n, g = 80, 30
    base = np.zeros((n, g))
    truth = rng.normal(size=(n, g))
    bins = np.repeat(np.arange(len(SIM_EDGES)), n // len(SIM_EDGES))
    # a model that is good for similar compounds, noise for dissimilar ones (and anti-informative in bin 1)
    quality = np.array([0.0, -0.5, 0.6, 0.9])[bins][:, None]
    model = quality * truth + rng.normal(0, 0.5, size=(n, g))
    f = fit_shrinkage(model, base, truth, bins)
    assert f.shape == (len(SIM_EDGES),) and (f >= 0).all() and (f <= 1).all()
    assert np.all(np.diff(f) >= -1e-12) and f[-1] > 0.5


def _lco_folds(quality_per_fold, n=40, g=25, seed=0):
    """Leave-compounds-out folds whose readout is ``quality * truth + noise`` (cell-type mean 0)."""
    rng = np.random.default_rng(seed)
    folds, X = [], []
    for i, q in enumerate(quality_per_fold):
        y = rng.normal(size=(n, g))
        model = q * y + rng.normal(0, 0.5, size=(n, g))
        folds.append(_Fold(np.arange(i * n, (i + 1) * n), {CT_MEAN: np.zeros((n, g), np.float32),
                                                          READOUT: model.astype(np.float32)},
                           {}, {}, None, rng.uniform(0.1, 0.7, n)))
        X.append(y)
    return folds, np.concatenate(X).astype(np.float32)


def test_new_compound_shrinkage_is_a_safe_share_of_the_fit_when_every_fold_gains():
    folds, X = _lco_folds([0.8, 0.7, 0.9])
    member, factors, report, resid, bins, fold_of = _fit_new(folds, X, [])
    y = X
    base = np.zeros_like(y)
    model = np.concatenate([f.cands[READOUT] for f in folds])
    np.testing.assert_allclose(factors, NEW_SAFETY * fit_shrinkage(model, base, y, bins))
    assert member == READOUT and factors.max() > 0 and report["ratio"] < 1
    assert all(report["beats the cell-type mean in every fold"].values())


def test_new_compound_falls_back_to_the_cell_type_mean_when_a_fold_loses():
    # two folds where the model helps, one where it is noise: the pooled gain is positive,
    # but the rule must hold in every fold to be shipped
    folds, X = _lco_folds([0.9, 0.9, 0.0])
    member, factors, report, resid, bins, fold_of = _fit_new(folds, X, [])
    assert report["shrunk (cross-fitted)"][READOUT] < report["cell-type mean"]
    assert not report["beats the cell-type mean in every fold"][READOUT]
    assert np.all(factors == 0) and report["ratio"] == 1.0
    np.testing.assert_allclose(resid, X)  # residuals (intervals) are those of the cell-type mean


def test_row_scale_makes_intervals_fit_weak_compounds_when_strong_ones_dominate_validation():
    # residual size proportional to (strength + ref) / (2 ref): validation rows are mostly strong compounds,
    # the rows to cover are mostly weak ones (as B / Myeloid-measured compounds vs the test's)
    rng = np.random.default_rng(1)
    g = 40
    strength_val = np.concatenate([rng.uniform(0.2, 0.5, 30), rng.uniform(2.0, 4.0, 30)])
    strength_test = np.concatenate([rng.uniform(0.2, 0.5, 90), rng.uniform(2.0, 4.0, 10)])
    ref = np.median(strength_val)

    def resid(st):
        return rng.normal(size=(len(st), g)) * ((st + ref) / (2 * ref))[:, None]

    r_val, r_test = resid(strength_val), resid(strength_test)
    beta, ref_hat = fit_row_scale(r_val, strength_val)
    assert 0.7 <= beta <= MAX_ROW_BETA and ref_hat == pytest.approx(ref)
    scale = np.ones(g, np.float32)
    plain = interval_multipliers(r_val, scale)["0.8"]
    rows_val, rows_test = row_scale(strength_val, beta, ref_hat), row_scale(strength_test, beta, ref_hat)
    scaled = interval_multipliers(r_val / rows_val[:, None], scale)["0.8"]
    cover_plain = np.mean(np.abs(r_test) <= plain)
    cover_scaled = np.mean(np.abs(r_test) <= scaled * rows_test[:, None])
    assert cover_plain > 0.88 and 0.75 <= cover_scaled <= 0.85
    # no relation between strength and residuals: no row scale
    beta0, _ = fit_row_scale(rng.normal(size=(60, g)), strength_val)
    assert beta0 < 0.15
    # cross-fitted coverage refits the row scale without the held-out fold and is near the level
    fold_of = np.arange(len(strength_val)) % 3
    cov = _coverage(r_val, scale, fold_of, np.array(["B cells"] * len(strength_val)), True, strength=strength_val)
    assert 0.72 <= cov["0.8"] <= 0.88


def test_default_predictor_is_stacked_and_reports(trained, tiny):
    st = trained.stack
    assert trained.stacked and st.enabled and trained.info["n_val_rows"] > 0
    cv = st.report["cv"]
    best = min(cv[k]["mrrmse"] for k in BASELINE_NAMES)
    if st.fallback is None:
        assert cv["stack"]["mrrmse"] < best
        assert trained.fallback_message is None
    else:
        assert st.fallback in BASELINE_NAMES and "did not beat" in trained.fallback_message
    q = tiny.id_map
    out = trained.predict(q[CELL_TYPE].tolist(), _smiles(tiny, q[SM_NAME]), q[SM_NAME].tolist())
    assert out.shape == (len(q), tiny.n_genes) and out.dtype == np.float32 and np.isfinite(out).all()
    assert trained.noise_sd.shape == (tiny.n_genes,) and trained.noise_sd.dtype == np.float32
    for key in ("0.8", "0.9"):
        assert 0.6 <= trained.info["coverage"]["measured"][key] <= 0.97


def test_intervals_cover_held_out_truth(trained, tiny):
    q = tiny.id_map
    cts, smiles, names = q[CELL_TYPE].tolist(), _smiles(tiny, q[SM_NAME]), q[SM_NAME].tolist()
    est, lo, hi = trained.predict_interval(cts, smiles, names, level=0.8)
    assert est.dtype == lo.dtype == hi.dtype == np.float32 and (lo <= est).all() and (est <= hi).all()
    cover80 = np.mean((tiny.truth >= lo) & (tiny.truth <= hi))
    _, lo9, hi9 = trained.predict_interval(cts, smiles, names, level=0.9)
    cover90 = np.mean((tiny.truth >= lo9) & (tiny.truth <= hi9))
    assert 0.65 <= cover80 <= 0.92 and cover90 >= cover80
    with pytest.raises(ValueError, match="unsupported interval level 0.33"):
        trained.predict_interval(cts[:1], smiles[:1], names[:1], level=0.33)
    # a new molecule gets an estimate between its cell-type mean and the model, and a finite interval
    e, l, h = trained.predict_interval(["B cells"], ["CC(=O)Oc1ccccc1C(=O)O"], None, level=0.8)
    assert np.isfinite(e).all() and (h > l).all()


def test_stack_falls_back_without_signal(tiny):
    """Pure noise: whatever the predictor ships is no worse than the best baseline on fresh noise."""
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, size=tiny.X.shape).astype(np.float32)
    pred = train_ensemble(tiny.obs, X, tiny.genes, SMALL)
    cv = pred.stack.report["cv"]
    assert pred.stack.fallback is not None or cv["stack"]["mrrmse"] < min(cv[k]["mrrmse"] for k in BASELINE_NAMES)
    q = tiny.id_map
    truth = rng.normal(0, 1, size=(len(q), tiny.n_genes))
    args = (q[CELL_TYPE].tolist(), _smiles(tiny, q[SM_NAME]), q[SM_NAME].tolist())
    out = pred.predict(*args)
    got = mrrmse(truth, out)
    b_rows = np.flatnonzero(q[CELL_TYPE].to_numpy() == "B cells")
    assert np.ptp(out[b_rows], axis=0).min() > 0  # compounds are told apart (a ranking exists)
    best = min(mrrmse(truth, b.fit(tiny.obs, X, tiny.genes).predict(*args)) for b in all_baselines())
    assert got <= 1.01 * best


def test_round_trip_keeps_the_stack(trained, tiny, tmp_path):
    path = trained.save(tmp_path / "m")
    loaded = Predictor.load(path, tiny.genes)
    q = tiny.id_map.head(20)
    args = (q[CELL_TYPE].tolist() + ["B cells"], _smiles(tiny, q[SM_NAME]) + ["c1ccccc1O"],
            q[SM_NAME].tolist() + [None])
    for a, b in zip(trained.predict_interval(*args), loaded.predict_interval(*args)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(trained.noise_sd, loaded.noise_sd)
    assert loaded.stack.fallback == trained.stack.fallback and loaded.fallback_message == trained.fallback_message
    assert json.loads((path / "stack.json").read_text())["format"] == 1


def test_row_scale_in_saved_state(trained, tiny):
    from scperturb_core.models.stack import StackState

    arrays, meta = trained.stack.state()
    assert meta["row_scale"] == {"beta": trained.stack.row_beta, "ref": trained.stack.row_ref}
    old = {k: v for k, v in meta.items() if k != "row_scale"}  # saved before the row scale existed
    st = StackState.from_state(arrays, old, tiny.n_genes)
    assert st.row_beta == 0.0  # intervals as they were: no row scale
    for bad, msg in (({"beta": 5.0, "ref": 1.0}, "out of range: beta 5.0"), ({"beta": 0.5, "ref": -1}, "ref -1"),
                     ("x", "row scale must be")):
        with pytest.raises(ValueError, match=msg):
            StackState.from_state(arrays, {**meta, "row_scale": bad}, tiny.n_genes)


def test_old_model_dirs_are_refused(trained, tmp_path):
    path = trained.save(tmp_path / "old")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["format"] = 1
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirError, match=r"predates the stacked predictor \(format 1\); retrain it") as exc:
        Predictor.load(path)
    assert "\n" not in str(exc.value)


def test_bad_stack_state_is_refused(trained, tmp_path):
    path = trained.save(tmp_path / "bad")
    meta = json.loads((path / "stack.json").read_text())
    meta["weights"]["*"] = [-1.0] * len(meta["candidates"])
    raw = json.dumps(meta).encode()
    (path / "stack.json").write_bytes(raw)
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["sha256"]["stack.json"] = sha256_bytes(raw)
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirError, match="bad stack state.*non-negative"):
        Predictor.load(path)


def test_without_stack_the_networks_predict(tiny):
    spec = replace(SMALL, train=replace(SMALL.train, stack=False))
    pred = train_ensemble(tiny.obs, tiny.X, tiny.genes, spec)
    assert not pred.stacked and "without shift-true folds" in pred.fallback_message
    assert pred.noise_sd.shape == (tiny.n_genes,)
    with pytest.raises(ValueError, match="no calibrated intervals"):
        pred.predict_interval(["B cells"], ["CCO"])


def test_restricted_weights_leave_other_candidates_at_zero():
    """The ranking guard refits over the baselines only: the other candidates get weight 0 exactly."""
    from scperturb_core.models.stack import POOLED, _restricted_weights, row_grams

    rng = np.random.default_rng(0)
    y = rng.normal(size=(12, 30)).astype(np.float32)
    good = y + 0.1 * rng.normal(size=y.shape).astype(np.float32)  # the best candidate, but not allowed
    base = 0.5 * y + rng.normal(size=y.shape).astype(np.float32)
    zeros = np.zeros_like(y)
    G, b, c = row_grams([zeros, base, good], y)
    groups = np.array(["B cells"] * 12)
    free = _restricted_weights("pooled", G, b, c, 30, groups, None)[POOLED]
    assert free[2] > 0.5
    only = _restricted_weights("pooled", G, b, c, 30, groups, np.array([0, 1]))[POOLED]
    assert only.shape == (3,) and only[2] == 0.0 and only[1] > 0
