"""The one training loop, the ensemble, baselines and evaluation on tiny data."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES
from scperturb_core.models.features import FeatureConfig, FeaturePipeline
from scperturb_core.models.networks import MLPConfig, TransformerConfig, build_model
from scperturb_core.models.predictor import train_ensemble
from scperturb_core.models.train import (History, ModelSpec, TrainConfig, TrainData, choose_weight, fit, internal_split,
                                         loss_fn, predict_components, seed_everything)
from scperturb_core.validation.baselines import BASELINE_NAMES, Additive, CellTypeMean, CompoundMean, GeneMean, Zeros
from scperturb_core.validation.evaluate import ID_MAP_TASK, benchmark, restrict_genes, summary, tasks_for

SMALL = ModelSpec(features=FeatureConfig(n_components=8), mlp=MLPConfig(hidden=32),
                  transformer=TransformerConfig(d_model=16, ff_dim=32, hidden=32),
                  train=TrainConfig(epochs=8, patience=4))


@pytest.fixture(scope="module")
def data8(tiny):
    pipe = FeaturePipeline(FeatureConfig(n_components=8)).fit(tiny.obs, tiny.X, tiny.genes)
    t, r = pipe.targets(tiny.X)
    return pipe, TrainData(pipe.train_features(), t, r, tiny.n_genes)


def test_losses_exact():
    pred = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    target = torch.zeros(2, 2)
    residual = torch.tensor([3.0, 4.0])
    # row squared errors in gene space (g = 4): (1 + 3) / 4 = 1 and (0 + 4) / 4 = 1
    assert float(loss_fn("mse", pred, target, residual, 4)) == pytest.approx(1.0)
    assert float(loss_fn("mrrmse", pred, target, residual, 4)) == pytest.approx(1.0)
    pred2 = torch.tensor([[6.0, 0.0]])
    # rmse = sqrt(36 / 4) = 3; huber(3, delta=1) = 3 - 0.5
    assert float(loss_fn("huber", pred2, torch.zeros(1, 2), torch.zeros(1), 4)) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="unknown loss"):
        loss_fn("l1", pred, target, residual, 4)


def test_fit_history_and_seed(data8):
    pipe, data = data8
    cfg = TrainConfig(epochs=5, val_fraction=0.0)
    runs = []
    for _ in range(2):
        seed_everything(cfg.seed)
        model = build_model("mlp", pipe.dims(), MLPConfig(hidden=16))
        hist = fit(model, data, cfg, on_epoch=lambda k, e, h: None)
        runs.append((hist, [p.detach().clone() for p in model.parameters()]))
    h, params = runs[0]
    assert len(h.train_loss) == 5 and all(math.isnan(v) for v in h.val_loss) and h.best_epoch == 5
    for a, b in zip(params, runs[1][1]):
        torch.testing.assert_close(a, b)  # one seed -> identical weights
    assert runs[0][0].train_loss == runs[1][0].train_loss


def test_early_stopping_restores_best(data8):
    pipe, data = data8
    val = data.take(np.arange(0, 40))
    train = data.take(np.arange(40, len(data)))
    seen = []
    model = build_model("transformer", pipe.dims(), TransformerConfig(d_model=16, ff_dim=16, hidden=16))
    hist = fit(model, train, TrainConfig(epochs=60, patience=3, lr=0.05, val_fraction=0.0), val,
               on_epoch=lambda k, e, h: seen.append((k, e)))
    assert seen[0] == ("transformer", 1) and len(seen) == len(hist.train_loss)
    assert hist.best_epoch == int(np.argmin(hist.val_loss)) + 1  # min_epochs=1: at least one epoch is kept
    if hist.stopped_early:
        assert len(hist.train_loss) - hist.best_epoch == 3
    d = History.from_dict(hist.to_dict())
    assert d.best_epoch == hist.best_epoch and len(d.val_loss) == len(hist.val_loss)
    assert d.initial_val_loss == pytest.approx(hist.initial_val_loss)


def test_a_network_that_never_helps_keeps_its_start(data8):
    """With min_epochs=0 the untrained network (= the readout) is a candidate: bad training is not kept."""
    pipe, data = data8
    val, train = data.take(np.arange(0, 40)), data.take(np.arange(40, len(data)))
    model = build_model("mlp", pipe.dims(), MLPConfig(hidden=16))
    hist = fit(model, train, TrainConfig(epochs=4, patience=2, lr=50.0, weight_decay=0.0, min_epochs=0), val)
    assert hist.best_epoch == 0 and hist.stopped_early and len(hist.train_loss) == 2
    np.testing.assert_allclose(predict_components(model, val.features), val.features.base, rtol=1e-6)


def test_choose_weight_picks_the_better_member():
    targets = np.zeros((4, 2), dtype=np.float32)
    data = TrainData(None, targets, np.zeros(4), 2)
    good, bad = np.zeros((4, 2)), np.ones((4, 2))
    assert choose_weight({"mlp": good, "transformer": bad}, data) == {"mlp": 1.0, "transformer": 0.0}
    # opposite errors cancel at 0.5
    assert choose_weight({"mlp": good + 1, "transformer": good - 1}, data) == {"mlp": 0.5, "transformer": 0.5}
    assert choose_weight({"mlp": good}, data) == {"mlp": 1.0}
    assert choose_weight({"mlp": good, "transformer": good}, data) == {"mlp": 0.5, "transformer": 0.5}


def test_internal_split_is_stratified(tiny):
    idx = internal_split(tiny.obs, 0.2, seed=0)
    counts = tiny.obs.iloc[idx][CELL_TYPE].value_counts()
    assert set(counts.index) == set(tiny.cell_types)
    assert counts["NK cells"] == 8 and counts["B cells"] == 3
    assert np.array_equal(idx, internal_split(tiny.obs, 0.2, seed=0))
    assert internal_split(tiny.obs, 0.0, seed=0).size == 0


def test_train_ensemble_tiny(tiny):
    progress = []
    pred = train_ensemble(tiny.obs, tiny.X, tiny.genes, SMALL, on_progress=lambda f, m: progress.append((f, m)))
    assert set(pred.weights) == {"mlp", "transformer"} and sum(pred.weights.values()) == pytest.approx(1.0)
    assert progress[0][0] == 0.0 and progress[-1] == (1.0, "done")
    assert all(0.0 <= f <= 1.0 for f, _ in progress)
    assert pred.info["n_val_rows"] > 0 and set(pred.histories) == {"mlp", "transformer"}
    q = tiny.id_map
    smiles = q[SM_NAME].map(dict(zip(tiny.compounds[SM_NAME], tiny.compounds[SMILES]))).tolist()
    out = pred.predict(q[CELL_TYPE].tolist(), smiles, q[SM_NAME].tolist())
    members = pred.predict_members(q[CELL_TYPE].tolist(), smiles, q[SM_NAME].tolist())
    assert out.shape == (len(q), tiny.n_genes) and out.dtype == np.float32
    assert pred.stacked and np.isfinite(out).all()
    fractions = [f for f, _ in progress]
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))  # progress only moves forward
    assert any("shift fold 2/5" in m for _, m in progress) and any("final fit" in m for _, m in progress)
    plain = train_ensemble(tiny.obs, tiny.X, tiny.genes, replace(SMALL, train=replace(SMALL.train, stack=False)))
    members = plain.predict_members(q[CELL_TYPE].tolist(), smiles, q[SM_NAME].tolist())
    mixed = sum(plain.weights[k] * members[k] for k in members)
    np.testing.assert_allclose(plain.predict(q[CELL_TYPE].tolist(), smiles, q[SM_NAME].tolist()), mixed,
                               rtol=1e-4, atol=1e-4)
    near = pred.nearest(["CCO", smiles[0]], k=3)
    assert len(near) == 2 and len(near[0]) == 3 and near[1][0] == (q[SM_NAME].iloc[0], 1.0)
    with pytest.raises(ValueError, match="invalid SMILES 'not a smiles'"):
        pred.predict(["B cells"], ["not a smiles"])
    single = train_ensemble(tiny.obs, tiny.X, tiny.genes, ModelSpec(model="mlp", features=SMALL.features,
                                                                       mlp=SMALL.mlp, train=SMALL.train))
    assert single.weights == {"mlp": 1.0}


# ------------------------------------------------------------------------------------ baselines


def test_baselines_exact():
    obs = pd.DataFrame({CELL_TYPE: ["A", "A", "B"], SM_NAME: ["x", "y", "x"]})
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    genes = ("g1", "g2")
    q_ct, q_sm = ["B", "B", "C"], ["y", "x", "z"]
    assert Zeros().fit(obs, X, genes).predict(q_ct, [None] * 3, q_sm).tolist() == [[0, 0]] * 3
    gm = [3.0, 5.0]
    assert GeneMean().fit(obs, X, genes).predict(q_ct, [None] * 3, q_sm).tolist() == [gm] * 3
    assert CellTypeMean().fit(obs, X, genes).predict(q_ct, [None] * 3, q_sm).tolist() == [[5, 9], [5, 9], gm]
    assert CompoundMean().fit(obs, X, genes).predict(q_ct, [None] * 3, q_sm).tolist() == [[3, 4], [3, 5.5], gm]
    # additive (B, y) = ct B + compound y - mean = (5, 9) + (3, 4) - (3, 5)
    assert Additive().fit(obs, X, genes).predict(q_ct, [None] * 3, q_sm)[0].tolist() == [5, 8]


def test_benchmark_tiny(tiny):
    data = restrict_genes(tiny, 32)
    tasks = tasks_for(data, folds=1)
    assert [t.kind for t in tasks] == ["fold", "id_map"] and tasks[1].name == ID_MAP_TASK
    # the fold's held-out rows are not among its training rows
    fold = tasks[0]
    held = set(zip(fold.queries[CELL_TYPE], fold.queries[SM_NAME]))
    assert not held & set(zip(fold.obs[CELL_TYPE], fold.obs[SM_NAME]))
    results = benchmark(data, SMALL, folds=1)
    assert set(BASELINE_NAMES) | {"mlp", "transformer", "ensemble", "stack"} <= set(results["method"])
    pooled = results[results["kind"] == "pooled"]
    assert len(pooled) and pooled["method"].is_unique and (pooled["rows"] == len(fold.truth)).all()
    stack_row = results[(results.method == "stack") & (results.kind == "id_map")].iloc[0]
    assert 0.0 <= stack_row["coverage_80"] <= 1.0
    assert results["mrrmse"].notna().all()
    assert tasks_for(data, folds=1, family="cell type")[0].name.startswith("held-out ")
    table = summary(results)
    assert table.loc["compound mean"].filter(like="/ best").min() >= 1.0
    zero_row = results[(results.method == "zeros") & (results.kind == "id_map")]
    expected = float(np.mean(np.sqrt(np.mean(data.truth.astype(np.float64) ** 2, axis=1))))
    assert float(zero_row["mrrmse"].iloc[0]) == pytest.approx(expected)
