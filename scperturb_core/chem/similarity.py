"""Tanimoto nearest neighbours on Morgan bit fingerprints (applicability domain, imputation)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs

from .fingerprints import FingerprintConfig, MorganFeaturizer
from .parse import as_mols

Items = Sequence[str | Chem.Mol]


def _bit_vectors(items, cfg: FingerprintConfig) -> list[DataStructs.ExplicitBitVect]:
    if isinstance(items, (str, Chem.Mol)):
        items = [items]
    items = list(items)
    if items and all(isinstance(x, DataStructs.ExplicitBitVect) for x in items):
        return items
    return MorganFeaturizer(cfg).bit_vectors(items)


def tanimoto_matrix(query: Items, reference: Items | Sequence[DataStructs.ExplicitBitVect],
                    cfg: FingerprintConfig | None = None) -> np.ndarray:
    """Tanimoto similarity of Morgan bit fingerprints, shape ``(n_query, n_reference)`` float64.

    ``query`` and ``reference`` are SMILES, molecules or (already computed) ``ExplicitBitVect``;
    ``cfg.counts`` is ignored (similarity uses presence bits).
    """
    cfg = cfg or FingerprintConfig()
    q = _bit_vectors(query, cfg)
    ref = _bit_vectors(reference, cfg)
    out = np.zeros((len(q), len(ref)), dtype=np.float64)
    if ref:
        for i, fp in enumerate(q):
            out[i] = DataStructs.BulkTanimotoSimilarity(fp, ref)
    return out


def _top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` per row: descending similarity, ties by lower index (``-inf`` entries sort last)."""
    k = min(k, sims.shape[1])
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(sims, idx, axis=1)
    return top, idx


def tanimoto_nearest(query_smiles_or_mols: Items,
                     reference_fps_or_smiles: Items | Sequence[DataStructs.ExplicitBitVect], k: int = 5, cfg: FingerprintConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar references of each query.

    Returns:
        ``(sims, idx)``: float64 Tanimoto similarities and int64 reference indices, both
        ``(n_query, min(k, n_reference))``, sorted by decreasing similarity (ties: lower index first).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    sims = tanimoto_matrix(query_smiles_or_mols, reference_fps_or_smiles, cfg)
    return _top_k(sims, k)


class SimilarityIndex:
    """Reference compounds (e.g. the training compounds) searchable by Tanimoto similarity.

    The fitted state is only ``reference_smiles``, ``names`` and ``cfg`` (:meth:`to_dict`), so the
    index is rebuilt exactly from a checkpoint.
    """

    def __init__(self, reference_smiles: Sequence[str], names: Sequence[str] | None = None,
                 cfg: FingerprintConfig | None = None):
        if isinstance(reference_smiles, str):
            raise ValueError("reference_smiles must be a sequence of SMILES, got one str")
        self.reference_smiles = list(reference_smiles)
        self.names = list(names) if names is not None else [str(i) for i in range(len(self.reference_smiles))]
        if len(self.names) != len(self.reference_smiles):
            raise ValueError(f"{len(self.names)} names for {len(self.reference_smiles)} reference SMILES")
        self.cfg = cfg or FingerprintConfig()
        mols = as_mols(self.reference_smiles)
        self._canonical = [Chem.MolToSmiles(m) for m in mols]
        self._fps = MorganFeaturizer(self.cfg).bit_vectors(mols)

    def __len__(self) -> int:
        return len(self._fps)

    def __repr__(self) -> str:
        return f"SimilarityIndex({len(self)} compounds, radius={self.cfg.radius}, n_bits={self.cfg.n_bits})"

    def similarities(self, smiles: Items, exclude_self: bool = False) -> np.ndarray:
        """Tanimoto similarity to every reference, ``(n_query, n_reference)``.

        With ``exclude_self``, references with the same canonical SMILES as the query get ``-inf``
        (for honest leave-one-out use on the training compounds themselves).
        """
        mols = as_mols(smiles)
        sims = tanimoto_matrix(mols, self._fps, self.cfg)
        if exclude_self:
            for i, mol in enumerate(mols):
                can = Chem.MolToSmiles(mol)
                for j, ref in enumerate(self._canonical):
                    if ref == can:
                        sims[i, j] = -np.inf
        return sims

    def query_arrays(self, smiles: Items, k: int = 5, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(sims, idx)`` of the ``k`` nearest references, each ``(n_query, min(k, n_reference))``,
        most similar first; an excluded reference (``exclude_self``) sorts last with similarity ``-inf``."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        return _top_k(self.similarities(smiles, exclude_self), k)

    def query(self, smiles: Items, k: int = 5, exclude_self: bool = False) -> list[list[tuple[str, float]]]:
        """The ``k`` nearest references of each query as ``(name, similarity)``, most similar first."""
        sims, idx = self.query_arrays(smiles, k, exclude_self)
        return [[(self.names[j], float(s)) for s, j in zip(srow, irow) if np.isfinite(s)]
                for srow, irow in zip(sims, idx)]

    def max_similarity(self, smiles: Items, exclude_self: bool = False) -> np.ndarray:
        """Similarity to the nearest reference, ``(n_query,)`` (the applicability domain score)."""
        sims = self.similarities(smiles, exclude_self)
        if sims.shape[1] == 0:
            return np.zeros(sims.shape[0])
        best = sims.max(axis=1)
        return np.where(np.isfinite(best), best, 0.0)

    def impute(self, values: np.ndarray, smiles: Items, k: int = 5, exclude_self: bool = False) -> np.ndarray:
        """Similarity-weighted average of reference ``values`` over the ``k`` nearest references.

        Args:
            values: ``(n_reference, d)`` per-reference statistics (rows aligned with the references).
        Returns:
            ``(n_query, d)`` float64; weights are the Tanimoto similarities (uniform when all are 0).
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != len(self):
            raise ValueError(f"values must be (n_reference={len(self)}, d), got shape {values.shape}")
        sims, idx = self.query_arrays(smiles, k, exclude_self)
        w = np.where(np.isfinite(sims), sims, 0.0)
        valid = np.isfinite(sims)
        uniform = valid / np.maximum(valid.sum(axis=1, keepdims=True), 1)
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total > 0, w / np.where(total > 0, total, 1.0), uniform)
        return np.einsum("nk,nkd->nd", w, values[idx])

    def to_dict(self) -> dict:
        """JSON-serialisable state: reference SMILES, names and fingerprint settings."""
        return {"reference_smiles": list(self.reference_smiles), "names": list(self.names),
                "cfg": self.cfg.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> SimilarityIndex:
        missing = sorted({"reference_smiles", "names", "cfg"} - set(d))
        if missing:
            raise ValueError(f"similarity index state lacks {missing}")
        return cls(d["reference_smiles"], d["names"], FingerprintConfig.from_dict(d["cfg"]))
