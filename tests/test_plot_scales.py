"""Colour limits and top-N columns for readable plots."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scperturb_core.plot_scales import group_densities, robust_limit, top_columns, tukey_boxes


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


def test_tukey_boxes_whiskers_stop_inside_the_fences():
    values = pd.Series([0.0, 1.0, 2.0, 3.0, 4.0, 100.0, -5.0, 5.0])
    groups = pd.Series(["a"] * 6 + ["b"] * 2)
    boxes = tukey_boxes(values, groups, ["b", "a"]).set_index("group")
    assert list(boxes.index) == ["b", "a"]
    q1, med, q3 = np.percentile([0, 1, 2, 3, 4, 100], [25, 50, 75])
    assert boxes.loc["a", ["q1", "median", "q3"]].tolist() == pytest.approx([q1, med, q3])
    assert boxes.loc["a", "high"] == 4.0 and boxes.loc["a", "low"] == 0.0  # 100 lies beyond the fence
    assert boxes.loc["b", ["low", "high"]].tolist() == [-5.0, 5.0]


def test_group_densities_share_bins_and_integrate_to_one():
    rng = np.random.default_rng(0)
    values = pd.Series(np.concatenate([rng.normal(size=50), rng.normal(3, 1, size=7)]))
    groups = pd.Series(["x"] * 50 + ["y"] * 7)
    dens = group_densities(values, groups, ["y", "x"], bins=20)
    assert list(dict.fromkeys(dens["group"])) == ["y", "x"]
    assert dens.loc[dens["group"] == "x", "start"].tolist() == dens.loc[dens["group"] == "y", "start"].tolist()
    for _, g in dens.groupby("group"):
        assert ((g["end"] - g["start"]) * g["density"]).sum() == pytest.approx(1.0)
