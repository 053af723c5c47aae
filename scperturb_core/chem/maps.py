"""2-D maps of compounds (UMAP) from fingerprints or from response profiles.

``umap-learn`` is imported on first use; it compiles with numba, so the first map of a process
takes ~12 s and later ones well under a second.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..constants import SM_NAME
from .fingerprints import FingerprintConfig, MorganFeaturizer

log = logging.getLogger(__name__)

#: UMAP neighbourhood size (clipped to n - 1 for small sets)
N_NEIGHBORS = 15
#: profiles are reduced to at most this many principal components before UMAP
PROFILE_COMPONENTS = 50
#: below this many points UMAP is not run; the points are laid out by PCA
MIN_UMAP_POINTS = 5


def _pca(X: np.ndarray, n: int) -> np.ndarray:
    """Centered principal-component scores, ``(rows, min(n, rows, cols))``, signs fixed."""
    Xc = X - X.mean(axis=0, keepdims=True)
    U, S, _ = np.linalg.svd(Xc, full_matrices=False)
    k = min(n, U.shape[1])
    scores = U[:, :k] * S[:k]
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(k)])
    return scores * np.where(signs == 0, 1, signs)


def distance_matrix(X: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Pairwise distances ``(n, n)`` float64: ``"euclidean"``, or ``"jaccard"`` (1 - Tanimoto on 0/1 rows)."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", X, X)
        D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0))
    elif metric == "jaccard":
        B = (X != 0).astype(np.float64)
        inter = B @ B.T
        counts = B.sum(axis=1)
        union = counts[:, None] + counts[None, :] - inter
        D = 1.0 - np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    else:
        raise ValueError(f"unknown metric {metric!r}; choose 'euclidean' or 'jaccard'")
    np.fill_diagonal(D, 0.0)
    return D


def compound_map(features: np.ndarray, seed: int = 0, metric: str = "euclidean",
                 n_neighbors: int = N_NEIGHBORS, min_dist: float = 0.1) -> np.ndarray:
    """UMAP embedding of compounds.

    Distances are computed here (:func:`distance_matrix`) and given to UMAP as ``precomputed``, so
    every metric shares one numba compilation.

    Args:
        features: ``(n, d)`` fingerprints (use ``metric="jaccard"``: 1 - Tanimoto) or profiles.
        seed: UMAP ``random_state`` (runs single-threaded, reproducible).
    Returns:
        ``(n, 2)`` float32 coordinates. Fewer than :data:`MIN_UMAP_POINTS` points are laid out by
        their first two principal components instead.
    """
    X = np.asarray(features, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features contain NaN or infinite values")
    D = distance_matrix(X, metric)
    n = X.shape[0]
    if n < MIN_UMAP_POINTS:
        out = np.zeros((n, 2), dtype=np.float32)
        if n > 1:
            scores = _pca(X.astype(np.float64), 2)
            out[:, : scores.shape[1]] = scores
        return out
    import umap  # noqa: PLC0415 -- heavy import (numba), only when a map is asked for

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        reducer = umap.UMAP(n_neighbors=min(n_neighbors, n - 1), min_dist=min_dist, metric="precomputed",
                            random_state=seed, init="spectral" if n > 2 * n_neighbors else "random")
        emb = reducer.fit_transform(D)
    return np.asarray(emb, dtype=np.float32)


def fingerprint_map(smiles: Sequence[str], cfg: FingerprintConfig | None = None, seed: int = 0) -> np.ndarray:
    """UMAP of Morgan bit fingerprints with the Jaccard (1 - Tanimoto) metric, ``(n, 2)``."""
    cfg = FingerprintConfig(radius=(cfg or FingerprintConfig()).radius, n_bits=(cfg or FingerprintConfig()).n_bits)
    fps = MorganFeaturizer(cfg)(list(smiles)) > 0
    return compound_map(fps.astype(np.float32), seed=seed, metric="jaccard")


@dataclass(frozen=True)
class CompoundProfiles:
    """Per-compound response summaries of a screen.

    Attributes:
        names: ``(c,)`` compound names (first-appearance order).
        profiles: ``(c, g)`` float32 mean response over each compound's rows.
        strength: ``(c,)`` mean over each compound's rows of the row RMS ``sqrt(mean_g y^2)``.
        n_rows: ``(c,)`` rows per compound.
    """

    names: tuple[str, ...]
    profiles: np.ndarray
    strength: np.ndarray
    n_rows: np.ndarray

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({SM_NAME: list(self.names), "strength": self.strength, "rows": self.n_rows})


def compound_profiles(obs: pd.DataFrame, X: np.ndarray) -> CompoundProfiles:
    """Average the rows of each compound: ``obs`` (n rows with ``sm_name``), ``X`` (n, g) values."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != len(obs):
        raise ValueError(f"X must be (n_rows={len(obs)}, g), got shape {X.shape}")
    if SM_NAME not in obs.columns:
        raise ValueError(f"obs has no {SM_NAME!r} column")
    codes, names = pd.factorize(obs[SM_NAME], sort=False)
    c = len(names)
    counts = np.bincount(codes, minlength=c).astype(np.int64)
    sums = np.zeros((c, X.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, X.astype(np.float64))
    row_rms = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=1))
    strength = np.bincount(codes, weights=row_rms, minlength=c) / np.maximum(counts, 1)
    return CompoundProfiles(names=tuple(str(n) for n in names),
                            profiles=(sums / np.maximum(counts, 1)[:, None]).astype(np.float32),
                            strength=strength.astype(np.float32), n_rows=counts)


def profile_map(profiles: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP of response profiles (after PCA to :data:`PROFILE_COMPONENTS`), ``(c, 2)``."""
    P = np.asarray(profiles, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError(f"profiles must be 2-D (c, g), got shape {P.shape}")
    reduced = _pca(P, PROFILE_COMPONENTS) if P.shape[0] > 1 else P
    return compound_map(reduced.astype(np.float32), seed=seed, metric="euclidean")
