"""Validation folds that mimic the real train/test shift.

* :func:`leave_one_cell_type_out` -- the Kaggle shift: B and Myeloid cells are seen for only 17
  compounds and must be predicted for the rest. For each cell type, the validation rows are that cell
  type's rows for compounds that are *not* measured in the sparse cell types (and not controls); they leave
  the training fold, so the held-out cell type keeps only its shared-compound rows, as B/Myeloid do.
* :func:`leave_compounds_out` -- the new-SMILES case: every row of the held-out compounds leaves.
* :func:`shift_folds` -- the test situation itself, and the folds that choose everything: the
  sparse-cell-type (B/Myeloid) rows of some shared compounds leave, their T/NK rows stay, so each
  held-out row is "a compound measured in T/NK cells, predicted in B or Myeloid cells".

Folds are deterministic (seeded) and carry row indices into ``data.obs``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import CELL_TYPE, CONTROL, SM_NAME
from ..data import PerturbData


@dataclass(frozen=True)
class Fold:
    """One split: ``train_idx`` and ``val_idx`` are disjoint, sorted row indices into ``data.obs``."""

    name: str
    train_idx: np.ndarray
    val_idx: np.ndarray

    def __post_init__(self) -> None:
        if np.intersect1d(self.train_idx, self.val_idx).size:
            raise ValueError(f"fold {self.name!r}: train and validation rows overlap")


def sparse_cell_types(data: PerturbData) -> list[str]:
    """Cell types with fewer than half the rows of the best-covered one (B and Myeloid on the real
    screen); these are the ones the test asks for."""
    counts = data.obs[CELL_TYPE].value_counts()
    return sorted(counts.index[counts < counts.max() / 2])


def shared_compounds(data: PerturbData) -> set[str]:
    """Compounds measured in every sparse cell type (all cell types when none is sparse).

    On the real screen: the 17 compounds (15 + 2 controls) with B and Myeloid rows.
    """
    cts = sparse_cell_types(data) or sorted(data.obs[CELL_TYPE].unique())
    per = data.obs[data.obs[CELL_TYPE].isin(cts)].groupby(SM_NAME)[CELL_TYPE].nunique()
    return set(per.index[per == len(cts)])


def leave_one_cell_type_out(
    data: PerturbData, cell_types: list[str] | None = None, min_val_rows: int = 5
) -> list[Fold]:
    """One fold per cell type with at least ``min_val_rows`` rows of non-shared, non-control compounds.

    On the real design this gives four folds (NK, CD4+, CD8+, Treg), each validating on ~125 rows.
    """
    obs = data.obs
    shared = shared_compounds(data)
    eligible = (~obs[SM_NAME].isin(shared)) & (~obs[CONTROL].astype(bool))
    folds = []
    for ct in cell_types or sorted(obs[CELL_TYPE].unique()):
        val = np.flatnonzero(eligible & (obs[CELL_TYPE] == ct))
        if len(val) < min_val_rows:
            continue
        train = np.setdiff1d(np.arange(len(obs)), val)
        folds.append(Fold(name=f"held-out {ct}", train_idx=train, val_idx=val))
    if not folds:
        raise ValueError("no cell type has enough rows outside the shared compounds to hold out")
    return folds


def leave_compounds_out(data: PerturbData, n_folds: int = 5, seed: int = 0) -> list[Fold]:
    """``n_folds`` folds over non-control compounds; each fold validates on all rows of its compounds."""
    obs = data.obs
    names = sorted(obs.loc[~obs[CONTROL].astype(bool), SM_NAME].unique())
    if len(names) < n_folds:
        raise ValueError(f"n_folds={n_folds} exceeds the {len(names)} non-control compounds")
    order = np.random.default_rng(seed).permutation(len(names))
    folds = []
    for k in range(n_folds):
        held = {names[i] for i in order[k::n_folds]}
        val = np.flatnonzero(obs[SM_NAME].isin(held).to_numpy())
        train = np.setdiff1d(np.arange(len(obs)), val)
        folds.append(Fold(name=f"compounds fold {k + 1}/{n_folds}", train_idx=train, val_idx=val))
    return folds


def shift_folds(data: PerturbData, n_folds: int | None = 5, seed: int = 0) -> list[Fold]:
    """Grouped k-fold over the shared, non-control compounds (the 15 measured in B/Myeloid).

    Each fold validates on the sparse-cell-type rows of its compounds and keeps every other row of
    them (their T/NK rows) in training -- exactly the test situation. ``n_folds=None`` (or more folds
    than compounds) is leave-one-compound-out. Deterministic in ``seed``.
    """
    obs = data.obs
    sparse = sparse_cell_types(data)
    if not sparse:
        raise ValueError("no sparse cell type: every cell type is well covered, nothing to hold out")
    controls = set(obs.loc[obs[CONTROL].astype(bool), SM_NAME])
    names = sorted(shared_compounds(data) - controls)
    if len(names) < 2:
        raise ValueError(f"need at least 2 non-control compounds measured in {sparse}, got {len(names)}")
    k = len(names) if n_folds is None else min(int(n_folds), len(names))
    if k < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds!r}")
    order = np.random.default_rng(seed).permutation(len(names))
    in_sparse = obs[CELL_TYPE].isin(sparse).to_numpy()
    folds = []
    for i in range(k):
        held = {names[j] for j in order[i::k]}
        val = np.flatnonzero(in_sparse & obs[SM_NAME].isin(held).to_numpy())
        train = np.setdiff1d(np.arange(len(obs)), val)
        folds.append(Fold(name=f"shift fold {i + 1}/{k}", train_idx=train, val_idx=val))
    return folds
