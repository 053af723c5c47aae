"""Validation folds mimic the real shift and never leak held-out rows."""
from __future__ import annotations

import numpy as np
import pytest

from scperturb_core.constants import CELL_TYPE, CONTROL, SM_NAME
from scperturb_core.validation.splits import (leave_compounds_out, leave_one_cell_type_out, shared_compounds,
                                              shift_folds, sparse_cell_types)


def test_cell_type_folds_hold_out_non_shared_rows(tiny):
    folds = leave_one_cell_type_out(tiny)
    assert [f.name for f in folds] == ["held-out NK cells", "held-out T cells CD4+",
                                       "held-out T cells CD8+", "held-out T regulatory cells"]
    shared = shared_compounds(tiny)
    assert len(shared) == 17
    for f in folds:
        ct = f.name.removeprefix("held-out ")
        val = tiny.obs.iloc[f.val_idx]
        assert (val[CELL_TYPE] == ct).all() and not val[SM_NAME].isin(shared).any()
        assert not val[CONTROL].any()
        # no held-out row reaches the training fold
        assert np.intersect1d(f.train_idx, f.val_idx).size == 0
        train_pairs = set(map(tuple, tiny.obs.iloc[f.train_idx][[CELL_TYPE, SM_NAME]].to_numpy()))
        assert not train_pairs & set(map(tuple, val[[CELL_TYPE, SM_NAME]].to_numpy()))
        # like B/Myeloid, the held-out cell type keeps only its shared-compound rows
        kept = tiny.obs.iloc[f.train_idx]
        assert set(kept.loc[kept[CELL_TYPE] == ct, SM_NAME]) <= shared
        assert len(f.train_idx) + len(f.val_idx) == tiny.n_rows


def test_compound_folds_partition_compounds(tiny):
    folds = leave_compounds_out(tiny, n_folds=4, seed=1)
    seen = []
    for f in folds:
        val_c = set(tiny.obs.iloc[f.val_idx][SM_NAME])
        train_c = set(tiny.obs.iloc[f.train_idx][SM_NAME])
        assert not val_c & train_c
        seen += sorted(val_c)
    non_control = set(tiny.obs.loc[~tiny.obs[CONTROL], SM_NAME])
    assert sorted(seen) == sorted(non_control)
    again = leave_compounds_out(tiny, n_folds=4, seed=1)
    assert all(np.array_equal(a.val_idx, b.val_idx) for a, b in zip(folds, again))


def test_too_many_folds(tiny):
    with pytest.raises(ValueError, match="n_folds=999"):
        leave_compounds_out(tiny, n_folds=999)


def test_shift_folds_hold_out_sparse_rows_of_shared_compounds(tiny):
    sparse = sparse_cell_types(tiny)
    folds = shift_folds(tiny, n_folds=5, seed=0)
    assert len(folds) == 5
    held_all = []
    for f in folds:
        val = tiny.obs.iloc[f.val_idx]
        assert val[CELL_TYPE].isin(sparse).all() and not val[CONTROL].any()
        held = set(val[SM_NAME])
        held_all += sorted(held)
        train = tiny.obs.iloc[f.train_idx]
        # the held-out compounds keep their T/NK rows, lose every sparse-cell-type row
        kept = train[train[SM_NAME].isin(held)]
        assert len(kept) > 0 and not kept[CELL_TYPE].isin(sparse).any()
        assert len(f.train_idx) + len(f.val_idx) == tiny.n_rows
    shared = shared_compounds(tiny) - set(tiny.obs.loc[tiny.obs[CONTROL], SM_NAME])
    assert sorted(held_all) == sorted(shared)
    loo = shift_folds(tiny, n_folds=None)
    assert len(loo) == len(shared)
