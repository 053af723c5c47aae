"""Measured-value noise: recovers a known noise level beside low-rank structure."""
from __future__ import annotations

import numpy as np
import pytest

from scperturb_core.models import uncertainty
from scperturb_core.models.uncertainty import _top_k_fit, measurement_noise


def test_noise_level_recovered_beside_low_rank_signal():
    rng = np.random.default_rng(0)
    n, g, sd = 400, 300, 0.5
    signal = rng.normal(size=(n, 3)) @ rng.normal(size=(3, g)) * 3.0
    sd_g = np.full(g, sd)
    sd_g[:100] = 2.0  # noisier genes
    X = signal + rng.normal(size=(n, g)) * sd_g
    est = measurement_noise(X, rank=3)
    assert est.shape == (g,) and est.dtype == np.float32
    assert np.median(est[:100]) == pytest.approx(2.0, rel=0.08)
    assert np.median(est[100:]) == pytest.approx(0.5, rel=0.08)


def test_noise_bad_input():
    with pytest.raises(ValueError, match="NaN or inf"):
        measurement_noise(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        measurement_noise(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="rank must be"):
        measurement_noise(np.ones((4, 3)), rank=4)


@pytest.mark.parametrize("shape", [(40, 300), (300, 40)])  # fewer rows than genes, and more
def test_top_k_fit_is_the_truncated_svd(shape, monkeypatch):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(shape[0], 5)) @ rng.normal(size=(5, shape[1])) * 4 + rng.normal(size=shape)
    A -= A.mean(axis=0)
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    exact = (u[:, :5] * s[:5]) @ vt[:5]
    np.testing.assert_allclose(_top_k_fit(A, 5), exact, atol=1e-8)
    monkeypatch.setattr(uncertainty, "GRAM_MAX", 10)  # the randomized path of large matrices: same fit
    np.testing.assert_allclose(_top_k_fit(A, 5), exact, atol=1e-6)
