"""Uncertainty shared by measured and predicted values, so both can be compared on one scale.

:func:`measurement_noise` estimates, per gene, how far a measured value may sit from the structured
signal: the robust spread (MAD x 1.4826) of each gene's residuals after a rank-``k`` SVD fit of the
centred training matrix, corrected for the ``k`` fitted components. The residual also holds
compound-specific effects the low-rank fit misses, so the estimate errs on the wide side (a measured
value is never treated as more certain than it is).
"""
from __future__ import annotations

import numpy as np

#: MAD -> standard deviation for a normal distribution
MAD_TO_SD = 1.4826
#: matrices with both sides above this use a randomized SVD for the rank-k fit
RANDOMIZED_ABOVE = 500


def measurement_noise(X: np.ndarray, rank: int | None = None) -> np.ndarray:
    """Per-gene noise level ``(g,)`` float32 of the ``(n, g)`` measured matrix ``X`` (same units).

    ``rank`` defaults to ``min(10, n // 4)``; with fewer than 3 rows the per-gene MAD around the
    median is used (no low-rank fit).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"measurement_noise needs a non-empty (rows, genes) matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("measurement_noise: the matrix has NaN or inf values")
    n = X.shape[0]
    k = min(10, n // 4) if rank is None else int(rank)
    if k < 0 or k >= n:
        raise ValueError(f"rank must be in 0..{n - 1}, got {rank!r}")
    if n >= 3 and k > 0:
        centred = X - X.mean(axis=0, keepdims=True)
        if min(X.shape) > RANDOMIZED_ABOVE:  # a full SVD of the screen takes ~10x longer for the same top k
            from sklearn.utils.extmath import randomized_svd

            u, s, vt = randomized_svd(centred, k, n_iter=7, random_state=0)
        else:
            u, s, vt = np.linalg.svd(centred, full_matrices=False)
        resid = centred  # in place: the screen's matrix is ~90 MB in float64
        resid -= (u[:, :k] * s[:k]) @ vt[:k]
    else:
        resid = X - np.median(X, axis=0, keepdims=True)
    # per-gene medians on a gene-major copy (contiguous rows partition faster; the values are the same)
    dev = np.ascontiguousarray(resid.T)
    dev -= np.median(dev, axis=1, keepdims=True)
    np.abs(dev, out=dev)
    mad = np.median(dev, axis=1, overwrite_input=True)
    scale = np.sqrt(n / max(n - k, 1))
    return (MAD_TO_SD * mad * scale).astype(np.float32)
