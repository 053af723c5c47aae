"""Evaluation metrics, each defined once.

* MRRMSE (the Kaggle metric), lower is better::

      MRRMSE = 1/R * sum_i sqrt( 1/n * sum_j (y_ij - yhat_ij)^2 )

  over ``R`` rows (cell type x compound pairs) and ``n`` genes.
* mean row-wise Pearson correlation (secondary), higher is better::

      r = 1/R * sum_i corr(y_i, yhat_i)

  A row where either vector is constant has no defined correlation and counts as 0.
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
