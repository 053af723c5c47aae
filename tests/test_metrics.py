"""Metrics: exact values on hand-made examples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scperturb_core.metrics import mrrmse, rowwise_pearson, rowwise_pearson_values, rowwise_rmse


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
