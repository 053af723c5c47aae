"""2-D maps of compounds (UMAP) from fingerprints or from response profiles.

``umap-learn`` is imported on first use; it compiles with numba, so the first map of a process
takes 20-30 s and later ones well under a second. Numba's compiled code is kept in the cache folder
(``$NUMBA_CACHE_DIR``, default ``<cache>/numba``), and the ``cached_*`` functions keep the map
coordinates on disk, keyed by their input and :data:`MAP_VERSION`, so a map is computed once per
install and dataset.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..constants import SM_NAME
from ..io import atomic_path, cache_dir
from .fingerprints import FingerprintConfig, MorganFeaturizer

log = logging.getLogger(__name__)

#: UMAP neighbourhood size (clipped to n - 1 for small sets)
N_NEIGHBORS = 15
#: profiles are reduced to at most this many principal components before UMAP
PROFILE_COMPONENTS = 50
#: below this many points UMAP is not run; the points are laid out by PCA
MIN_UMAP_POINTS = 5
#: part of the on-disk map key: bump when the map computation changes
MAP_VERSION = 1
#: default seed of the cached maps
MAP_SEED = 0


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
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir("numba")))  # compiled code survives the process
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
    onehot = np.zeros((c, len(codes)), dtype=np.float64)
    onehot[codes, np.arange(len(codes))] = 1.0
    sums = onehot @ X.astype(np.float64)  # per-compound sums (np.add.at is ~50x slower)
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


# ------------------------------------------------------------------------------------- on-disk cache


def _umap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("umap-learn")
    except PackageNotFoundError:
        return "?"


def _digest(*parts) -> str:
    blob = json.dumps([MAP_VERSION, _umap_version(), *parts], separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:24]


def fingerprint_digest(smiles: Sequence[str], seed: int = MAP_SEED) -> str:
    """The on-disk key of the fingerprint map of ``smiles`` (with the map code version)."""
    return _digest("fingerprints", list(smiles), seed)


def _map_path(kind: str, digest: str):
    return cache_dir("maps") / f"{kind}-{digest}.npy"


def _read_map(path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        xy = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("map cache %s unreadable (%s); recomputing", path, exc)
        return None
    if xy.shape != (n, 2) or not np.isfinite(xy).all():
        log.warning("map cache %s has shape %s, expected (%d, 2); recomputing", path, xy.shape, n)
        return None
    return xy.astype(np.float32)


def _write_map(path, xy: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(xy, dtype=np.float32))


def _record(kind: str, digest: str) -> None:
    from ..events import EV_MAP_COMPUTED, record

    record(EV_MAP_COMPUTED, f"{kind}:{digest}")


def fingerprint_map_stored(smiles: Sequence[str], seed: int = MAP_SEED) -> bool:
    """True when the fingerprint map of ``smiles`` is on disk (:func:`cached_fingerprint_map` only loads it)."""
    return _map_path("fingerprints", fingerprint_digest(smiles, seed)).is_file()


def cached_fingerprint_map(smiles: Sequence[str], seed: int = MAP_SEED) -> np.ndarray:
    """:func:`fingerprint_map`, computed once and kept on disk."""
    smiles = list(smiles)
    digest = fingerprint_digest(smiles, seed)
    path = _map_path("fingerprints", digest)
    xy = _read_map(path, len(smiles))
    if xy is None:
        xy = fingerprint_map(smiles, seed=seed)
        _write_map(path, xy)
        _record("fingerprints", digest)
    return xy


def profile_digest(data, seed: int = MAP_SEED) -> str:
    key = getattr(data, "key", "") or hashlib.sha256(np.ascontiguousarray(data.X).tobytes()).hexdigest()
    return _digest("profiles", key, list(map(str, data.obs[SM_NAME])), seed)


def profile_map_stored(data, seed: int = MAP_SEED) -> bool:
    """True when the response-profile map of a dataset is on disk (:func:`cached_profile_map` only loads it)."""
    return _map_path("profiles", profile_digest(data, seed)).is_file()


def cached_profile_map(data, seed: int = MAP_SEED) -> pd.DataFrame:
    """Per-compound ``sm_name``, ``strength``, ``rows``, ``x``, ``y``: the UMAP of a dataset's mean
    response profiles (:func:`profile_map`), computed once per dataset content and kept on disk."""
    digest = profile_digest(data, seed)
    path = _map_path("profiles", digest)
    prof = compound_profiles(data.obs, data.X)
    xy = _read_map(path, len(prof.names))
    if xy is None:
        xy = profile_map(prof.profiles, seed=seed)
        _write_map(path, xy)
        _record("profiles", digest)
    return prof.frame().assign(x=xy[:, 0], y=xy[:, 1])
