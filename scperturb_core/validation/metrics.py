"""Evaluation metrics, each defined once.

* MRRMSE (the Kaggle metric), lower is better::

      MRRMSE = 1/R * sum_i sqrt( 1/n * sum_j (y_ij - yhat_ij)^2 )

  over ``R`` rows (cell type x compound pairs) and ``n`` genes.
* mean row-wise Pearson correlation (secondary), higher is better::

      r = 1/R * sum_i corr(y_i, yhat_i)

  A row where either vector is constant has no defined correlation and counts as 0.
* ranking quality (what a biologist acts on): within each group of rows (a target cell type), for
  each *responsive* gene (the ``top_share`` of genes with the largest spread of true values across
  the group's compounds), the Spearman correlation over compounds between predicted and true values,
  and precision@k of the ``k`` strongest predicted down-regulators among the ``k`` strongest true ones;
  both averaged over responsive genes, then over groups weighted by their number of genes.
"""
from __future__ import annotations

import numpy as np


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must both be (rows, genes); got {y_true.shape} and {y_pred.shape}")
    if y_true.shape[0] == 0 or y_true.shape[1] == 0:
        raise ValueError(f"cannot score an empty matrix of shape {y_true.shape}")
    return y_true, y_pred


def rowwise_rmse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Root mean squared error of each row, ``(n,)`` float64, for ``(n, g)`` inputs."""
    y_true, y_pred = _check(y_true, y_pred)
    return np.sqrt(np.mean((y_true - y_pred) ** 2, axis=1))


def mrrmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean row-wise root mean squared error of ``(n, g)`` arrays (lower is better)."""
    return float(np.mean(rowwise_rmse(y_true, y_pred)))


def rowwise_pearson_values(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row, ``(n,)`` float64; 0 where a row is constant."""
    y_true, y_pred = _check(y_true, y_pred)
    a = y_true - y_true.mean(axis=1, keepdims=True)
    b = y_pred - y_pred.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    num = np.sum(a * b, axis=1)
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


def rowwise_pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean row-wise Pearson correlation of ``(n, g)`` arrays (higher is better)."""
    return float(np.mean(rowwise_pearson_values(y_true, y_pred)))


def _column_ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks of each column of ``(n, g)`` ``a`` (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=0, method="average")


def ranking_quality(y_true: np.ndarray, y_pred: np.ndarray, groups=None, k: int = 10,
                    top_share: float = 0.1) -> dict[str, float]:
    """Per-gene ranking of compounds, predicted vs true (higher is better).

    Args:
        y_true, y_pred: ``(n, g)`` rows = (cell type, compound) pairs.
        groups: ``(n,)`` group label per row (the target cell type); ``None`` = one group.
        k: size of the top list (capped at half the group's rows); top_share: share of genes scored.

    Returns:
        ``{"spearman": ..., "precision_at_k": ..., "n_genes": ..., "k": ...}``; groups with fewer than 4
        rows are skipped (NaN when none is left).
    """
    y_true, y_pred = _check(y_true, y_pred)
    if not 0.0 < top_share <= 1.0:
        raise ValueError(f"top_share must be in (0, 1], got {top_share!r}")
    groups = np.zeros(len(y_true), dtype=int) if groups is None else np.asarray(groups)
    if groups.shape != (len(y_true),):
        raise ValueError(f"groups must have one label per row ({len(y_true)}), got shape {groups.shape}")
    rho_sum = prec_sum = 0.0
    n_scored = 0
    k_used = k
    for g in sorted(set(groups.tolist()), key=str):
        rows = np.flatnonzero(groups == g)
        if len(rows) < 4:
            continue
        t, p = y_true[rows], y_pred[rows]
        n_top = max(1, int(round(top_share * t.shape[1])))
        genes = np.argsort(-t.std(axis=0), kind="stable")[:n_top]
        t, p = t[:, genes], p[:, genes]
        rho = rowwise_pearson_values(_column_ranks(t).T, _column_ranks(p).T)  # one value per gene
        kk = max(1, min(k, len(rows) // 2))
        k_used = min(k_used, kk)
        top_t = np.argsort(t, axis=0, kind="stable")[:kk]
        top_p = np.argsort(p, axis=0, kind="stable")[:kk]
        hits = np.array([np.intersect1d(top_t[:, j], top_p[:, j]).size for j in range(t.shape[1])])
        rho_sum += float(rho.sum())
        prec_sum += float((hits / kk).sum())
        n_scored += t.shape[1]
    if n_scored == 0:
        return {"spearman": float("nan"), "precision_at_k": float("nan"), "n_genes": 0, "k": k}
    return {"spearman": rho_sum / n_scored, "precision_at_k": prec_sum / n_scored, "n_genes": n_scored,
            "k": k_used}
