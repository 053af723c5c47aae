"""Small helpers that keep plots readable: a colour limit one outlier cannot flatten, a readable
top-N of the columns of a wide heatmap, and the statistics a box plot and a per-group density
histogram draw. Pure numpy / pandas (no plotting library)."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: quantile of |values| used as the colour limit of a diverging heatmap
CLIP_QUANTILE = 0.99


def robust_limit(values: np.ndarray | pd.DataFrame, quantile: float = CLIP_QUANTILE) -> tuple[float, bool]:
    """Symmetric colour limit ``L`` for a diverging scale: the ``quantile`` of ``|values|`` (NaN ignored).

    Returns:
        ``(L, clipped)``: ``clipped`` is True when some ``|value|`` exceeds ``L`` (say so on the
        colour bar). ``L`` is at least 1e-6 (an all-zero table still draws).
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    a = np.abs(np.asarray(values, dtype=np.float64))
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 1e-6, False
    lim = max(float(np.quantile(a, quantile)), 1e-6)
    return lim, bool((a > lim).any())


def top_columns(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` columns of ``table`` with the largest mean ``|value|`` (strongest first; ties keep the
    table's order). All columns when ``n`` >= their number."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if table.shape[1] <= n:
        return table
    strength = table.abs().mean(axis=0).to_numpy()
    order = np.argsort(-np.nan_to_num(strength, nan=-1.0), kind="stable")[:n]
    return table.iloc[:, order]


def tukey_boxes(values: pd.Series, groups: pd.Series, order: list[str]) -> pd.DataFrame:
    """One row per group of ``order`` (all present in ``groups``): ``group, q1, median, q3, low, high``,
    where ``low``/``high`` are the whisker ends, the most extreme values within 1.5 IQR of the box."""
    rows = []
    for g in order:
        v = values[groups == g].to_numpy(dtype=float)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        fence = 1.5 * (q3 - q1)
        inside = v[(v >= q1 - fence) & (v <= q3 + fence)]
        rows.append({"group": g, "q1": q1, "median": med, "q3": q3, "low": inside.min(), "high": inside.max()})
    return pd.DataFrame(rows)


def group_densities(values: pd.Series, groups: pd.Series, order: list[str], bins: int = 60) -> pd.DataFrame:
    """Histogram densities per group on bins shared by all groups (``numpy.histogram(density=True)``:
    each group integrates to 1). Rows ``group, start, end, density``, groups in ``order``."""
    edges = np.histogram_bin_edges(values.to_numpy(dtype=float), bins=bins)
    frames = []
    for g in order:
        dens, _ = np.histogram(values[groups == g].to_numpy(dtype=float), bins=edges, density=True)
        frames.append(pd.DataFrame({"group": g, "start": edges[:-1], "end": edges[1:], "density": dens}))
    return pd.concat(frames, ignore_index=True)
