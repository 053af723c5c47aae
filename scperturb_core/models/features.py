"""Feature pipeline of the models, fitted on the training rows only and saved with the weights.

For a pair (cell type ``t``, compound ``c``) the models see:

* **cell features** -- one-hot of ``t`` and the mean / median / std of ``t``'s training rows,
  compressed onto the gene basis (below);
* **compound statistics** -- the mean / median / std of ``c``'s rows in the *reference panel* (the
  well-covered cell types, see :func:`reference_panel`), compressed onto the gene basis. A training row
  never sees its own values: its statistics leave it out (leave-one-out), so training features look
  like the features of a held-out pair. A compound without rows (a new SMILES) gets statistics
  imputed from its Tanimoto-nearest training compounds (similarity-weighted);
* **chemistry** -- Morgan fingerprint bits and fragment counts (the vocabulary is fitted on the
  training compounds; the last column counts unseen fragments), for the compound tower and token;
* **readout** -- a per-cell-type ridge map from the compound statistics to the target components,
  fitted in closed form; training rows get their leave-one-out (cross-fitted) prediction, so the
  networks, which learn corrections on top of it, see honest residuals.

Targets are low rank: ``y ~ mu + coef @ basis`` with the top ``k`` right singular vectors (``basis``,
``(k, g)``, orthonormal rows) of the centered training matrix. Because the basis is orthonormal the
squared error of a row in gene space is ``|coef_hat - coef|^2 + residual`` where ``residual`` is the part
of the row outside the basis, so the training loss is exact in gene space at the cost of ``k`` numbers.
All sizes come from the data and the featurizers (``len``), never from literals.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.utils.extmath import randomized_svd

from ..chem.fingerprints import FingerprintConfig, MorganFeaturizer
from ..chem.fragments import FragmentVocabulary
from ..chem.parse import parse_smiles
from ..chem.similarity import SimilarityIndex
from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..io import dataclass_from_dict, sha256_bytes

log = logging.getLogger(__name__)

#: the per-group statistics, in feature order
STATS: tuple[str, ...] = ("mean", "median", "std")
#: version of the saved feature state
FEATURE_FORMAT = 1


class FeatureError(ValueError):
    """A query the fitted features cannot serve (unknown cell type, invalid SMILES); one line."""


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of the feature pipeline (saved with the model).

    Attributes:
        n_components: size ``k`` of the gene basis (clipped to the rows and genes available).
        radius, n_bits, counts: Morgan fingerprint settings.
        fragment_method: fragmentation of the vocabulary; fragment_min_count: keep fragments seen in
            at least this many training compounds.
        n_neighbors: Tanimoto neighbours used to impute a new compound's statistics.
        readout_alphas: candidate ridge penalties of the readout per training row of a cell type,
            relative to the mean squared norm of its inputs (the penalty of a cell type with ``n``
            rows is ``alpha * n * mean_sq_norm``, i.e. a mean loss per row plus ``alpha |W|^2``); the
            one with the lowest pooled leave-one-out error over all training rows is used.
        svd_iter: power iterations of the randomized SVD; seed: its random state.
        readout: fit the per-cell-type readout (False: ``base`` is 0, i.e. the gene means, and the
            networks learn everything themselves -- an ablation).
    """

    n_components: int = 64
    radius: int = FingerprintConfig().radius
    n_bits: int = FingerprintConfig().n_bits
    counts: bool = FingerprintConfig().counts
    fragment_method: Literal["brics", "recap", "murcko"] = "brics"
    fragment_min_count: int = 2
    n_neighbors: int = 5
    readout_alphas: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    svd_iter: int = 4
    seed: int = 0
    readout: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.n_components, int) or self.n_components < 1:
            raise ValueError(f"n_components must be an int >= 1, got {self.n_components!r}")
        if not isinstance(self.n_neighbors, int) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an int >= 1, got {self.n_neighbors!r}")
        if not self.readout_alphas or any(not (a > 0) for a in self.readout_alphas):
            raise ValueError(f"readout_alphas must be positive numbers, got {self.readout_alphas!r}")
        object.__setattr__(self, "readout_alphas", tuple(float(a) for a in self.readout_alphas))

    @property
    def fingerprint(self) -> FingerprintConfig:
        return FingerprintConfig(radius=self.radius, n_bits=self.n_bits, counts=self.counts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["readout_alphas"] = list(self.readout_alphas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        d = dict(d)
        if "readout_alphas" in d:
            d["readout_alphas"] = tuple(d["readout_alphas"])
        return dataclass_from_dict(cls, d)


@dataclass
class Features:
    """Model inputs for ``n`` pairs (float32 arrays).

    Attributes:
        cell: ``(n, d_cell)`` one-hot + standardized cell-type statistics.
        stats: ``(n, 3k)`` standardized compound statistics (mean, median, std on the basis).
        chem: ``(n, d_chem)`` fingerprint bits then fragment counts.
        base: ``(n, k)`` the readout's prediction of the target components (raw units).
    """

    cell: np.ndarray
    stats: np.ndarray
    chem: np.ndarray
    base: np.ndarray

    def __len__(self) -> int:
        return self.cell.shape[0]

    def take(self, idx: np.ndarray) -> Features:
        return Features(self.cell[idx], self.stats[idx], self.chem[idx], self.base[idx])

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"cell": self.cell, "stats": self.stats, "chem": self.chem, "base": self.base}


def reference_panel(cell_types: Sequence[str]) -> list[str]:
    """The well-covered cell types: at least half the rows of the best-covered one (sorted).

    On the real screen: NK and the three T cell types; B and Myeloid cells (17 rows each) are left
    out, so a compound's statistics describe the same cell types whether or not it was measured in
    B or Myeloid cells (as for the test compounds).
    """
    counts = pd.Series(list(cell_types)).value_counts()
    return sorted(counts.index[counts >= counts.max() / 2])


def _group_stats(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, median and (population) std over the rows of ``Z`` ``(m, g)``, each ``(g,)`` float64."""
    Z = np.asarray(Z, dtype=np.float64)
    return Z.mean(axis=0), np.median(Z, axis=0), Z.std(axis=0)


class ChemFeaturizer:
    """Fingerprint bits then fragment counts of compounds: ``(n, len(self))`` float32 (a featurizer)."""

    def __init__(self, fingerprint: MorganFeaturizer, vocabulary: FragmentVocabulary):
        self.fingerprint = fingerprint
        self.vocabulary = vocabulary

    def __len__(self) -> int:
        return len(self.fingerprint) + len(self.vocabulary)

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        smiles = list(smiles)
        if not smiles:
            return np.zeros((0, len(self)), dtype=np.float32)
        fp = self.fingerprint(smiles)
        frag = self.vocabulary.transform(smiles).toarray().astype(np.float32)
        return np.hstack([fp, np.log1p(frag)]).astype(np.float32)


class FeaturePipeline:
    """Fit on training rows (``fit``), then featurize any (cell type, compound) pairs (``transform``).

    The fitted state (arrays + JSON) is written by :meth:`state` and rebuilt by :meth:`from_state`.
    """

    def __init__(self, cfg: FeatureConfig | None = None):
        self.cfg = cfg or FeatureConfig()
        self.fitted = False

    # ------------------------------------------------------------------------------------- sizes

    @property
    def k(self) -> int:
        return int(self.basis.shape[0])

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    def dims(self) -> dict[str, int]:
        """Widths of each feature block (from the featurizers, never literals)."""
        return {"cell": len(self.cell_types) + len(STATS) * self.k, "stats": len(STATS) * self.k,
                "chem": len(self.chem_featurizer), "base": self.k}

    # ------------------------------------------------------------------------------------- fitting

    def fit(self, obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str],
            on_step: Callable[[float, str], None] | None = None) -> FeaturePipeline:
        """Fit every statistic on the rows given (the training fold), ``X`` ``(n, g)``.

        ``on_step(fraction, message)`` (optional) is called before each step (fraction of the fit in [0, 1)).
        """
        step = on_step or (lambda frac, msg: None)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[0] != len(obs) or X.shape[1] != len(genes):
            raise ValueError(f"X must be (rows={len(obs)}, genes={len(genes)}), got shape {X.shape}")
        if len(obs) < 2:
            raise ValueError(f"need at least 2 training rows, got {len(obs)}")
        cfg = self.cfg
        self.genes = tuple(genes)
        ct = obs[CELL_TYPE].astype(str).to_numpy()
        sm = obs[SM_NAME].astype(str).to_numpy()
        self.cell_types = sorted(set(ct))
        comp = obs[[SM_NAME, SMILES]].drop_duplicates(SM_NAME).reset_index(drop=True)
        self.compound_names = comp[SM_NAME].astype(str).tolist()
        self.compound_smiles = comp[SMILES].astype(str).tolist()
        self.panel = reference_panel(ct)

        # gene basis
        step(0.0, "gene basis")
        self.mu = X.mean(axis=0, dtype=np.float64)
        k = max(1, min(cfg.n_components, X.shape[0] - 1, X.shape[1]))
        _, _, vt = randomized_svd(X - self.mu.astype(np.float32), k, n_iter=cfg.svd_iter, random_state=cfg.seed)
        self.basis = vt.astype(np.float32)

        # cell-type statistics
        step(0.35, "cell-type and compound statistics")
        ct_raw = self._stats_matrix(X, [np.flatnonzero(ct == t) for t in self.cell_types])
        # compound statistics (per compound, on the panel; leave-one-out per training row)
        self._index = SimilarityIndex(self.compound_smiles, self.compound_names, cfg.fingerprint)
        self.comp_raw = self._stats_matrix(X, self._compound_rows(ct, sm))
        row_raw = self._loo_stats(X, ct, sm)
        # standardization (one scale per block, column means over the training rows)
        self.stats_center = row_raw.mean(axis=0)
        self.stats_scale = self._block_scales(row_raw - self.stats_center)
        self.cell_center = ct_raw.mean(axis=0)
        self.cell_scale = self._block_scales(ct_raw - self.cell_center)
        self.cell_raw = ct_raw

        # chemistry
        step(0.6, "fingerprints and fragments")
        self.fingerprint = MorganFeaturizer(cfg.fingerprint)
        vocab = FragmentVocabulary().fit(self.compound_smiles, method=cfg.fragment_method,
                                         min_count=min(cfg.fragment_min_count, max(len(self.compound_smiles), 1)))
        self.chem_featurizer = ChemFeaturizer(self.fingerprint, vocab)
        self._canonical = {parse_smiles(s).canonical: i for i, s in enumerate(self.compound_smiles)}
        self._comp_chem = self.chem_featurizer(self.compound_smiles)

        # readout
        step(0.8, "readout")
        targets, residual = self.targets(X)
        if cfg.readout:
            self.readout_alpha, loo_base = self._fit_readout(row_raw, targets, residual, ct)
        else:
            d = row_raw.shape[1]
            self.readout_alpha, loo_base = 0.0, np.zeros((len(ct), self.k))
            self.readout_center = np.zeros((len(self.cell_types), d))
            self.readout_weight = np.zeros((len(self.cell_types), d, self.k), dtype=np.float32)
            self.readout_bias = np.zeros((len(self.cell_types), self.k))
        self.fitted = True
        self._train = (ct, sm, row_raw, loo_base)
        log.info("features: %d rows, %d genes, k=%d, panel=%s, readout alpha=%g", X.shape[0], X.shape[1], k,
                 self.panel, self.readout_alpha)
        return self

    def _compound_rows(self, ct: np.ndarray, sm: np.ndarray) -> list[np.ndarray]:
        """Row indices whose statistics describe each training compound (panel rows, else all rows)."""
        in_panel = np.isin(ct, self.panel)
        out = []
        for name in self.compound_names:
            rows = np.flatnonzero((sm == name) & in_panel)
            out.append(rows if rows.size else np.flatnonzero(sm == name))
        return out

    def _loo_stats(self, X: np.ndarray, ct: np.ndarray, sm: np.ndarray) -> np.ndarray:
        """``(n, 3k)`` statistics of each row's compound without the row itself."""
        in_panel = np.isin(ct, self.panel)
        groups, missing = [], []
        for i in range(len(ct)):
            same = sm == sm[i]
            same[i] = False
            rows = np.flatnonzero(same & in_panel)
            if not rows.size:
                rows = np.flatnonzero(same)
            groups.append(rows)
            if not rows.size:
                missing.append(i)
        out = self._stats_matrix(X, groups)
        if missing:  # a compound measured once: impute from its neighbours, as for a new SMILES
            names = [sm[i] for i in missing]
            idx = [self.compound_names.index(n) for n in names]
            smiles = [self.compound_smiles[j] for j in idx]
            out[missing] = self._index.impute(self.comp_raw, smiles, k=self.cfg.n_neighbors, exclude_self=True)
        return out

    def _stats_matrix(self, X: np.ndarray, groups: Sequence[np.ndarray], chunk: int = 128) -> np.ndarray:
        """``(len(groups), 3k)`` projected statistics of the row groups (an empty group gives zeros).

        The statistics of ``chunk`` groups are stacked and projected in one matrix product.
        """
        b = self.basis.astype(np.float64).T
        mu = np.asarray(self.mu, dtype=np.float64)
        k = self.k
        out = np.zeros((len(groups), len(STATS) * k), dtype=np.float64)
        for start in range(0, len(groups), chunk):
            part = groups[start:start + chunk]
            mean = np.zeros((len(part), X.shape[1]))
            med, sd = np.zeros_like(mean), np.zeros_like(mean)
            filled = np.zeros(len(part), dtype=bool)
            for j, rows in enumerate(part):
                if len(rows):
                    mean[j], med[j], sd[j] = _group_stats(X[rows])
                    filled[j] = True
            block = np.hstack([(mean - mu) @ b, (med - mu) @ b, sd @ b])
            out[start:start + len(part)] = np.where(filled[:, None], block, 0.0)
        return out

    def _block_scales(self, centered: np.ndarray) -> np.ndarray:
        """One RMS scale per block of ``k`` columns, repeated per column (``(width,)``)."""
        k = self.k
        width = centered.shape[1]
        scales = np.ones(width)
        for start in range(0, width, k):
            block = centered[:, start:start + k]
            s = float(np.sqrt(np.mean(block**2))) if block.size else 0.0
            scales[start:start + k] = s if s > 1e-12 else 1.0
        return scales

    def _fit_readout(self, raw: np.ndarray, targets: np.ndarray, residual: np.ndarray,
                     ct: np.ndarray) -> tuple[float, np.ndarray]:
        """Per-cell-type kernel ridge from statistics to target components.

        Returns the chosen relative penalty and the leave-one-out predictions of the training rows
        ``(n, k)``. Stores ``readout_center`` ``(T, 3k)``, ``readout_weight`` ``(T, 3k, k)`` and
        ``readout_bias`` ``(T, k)``.
        """
        n_ct, d, k = len(self.cell_types), raw.shape[1], self.k
        scale = float(np.mean(np.sum(raw**2, axis=1))) or 1.0
        alphas = self.cfg.readout_alphas
        loo = np.zeros((len(alphas), len(ct), k))
        weights = np.zeros((len(alphas), n_ct, d, k))
        centers = np.zeros((n_ct, d))
        biases = np.zeros((n_ct, k))
        for j, t in enumerate(self.cell_types):
            rows = np.flatnonzero(ct == t)
            A, T = raw[rows], targets[rows].astype(np.float64)
            a_mean, t_mean = A.mean(axis=0), T.mean(axis=0)
            centers[j], biases[j] = a_mean, t_mean
            if len(rows) == 1:
                loo[:, rows] = 0.0  # nothing to learn from: the LOO prediction is the global mean (0)
                continue
            Ac, Tc = A - a_mean, T - t_mean
            G = Ac @ Ac.T
            n = len(rows)
            lam, Q = np.linalg.eigh((G + G.T) / 2)  # one decomposition serves every penalty
            lam = np.maximum(lam, 0.0)
            QT = Q.T @ Tc
            for a_i, alpha in enumerate(alphas):
                reg = alpha * n * scale
                coef = Q @ (QT / (lam + reg)[:, None])
                fitted = Q @ (QT * (lam / (lam + reg))[:, None]) + t_mean
                hat = (Q**2) @ (lam / (lam + reg)) + 1.0 / n
                loo[a_i, rows] = T - (T - fitted) / np.maximum(1.0 - hat, 1e-6)[:, None]
                weights[a_i, j] = Ac.T @ coef
        errors = [np.mean(np.sqrt((np.sum((loo[a_i] - targets) ** 2, axis=1) + residual) / self.n_genes))
                  for a_i in range(len(alphas))]
        best = int(np.argmin(errors))
        self.readout_center = centers
        self.readout_weight = weights[best].astype(np.float32)
        self.readout_bias = biases
        return alphas[best], loo[best]

    # ------------------------------------------------------------------------------------- transform

    def targets(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target components ``(n, k)`` float32 and the squared norm outside the basis ``(n,)`` float64."""
        Xc = np.asarray(X, dtype=np.float32) - self.mu.astype(np.float32)
        coef = Xc @ self.basis.T
        total = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
        residual = np.maximum(total - np.sum(coef.astype(np.float64) ** 2, axis=1), 0.0)
        return coef.astype(np.float32), residual

    def to_genes(self, coef: np.ndarray) -> np.ndarray:
        """Gene values ``(n, g)`` float32 from components ``(n, k)``."""
        return (np.asarray(coef, dtype=np.float32) @ self.basis + self.mu.astype(np.float32)).astype(np.float32)

    def train_features(self) -> Features:
        """Features of the training rows (leave-one-out statistics and readout), in row order."""
        self._require()
        ct, sm, raw, base = self._train
        ct_idx = np.array([self.cell_types.index(t) for t in ct])
        comp_idx = np.array([self.compound_names.index(s) for s in sm])
        return self._assemble(ct_idx, raw, self._comp_chem[comp_idx], base)

    def transform(self, cell_types: Sequence[str], smiles: Sequence[str],
                  names: Sequence[str | None] | None = None) -> Features:
        """Features of arbitrary pairs; compounds are matched by name, then by canonical SMILES.

        A compound that is not a training compound gets statistics imputed from its
        ``n_neighbors`` Tanimoto-nearest training compounds. Raises :class:`FeatureError` naming an
        unknown cell type or an invalid SMILES.
        """
        self._require()
        cell_types, smiles = list(cell_types), list(smiles)
        names = list(names) if names is not None else [None] * len(smiles)
        if not (len(cell_types) == len(smiles) == len(names)):
            raise FeatureError(f"got {len(cell_types)} cell types, {len(smiles)} SMILES and {len(names)} names")
        ct_index = {t: i for i, t in enumerate(self.cell_types)}
        unknown = [t for t in cell_types if t not in ct_index]
        if unknown:
            raise FeatureError(f"unknown cell type {unknown[0]!r}; the model knows {self.cell_types}")
        comp_idx, new_smiles = self.resolve(smiles, names)
        n = len(smiles)
        raw = np.zeros((n, len(STATS) * self.k))
        chem = np.zeros((n, len(self.chem_featurizer)), dtype=np.float32)
        known = comp_idx >= 0
        raw[known] = self.comp_raw[comp_idx[known]]
        chem[known] = self._comp_chem[comp_idx[known]]
        if new_smiles:
            uniq = sorted(set(new_smiles.values()))
            u_raw = self._index.impute(self.comp_raw, uniq, k=self.cfg.n_neighbors)
            u_chem = self.chem_featurizer(uniq)
            pos = {s: i for i, s in enumerate(uniq)}
            for row, can in new_smiles.items():
                raw[row] = u_raw[pos[can]]
                chem[row] = u_chem[pos[can]]
        ct_idx = np.array([ct_index[t] for t in cell_types], dtype=np.int64)
        base = self.readout(ct_idx, raw)
        return self._assemble(ct_idx, raw, chem, base)

    def resolve(self, smiles: Sequence[str], names: Sequence[str | None]) -> tuple[np.ndarray, dict[int, str]]:
        """Training-compound index of each query (-1 if new) and the canonical SMILES of the new ones."""
        name_index = {n: i for i, n in enumerate(self.compound_names)}
        idx = np.full(len(smiles), -1, dtype=np.int64)
        new: dict[int, str] = {}
        parsed_cache: dict[str, str] = {}
        for row, (smi, name) in enumerate(zip(smiles, names)):
            if name is not None and name in name_index:
                idx[row] = name_index[name]
                continue
            if not isinstance(smi, str) or smi not in parsed_cache:
                parsed = parse_smiles(smi)
                if not parsed.ok:
                    raise FeatureError(f"row {row}: {parsed.message}")
                parsed_cache[smi] = parsed.canonical
            can = parsed_cache[smi]
            if can in self._canonical:
                idx[row] = self._canonical[can]
            else:
                new[row] = can
        return idx, new

    def readout(self, ct_idx: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """The readout's component prediction ``(n, k)`` for raw statistics ``(n, 3k)``."""
        centered = raw - self.readout_center[ct_idx]
        return (np.einsum("nd,ndk->nk", centered, self.readout_weight[ct_idx].astype(np.float64))
                + self.readout_bias[ct_idx])

    def _assemble(self, ct_idx: np.ndarray, raw: np.ndarray, chem: np.ndarray, base: np.ndarray) -> Features:
        onehot = np.eye(len(self.cell_types), dtype=np.float32)[ct_idx]
        cell_stats = (self.cell_raw[ct_idx] - self.cell_center) / self.cell_scale
        cell = np.hstack([onehot, cell_stats.astype(np.float32)])
        stats = ((raw - self.stats_center) / self.stats_scale).astype(np.float32)
        return Features(cell=cell.astype(np.float32), stats=stats, chem=np.asarray(chem, dtype=np.float32),
                        base=np.asarray(base, dtype=np.float32))

    def nearest(self, smiles: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` Tanimoto-nearest training compounds of each SMILES, as ``(name, similarity)``."""
        self._require()
        return self._index.query(list(smiles), k=k)

    def _require(self) -> None:
        if not self.fitted:
            raise ValueError("the feature pipeline is not fitted; call fit() first")

    # ------------------------------------------------------------------------------------- state

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted state: numeric arrays (for ``np.savez``) and a JSON-serialisable dict."""
        self._require()
        arrays = {
            "mu": self.mu, "basis": self.basis, "comp_raw": self.comp_raw, "cell_raw": self.cell_raw,
            "stats_center": self.stats_center, "stats_scale": self.stats_scale,
            "cell_center": self.cell_center, "cell_scale": self.cell_scale,
            "readout_center": self.readout_center, "readout_weight": self.readout_weight,
            "readout_bias": self.readout_bias,
        }
        meta = {
            "format": FEATURE_FORMAT, "config": self.cfg.to_dict(), "genes": list(self.genes),
            "gene_hash": gene_hash(self.genes), "cell_types": list(self.cell_types), "panel": list(self.panel),
            "compound_names": list(self.compound_names), "compound_smiles": list(self.compound_smiles),
            "fragments": self.chem_featurizer.vocabulary.to_dict(), "readout_alpha": self.readout_alpha,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict) -> FeaturePipeline:
        """Rebuild a fitted pipeline; ``ValueError`` names a missing or inconsistent piece."""
        if meta.get("format") != FEATURE_FORMAT:
            raise ValueError(f"unsupported feature format {meta.get('format')!r} (expected {FEATURE_FORMAT})")
        need = ["config", "genes", "gene_hash", "cell_types", "panel", "compound_names", "compound_smiles",
                "fragments", "readout_alpha"]
        missing = [key for key in need if key not in meta]
        if missing:
            raise ValueError(f"feature metadata lacks {missing}")
        self = cls(FeatureConfig.from_dict(meta["config"]))
        self.genes = tuple(meta["genes"])
        if gene_hash(self.genes) != meta["gene_hash"]:
            raise ValueError("feature metadata: the gene list does not match its hash")
        self.cell_types = list(meta["cell_types"])
        self.panel = list(meta["panel"])
        self.compound_names = list(meta["compound_names"])
        self.compound_smiles = list(meta["compound_smiles"])
        self.readout_alpha = float(meta["readout_alpha"])
        names = ["mu", "basis", "comp_raw", "cell_raw", "stats_center", "stats_scale", "cell_center",
                 "cell_scale", "readout_center", "readout_weight", "readout_bias"]
        absent = [n for n in names if n not in arrays]
        if absent:
            raise ValueError(f"feature arrays lack {absent}")
        for n in names:
            setattr(self, n, np.asarray(arrays[n]))
        g, n_ct, n_c = len(self.genes), len(self.cell_types), len(self.compound_names)
        k = self.basis.shape[0] if self.basis.ndim == 2 else -1
        d = len(STATS) * k
        expected = {"mu": (g,), "basis": (k, g), "comp_raw": (n_c, d), "cell_raw": (n_ct, d),
                    "stats_center": (d,), "stats_scale": (d,), "cell_center": (d,), "cell_scale": (d,),
                    "readout_center": (n_ct, d), "readout_weight": (n_ct, d, k), "readout_bias": (n_ct, k)}
        for n, shape in expected.items():
            if getattr(self, n).shape != shape:
                raise ValueError(f"feature array {n!r} has shape {getattr(self, n).shape}, expected {shape}")
            if not np.all(np.isfinite(getattr(self, n))):
                raise ValueError(f"feature array {n!r} holds NaN or inf")
        self.fingerprint = MorganFeaturizer(self.cfg.fingerprint)
        self.chem_featurizer = ChemFeaturizer(self.fingerprint, FragmentVocabulary.from_dict(meta["fragments"]))
        self._index = SimilarityIndex(self.compound_smiles, self.compound_names, self.cfg.fingerprint)
        self._canonical = {parse_smiles(s).canonical: i for i, s in enumerate(self.compound_smiles)}
        self._comp_chem = self.chem_featurizer(self.compound_smiles)
        self.fitted = True
        self._train = None
        return self


def gene_hash(genes: Sequence[str]) -> str:
    """A short content hash of a gene list (order matters)."""
    return sha256_bytes("\n".join(genes).encode("utf-8"))[:16]

