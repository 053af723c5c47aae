"""Metrics: exact values on hand-made examples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scperturb_core.validation.metrics import (mrrmse, ranking_quality, rowwise_pearson, rowwise_pearson_values,
                                               rowwise_rmse)


def test_mrrmse_hand_made():
    y = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    p = np.array([[1.0, 2.0, 3.0, 0.0], [1.0, -1.0, 1.0, -1.0]])
    # row 1: sqrt(16 / 4) = 2; row 2: sqrt(4 / 4) = 1; mean = 1.5
    assert rowwise_rmse(y, p).tolist() == [2.0, 1.0]
    assert mrrmse(y, p) == 1.5


def test_mrrmse_is_not_global_rmse():
    y = np.zeros((2, 2))
    p = np.array([[3.0, 3.0], [0.0, 0.0]])
    assert mrrmse(y, p) == 1.5
    assert math.isclose(float(np.sqrt(np.mean((y - p) ** 2))), math.sqrt(4.5))


def test_perfect_prediction_scores_zero():
    y = np.random.default_rng(0).normal(size=(5, 7))
    assert mrrmse(y, y) == 0.0
    assert rowwise_pearson(y, y) == pytest.approx(1.0)


def test_pearson_hand_made():
    y = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    p = np.array([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0], [5.0, 5.0, 5.0]])
    # +1, -1, and a constant row counts as 0
    assert rowwise_pearson_values(y, p).tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert rowwise_pearson(y, p) == pytest.approx(0.0)


@pytest.mark.parametrize("a, b", [((2, 3), (3, 2)), ((3,), (3,)), ((0, 4), (0, 4))])
def test_bad_shapes_name_them(a, b):
    with pytest.raises(ValueError, match="shape|rows, genes"):
        mrrmse(np.zeros(a), np.zeros(b))


def test_ranking_quality_hand_made():
    # one group, 4 compounds, 2 genes; gene 0 varies most and is the only one scored (top_share=0.5)
    y = np.array([[-4.0, 0.1], [-1.0, 0.0], [2.0, 0.2], [3.0, 0.0]])
    perfect = ranking_quality(y, y, k=2, top_share=0.5)
    assert perfect == {"spearman": 1.0, "precision_at_k": 1.0, "n_genes": 1, "k": 2}
    # reversed order: Spearman -1, and none of the 2 strongest predicted down-regulators is truly one
    rev = ranking_quality(y, -y, k=2, top_share=0.5)
    assert rev["spearman"] == pytest.approx(-1.0) and rev["precision_at_k"] == 0.0
    # swap the two strongest down-regulators only: ranks (2,1,3,4) vs (1,2,3,4) -> rho = 0.8; top-2 still right
    p = y.copy()
    p[[0, 1], 0] = p[[1, 0], 0]
    out = ranking_quality(y, p, k=2, top_share=0.5)
    assert out["spearman"] == pytest.approx(0.8) and out["precision_at_k"] == 1.0


def test_ranking_quality_groups_and_small_groups():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(10, 20))
    groups = np.array(["B"] * 7 + ["M"] * 3)  # "M" has too few rows and is skipped
    out = ranking_quality(y, y, groups=groups, k=10)
    assert out["spearman"] == pytest.approx(1.0) and out["n_genes"] == 2 and out["k"] == 3
    assert math.isnan(ranking_quality(y[:3], y[:3])["spearman"])
    with pytest.raises(ValueError, match="one label per row"):
        ranking_quality(y, y, groups=groups[:5])
