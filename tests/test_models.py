"""Networks: shapes, configs, and an overfit test per model on tiny data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scperturb_core.models.features import FeatureConfig, FeaturePipeline
from scperturb_core.models.networks import MLP, MLPConfig, Transformer, TransformerConfig, build_model
from scperturb_core.models.train import TrainConfig, TrainData, fit, predict_components


@pytest.fixture(scope="module")
def small(tiny):
    pipe = FeaturePipeline(FeatureConfig(n_components=12)).fit(tiny.obs, tiny.X, tiny.genes)
    t, r = pipe.targets(tiny.X)
    return pipe, TrainData(pipe.train_features(), t, r, tiny.n_genes)


def _batch(data: TrainData, n: int = 5) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v[:n]) for k, v in data.features.as_dict().items()}


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_untrained_model_predicts_the_readout(small, kind):
    pipe, data = small
    model = build_model(kind, pipe.dims()).eval()
    out = model(_batch(data))
    assert out.shape == (5, pipe.k)
    np.testing.assert_allclose(out.detach().numpy(), data.features.base[:5], rtol=1e-6)
    genes = model.genes(_batch(data), torch.as_tensor(pipe.basis), torch.as_tensor(pipe.mu, dtype=torch.float32))
    assert genes.shape == (5, len(pipe.genes))


@pytest.mark.parametrize("kind, cfg", [("mlp", MLPConfig(hidden=64, dropout=0.0)),
                                       ("transformer", TransformerConfig(d_model=32, n_heads=8, ff_dim=64,
                                                                         hidden=64, dropout=0.0))])
def test_overfit_tiny(tiny, kind, cfg):
    """With no dropout and no validation, each model drives its training loss far below the start
    (a full gene basis, so nothing is out of reach)."""
    pipe = FeaturePipeline(FeatureConfig(n_components=tiny.n_genes)).fit(tiny.obs, tiny.X, tiny.genes)
    t, r = pipe.targets(tiny.X)
    data = TrainData(pipe.train_features(), t, r, tiny.n_genes)
    assert np.allclose(r, 0.0, atol=1e-2)
    part = data.take(np.arange(24))
    model = build_model(kind, pipe.dims(), cfg)
    hist = fit(model, part, TrainConfig(epochs=150, lr=3e-3, weight_decay=0.0, val_fraction=0.0, seed=0))
    start = float(np.mean(np.sqrt((np.sum((part.features.base - part.targets) ** 2, 1) + part.residual)
                                  / part.n_genes)))
    model.eval()
    pred = predict_components(model, part.features)
    end = float(np.mean(np.sqrt((np.sum((pred - part.targets) ** 2, 1) + part.residual) / part.n_genes)))
    assert len(hist.train_loss) == 150
    assert end < 0.2 * start, (start, end)


def test_configs_validate_and_round_trip():
    assert MLPConfig.from_dict(MLPConfig(hidden=8).to_dict()) == MLPConfig(hidden=8)
    assert TransformerConfig.from_dict(TransformerConfig().to_dict()) == TransformerConfig()
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(d_model=30, n_heads=8)
    with pytest.raises(ValueError, match="dropout"):
        MLPConfig(dropout=1.5)
    with pytest.raises(ValueError, match="unknown MLPConfig"):
        MLPConfig.from_dict({"width": 3})
    with pytest.raises(ValueError, match="unknown model 'gru'"):
        build_model("gru", {"cell": 1, "stats": 1, "chem": 1, "base": 1})


def test_model_kinds(small):
    pipe, _ = small
    assert isinstance(build_model("mlp", pipe.dims()), MLP)
    assert isinstance(build_model("transformer", pipe.dims(), {"d_model": 16}), Transformer)
    assert build_model("transformer", pipe.dims()).encoder.self_attn.num_heads == 8
