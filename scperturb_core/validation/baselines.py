"""The simple baselines the field compares against, behind the same interface as the models.

Every method is ``fit(obs, X, genes) -> self`` on training rows, then
``predict(cell_types, smiles, names) -> (n, g)`` float32 for query pairs:

* ``zeros`` -- no effect;
* ``gene mean`` -- each gene's mean over the training rows;
* ``cell-type mean`` -- the mean of the query cell type's training rows;
* ``compound mean`` -- the mean of the query compound's training rows (in the other cell types);
* ``additive`` -- cell-type mean + compound mean - gene mean.

A cell type or compound without training rows falls back to the gene mean.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..constants import CELL_TYPE, SM_NAME


class Baseline:
    """Common fitting of the group means; subclasses combine them in :meth:`predict`."""

    name = "baseline"

    def fit(self, obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str]) -> Baseline:
        X = np.asarray(X, dtype=np.float64)
        if X.shape != (len(obs), len(genes)):
            raise ValueError(f"X must be (rows={len(obs)}, genes={len(genes)}), got shape {X.shape}")
        self.genes = tuple(genes)
        self.mean = X.mean(axis=0)
        self.ct_mean = self._group_means(obs[CELL_TYPE].astype(str).to_numpy(), X)
        self.sm_mean = self._group_means(obs[SM_NAME].astype(str).to_numpy(), X)
        return self

    @staticmethod
    def _group_means(keys: np.ndarray, X: np.ndarray) -> dict[str, np.ndarray]:
        return {k: X[keys == k].mean(axis=0) for k in pd.unique(keys)}

    def _lookup(self, table: dict[str, np.ndarray], keys: Sequence[str | None]) -> np.ndarray:
        if not len(keys):
            return np.zeros((0, len(self.genes)))
        return np.stack([table.get(k, self.mean) if k is not None else self.mean for k in keys])

    def predict(self, cell_types: Sequence[str], smiles: Sequence[str],
                names: Sequence[str | None] | None = None) -> np.ndarray:
        raise NotImplementedError


class Zeros(Baseline):
    name = "zeros"

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        return np.zeros((len(cell_types), len(self.genes)), dtype=np.float32)


class GeneMean(Baseline):
    name = "gene mean"

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        return np.tile(self.mean.astype(np.float32), (len(cell_types), 1))


class CellTypeMean(Baseline):
    name = "cell-type mean"

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        return self._lookup(self.ct_mean, list(cell_types)).astype(np.float32)


class CompoundMean(Baseline):
    name = "compound mean"

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        keys = list(names) if names is not None else [None] * len(cell_types)
        return self._lookup(self.sm_mean, keys).astype(np.float32)


class Additive(Baseline):
    name = "additive"

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        keys = list(names) if names is not None else [None] * len(cell_types)
        out = self._lookup(self.ct_mean, list(cell_types)) + self._lookup(self.sm_mean, keys) - self.mean
        return out.astype(np.float32)


BASELINES: tuple[type[Baseline], ...] = (Zeros, GeneMean, CellTypeMean, CompoundMean, Additive)
BASELINE_NAMES: tuple[str, ...] = tuple(b.name for b in BASELINES)


def all_baselines() -> list[Baseline]:
    """One unfitted instance of every baseline, in display order."""
    return [cls() for cls in BASELINES]
