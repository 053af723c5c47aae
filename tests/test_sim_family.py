"""The simulator family: the default is the calibrated demo bit for bit; each knob does what it says."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scperturb_core import assets
from scperturb_core.constants import B_CELLS, CELL_TYPE, MYELOID, NK_CELLS, SM_NAME, SMILES
from scperturb_core.demo import (
    OUTLIER_COMPOUNDS, SIM_SETTINGS, SimConfig, config_tag, load_demo, sim_setting, simulate_demo,
    simulate_setting, simulate_values, tiny_dataset,
)

#: sha256 of the demo's float32 values, computed with the simulator before the family knobs existed
DEMO_X_SHA256 = "9ec36bce6fbdf42d462a57d756b64444391264769c62054933c108e99a043224"
DEMO_TRUTH_SHA256 = "1bde7c08a967f41090d97e12472656c04ce91b4359dfd9e6a2d09cc31fbab6f2"
TINY_X_SHA256 = "3d0b4b0c2146ee6889cb919cb010dcae04ba0d5d57959ffdc46e451340e7edc5"
TINY_TRUTH_SHA256 = "ac4f474775326fa4efd9308b00c1e3266e02d0f7704d77016660c842bfda73de"

#: a noise-free, skew-free, offset-free configuration: the effects themselves
CLEAN = SimConfig(skew=0.0, baseline_scale=0.0, noise_scale=0.0, bm_modulation=0.3)
N_GENES = 400


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _profiles(cfg: SimConfig, cell_types=(NK_CELLS, B_CELLS, MYELOID)) -> list[np.ndarray]:
    """``(146, N_GENES)`` values of every compound in each cell type (unit gene scale)."""
    comp = assets.compounds()
    n = len(comp)
    pairs = pd.DataFrame({CELL_TYPE: [ct for ct in cell_types for _ in range(n)],
                          SM_NAME: list(comp[SM_NAME]) * len(cell_types)})
    values = simulate_values(pairs, comp, np.ones(N_GENES), cfg).astype(np.float64)
    return [values[i * n:(i + 1) * n] for i in range(len(cell_types))]


def _mean_profile_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over compounds of the correlation of their (cell-type-centred) profiles in two cell types."""
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]))


def _linear_r2(source: np.ndarray, target: np.ndarray) -> float:
    """Share of ``target`` explained by the best linear map of ``source`` (least squares over compounds)."""
    coef, *_ = np.linalg.lstsq(source, target, rcond=1e-6)
    return float(1 - ((target - source @ coef) ** 2).sum() / (target**2).sum())


@pytest.mark.slow
def test_default_is_the_calibrated_demo_bit_for_bit():
    data = simulate_demo()
    assert _sha(data.X) == DEMO_X_SHA256 and _sha(data.truth) == DEMO_TRUTH_SHA256
    assert SimConfig() == SIM_SETTINGS["demo"]


def test_tiny_dataset_unchanged():
    tiny = tiny_dataset()
    assert _sha(tiny.X) == TINY_X_SHA256 and _sha(tiny.truth) == TINY_TRUTH_SHA256


def test_carry_over_controls_how_much_of_the_effect_reaches_b_cells():
    r = {}
    for c in (0.0, 0.5, 1.0):
        nk, b, _ = _profiles(replace(CLEAN, carry_over=c))
        r[c] = _mean_profile_corr(nk, b)
    assert abs(r[0.0]) < 0.2, r  # unrelated
    assert r[1.0] > 0.7, r  # strongly related
    assert r[0.0] < r[0.5] < r[1.0]


def test_carry_over_leaves_t_nk_cells_alone():
    nk0, _, _ = _profiles(CLEAN)
    nk1, _, _ = _profiles(replace(CLEAN, carry_over=0.2, lineage_distance=0.5, nonlinearity=0.7))
    np.testing.assert_array_equal(nk0, nk1)


def test_lineage_distance_moves_b_cells_to_other_genes():
    r = {d: _mean_profile_corr(*_profiles(replace(CLEAN, lineage_distance=d))[:2]) for d in (0.0, 0.5, 1.0)}
    assert r[1.0] < 0.2 < 0.7 < r[0.0], r
    assert r[1.0] < r[0.5] < r[0.0]


def test_nonlinearity_breaks_the_linear_map_from_t_nk_to_b_and_myeloid():
    nk, b, m = _profiles(CLEAN)
    assert _linear_r2(nk, b) > 0.999 and _linear_r2(nk, m) > 0.999  # linear: T/NK determine B exactly
    nk, b, m = _profiles(replace(CLEAN, nonlinearity=1.0))
    assert min(_linear_r2(nk, b), _linear_r2(nk, m)) < 0.95
    # the response changes shape, not size
    _, b_lin, _ = _profiles(CLEAN)
    assert 0.7 < np.sqrt((b**2).mean()) / np.sqrt((b_lin**2).mean()) < 1.4


def test_n_programs_sets_the_rank():
    ranks = {}
    for k in (3, 10):
        (nk,) = _profiles(replace(CLEAN, n_programs=k), cell_types=(NK_CELLS,))
        ranks[k] = np.linalg.matrix_rank(nk, tol=1e-6 * np.abs(nk).max())
    assert ranks[3] <= 3 < ranks[10] <= 10, ranks


def test_t_df_sets_the_noise_tails():
    ordinary = ~assets.compounds()[SM_NAME].isin(OUTLIER_COMPOUNDS).to_numpy()
    kurt = {}
    for df in (2.5, 30.0):
        cfg = SimConfig(t_df=df, effect_scale=1e-9, baseline_scale=0.0, noisy_row_frac=0.0)
        (nk,) = _profiles(cfg, cell_types=(NK_CELLS,))
        z = nk[ordinary] / nk[ordinary].std()
        kurt[df] = float((z**4).mean())
    assert kurt[2.5] > 10 * kurt[30.0] and 2.7 < kurt[30.0] < 4.0, kurt  # Gaussian: 3


def test_baseline_scale_sets_the_cell_type_offsets():
    gap = {}
    for s in (0.0, 0.2):
        nk, b, _ = _profiles(replace(CLEAN, baseline_scale=s))
        gap[s] = float(np.abs(b.mean(0) - nk.mean(0)).mean())
    assert gap[0.2] > 5 * gap[0.0], gap


def test_structure_weight_makes_similar_compounds_respond_alike():
    from scperturb_core.chem import FingerprintConfig, MorganFeaturizer

    fps = MorganFeaturizer(FingerprintConfig(radius=2, n_bits=2048))(assets.compounds()[SMILES].tolist())
    fps = fps.astype(np.float64)
    inter = fps @ fps.T
    tanimoto = inter / (fps.sum(1)[:, None] + fps.sum(1)[None, :] - inter)
    np.fill_diagonal(tanimoto, -1.0)
    nearest = tanimoto.argmax(axis=1)
    corr = {}
    for w in (0.0, 1.0):
        (nk,) = _profiles(replace(CLEAN, structure_weight=w, strength_sigma=0.0), cell_types=(NK_CELLS,))
        c = np.corrcoef(nk - nk.mean(0))
        corr[w] = float(np.mean(c[np.arange(len(c)), nearest]))  # each compound vs its nearest neighbour
    assert corr[1.0] > corr[0.0] + 0.15, corr


def test_settings_are_valid_and_distinct():
    assert len(SIM_SETTINGS) >= 6
    seeds = [cfg.seed for cfg in SIM_SETTINGS.values()]
    assert len(set(seeds)) == len(seeds)
    assert len({config_tag(cfg) for cfg in SIM_SETTINGS.values()}) == len(SIM_SETTINGS)
    knobs = ("carry_over", "lineage_distance", "structure_weight", "t_df", "n_programs", "baseline_scale",
             "nonlinearity")
    for knob in knobs:  # every knob is varied by some setting
        assert len({getattr(cfg, knob) for cfg in SIM_SETTINGS.values()}) > 1, knob


def test_setting_data_has_the_real_design_and_a_key_of_its_own():
    genes = assets.genes()[:30]
    demo = simulate_setting("demo", genes=genes)
    other = simulate_setting("low-carry-over", genes=genes)
    assert other.X.shape == demo.X.shape == (614, 30) and other.truth.shape == (255, 30)
    assert other.obs[SM_NAME].tolist() == demo.obs[SM_NAME].tolist()
    assert other.key != demo.key and "low-carry-over" in other.name and other.simulated
    assert np.isfinite(other.X).all() and np.isfinite(other.truth).all()


def test_unknown_setting_and_bad_knob_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown simulator setting 'nope'; choose from demo"):
        sim_setting("nope")
    with pytest.raises(ValueError, match=r"SimConfig.carry_over must be in \[0, 1\], got 1.5"):
        SimConfig(carry_over=1.5)
    with pytest.raises(ValueError, match="SimConfig.t_df must be > 2"):
        SimConfig(t_df=1.0)
    with pytest.raises(ValueError, match="SimConfig.n_programs must be an integer >= 1"):
        SimConfig(n_programs=0)


def test_demo_cache_key_unchanged_and_other_settings_cached_apart():
    assert config_tag(SimConfig()) == "s0" and config_tag(SimConfig(seed=3)) == "s3"
    assert config_tag(SimConfig(carry_over=0.5)).startswith("s0-")
    assert config_tag(SimConfig(carry_over=0.5)) != config_tag(SimConfig(carry_over=0.6))


@pytest.mark.slow
def test_other_setting_is_not_cached_on_top_of_the_demo():
    demo = load_demo()
    other = load_demo(SIM_SETTINGS["low-carry-over"], name="low")
    assert demo.key == "demo-v1-s0" and other.key != demo.key
    again = load_demo()
    np.testing.assert_array_equal(again.X, demo.X)
    assert not np.array_equal(other.X, demo.X)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SIM_SETTINGS))
def test_every_setting_keeps_a_realistic_value_scale(name):
    X = simulate_setting(name).X.astype(np.float64)
    std = X.std()
    row_rms = np.sqrt((X**2).mean(axis=1)).mean()
    assert 1.8 < std < 3.5 and 1.0 < row_rms < 1.7, f"{name}: std {std:.2f}, row RMS {row_rms:.2f}"
    assert abs(float(np.median(X))) < 0.3
