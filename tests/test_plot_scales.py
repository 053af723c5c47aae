"""Colour limits and top-N columns for readable plots."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scperturb_core.plot_scales import robust_limit, top_columns


def test_robust_limit_ignores_one_outlier():
    values = np.concatenate([np.linspace(-2, 2, 999), [60.0]])
    lim, clipped = robust_limit(values, 0.99)
    assert lim == pytest.approx(np.quantile(np.abs(values), 0.99)) and lim < 2.0 and clipped
    assert robust_limit(np.array([[1.0, -3.0], [np.nan, 2.0]]), 1.0) == (3.0, False)
    assert robust_limit(np.zeros(4)) == (1e-6, False)
    with pytest.raises(ValueError, match="quantile must be in"):
        robust_limit(values, 0)


def test_top_columns_by_mean_magnitude():
    t = pd.DataFrame({"a": [0.1, -0.1], "b": [-5.0, 5.0], "c": [1.0, 0.0], "d": [-1.0, 0.0]})
    assert top_columns(t, 2).columns.tolist() == ["b", "c"]  # c and d tie: table order
    assert top_columns(t, 10).columns.tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        top_columns(t, 0)
