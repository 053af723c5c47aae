"""The simulated demo: exact Kaggle design and calibrated values."""
from __future__ import annotations

import time

import numpy as np
import pytest

from scperturb_core import assets
from scperturb_core.constants import CELL_TYPE, META_COLUMNS, SM_NAME
from scperturb_core.demo import load_demo, simulate_demo


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def test_design_matches_the_real_screen(demo):
    assert demo.X.shape == (614, 18211)
    assert demo.genes == assets.genes() and demo.genes[0] == "A1BG" and demo.genes[-1] == "ZZEF1"
    pairs = assets.train_pairs()
    assert demo.obs[CELL_TYPE].tolist() == pairs[CELL_TYPE].tolist()
    assert demo.obs[SM_NAME].tolist() == pairs[SM_NAME].tolist()
    assert demo.obs[CELL_TYPE].value_counts().to_dict() == {
        "NK cells": 146, "T cells CD4+": 146, "T regulatory cells": 146, "T cells CD8+": 142,
        "B cells": 17, "Myeloid cells": 17}
    assert len(demo.id_map) == 255 and demo.truth.shape == (255, 18211)
    assert demo.simulated and "simulated" in demo.name


@pytest.mark.parametrize("stat, target", [
    ("std", 2.369), ("row_rms", 1.28), ("frac2", 0.0704), ("frac3", 0.0414), ("mean", 0.323)])
def test_calibrated_within_15_percent(demo, stat, target):
    X = demo.X.astype(np.float64)
    value = {
        "std": lambda: X.std(),
        "row_rms": lambda: np.sqrt((X**2).mean(axis=1)).mean(),
        "frac2": lambda: (np.abs(X) > 2).mean(),
        "frac3": lambda: (np.abs(X) > 3).mean(),
        "mean": lambda: X.mean(),
    }[stat]()
    assert abs(value - target) <= 0.15 * target, f"{stat}={value:.4f}, target {target}"


def test_median_near_zero_and_positive_skew(demo):
    X = demo.X
    assert abs(float(np.median(X))) < 0.15
    assert X.mean() > np.median(X)


def test_structure_outliers_and_cell_type_shift(demo):
    from scperturb_core.demo import OUTLIER_COMPOUNDS

    rms = np.sqrt((demo.X.astype(np.float64) ** 2).mean(axis=1))
    out = demo.obs[SM_NAME].isin(OUTLIER_COMPOUNDS).to_numpy()
    assert out.sum() == 86
    assert np.median(rms[out]) > 3 * np.median(rms[~out])
    # B/Myeloid truth is further from the T/NK mean than T/NK types are from each other
    obs, X = demo.obs, demo.X
    def prof(ct, sm):
        return X[((obs[CELL_TYPE] == ct) & (obs[SM_NAME] == sm)).to_numpy()][0]
    shared = ["CHIR-99021", "Crizotinib", "Dactolisib", "Foretinib", "Idelalisib", "Palbociclib"]
    tnk = ["NK cells", "T cells CD4+", "T regulatory cells"]
    d_tnk = np.mean([np.corrcoef(prof(a, s), prof(b, s))[0, 1] for s in shared for a in tnk for b in tnk if a < b])
    d_b = np.mean([np.corrcoef(prof("B cells", s), prof(a, s))[0, 1] for s in shared for a in tnk])
    assert d_b < d_tnk


def test_low_rank(demo):
    nk = demo.X[(demo.obs[CELL_TYPE] == "NK cells").to_numpy()].astype(np.float64)
    s = np.linalg.svd(nk, compute_uv=False)
    energy = s**2
    # real NK matrix: top singular values 3773, 1246, 866 ... tail ~63; the top 10 carry most energy
    assert energy[:10].sum() / energy.sum() > 0.8
    assert s[0] > 1.5 * s[1] and s[0] > 30 * s[-1]


def test_deterministic_and_cached(demo):
    again = load_demo()  # from the disk cache
    np.testing.assert_array_equal(again.X, demo.X)
    small = simulate_demo(genes=demo.genes[:50], compounds=["Clotrimazole", "Vorinostat"])
    small2 = simulate_demo(genes=demo.genes[:50], compounds=["Clotrimazole", "Vorinostat"])
    np.testing.assert_array_equal(small.X, small2.X)


def test_generation_time():
    start = time.perf_counter()
    simulate_demo()
    assert time.perf_counter() - start < 10


def test_tiny_dataset_keeps_design(tiny):
    assert "CD69" in tiny.genes and tiny.X.shape == (192, 64)
    assert set(tiny.id_map[SM_NAME]) <= set(tiny.obs[SM_NAME])
    assert tiny.truth.shape == (len(tiny.id_map), 64)
    assert list(tiny.to_frame().columns[:5]) == list(META_COLUMNS)
