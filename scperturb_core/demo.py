"""The embedded demo dataset: the real design of the Kaggle screen with simulated values.

Real: compound names, LINCS ids and SMILES, the 614 train pairs in file order, the 255-row id_map, the
18,211 gene names, and the per-gene NK std used as each gene's responsiveness scale.
Simulated: every value. The simulator is seeded and produces, for every (cell type, compound) pair of
train and id_map,

    y[g] = s_g * f( a_c * (z_c M_ct P + w_ct z_c Q_ct)[g] + b_ct[g] ) + s_g * r * t_3 noise

* ``z_c`` compound latent: a random projection of the Morgan fingerprint (similar structures respond
  alike) mixed with a compound-specific part; ``a_c`` its strength (the 20 "outlier" compounds of the
  real screen respond strongly and noisily);
* ``P`` low-rank gene programs with a dominant first program; ``M_ct = I + e_ct R_ct`` and ``Q_ct``
  cell-type modulation, larger for B and Myeloid than among the T/NK types;
* ``f(x) = x + skew * |x|`` a slight positive skew; heavy-tailed Student-t noise, with some noisy rows.

Calibrated so that the 614 x 18,211 train matrix matches the real matrix's published facts
(std 2.37, mean row RMS 1.28, 7.0% of |y| > 2, 4.1% of |y| > 3, mean 0.32, median ~0.06).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import assets
from .chem import FingerprintConfig, MorganFeaturizer
from .constants import B_CELLS, CELL_TYPE, CONTROL, ID, MYELOID, SM_LINCS_ID, SM_NAME, SMILES
from .data import PerturbData
from .io import atomic_path, cache_dir

log = logging.getLogger(__name__)

DEMO_NAME = "demo (simulated values)"
SIM_VERSION = 1

#: the 20 compounds with strong, noisy responses in the real screen
OUTLIER_COMPOUNDS: frozenset[str] = frozenset({
    "AT13387", "Alvocidib", "BAY 61-3606", "BMS-387032", "Belinostat", "CEP-18770 (Delanzomib)",
    "CGM-097", "CGP 60474", "Dabrafenib", "Ganetespib (STA-9090)", "I-BET151", "IN1451", "LY2090314",
    "MLN 2238", "Oprozomib (ONX 0912)", "Proscillaridin A;Proscillaridin-A", "Resminostat", "Scriptaid",
    "UNII-BXU45ZH6LI", "Vorinostat",
})


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulator (calibrated defaults)."""

    seed: int = 0
    n_programs: int = 10
    structure_weight: float = 0.7  # share of the compound latent driven by the fingerprint
    effect_scale: float = 0.042
    outlier_factor: float = 7.0
    strength_sigma: float = 0.6  # lognormal spread of compound strength
    outlier_sigma: float = 0.6
    skew: float = 0.5
    noise_scale: float = 0.105
    noisy_row_frac: float = 0.05
    noisy_row_factor: float = 3.0
    t_df: float = 4.0
    tnk_modulation: float = 0.25
    bm_modulation: float = 0.8
    baseline_scale: float = 0.02


def _unit_rows(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8) * np.sqrt(a.shape[1])


def simulate_values(
    pairs: pd.DataFrame, compounds: pd.DataFrame, gene_scale: np.ndarray, cfg: SimConfig = SimConfig()
) -> np.ndarray:
    """Simulate values for ``pairs`` (cell_type, sm_name rows).

    Args:
        pairs: ``(n, .)`` frame with CELL_TYPE and SM_NAME.
        compounds: one row per compound with SM_NAME and SMILES.
        gene_scale: ``(g,)`` per-gene scale (the NK std).

    Returns:
        ``(n, g)`` float32 values. Deterministic in ``cfg.seed``; the value of a pair does not depend on
        which other pairs are simulated with it.
    """
    rng = np.random.default_rng(cfg.seed)
    g = gene_scale.shape[0]
    K = cfg.n_programs
    names = compounds[SM_NAME].tolist()
    n_c = len(names)

    # compound latent: structure-driven + compound-specific
    fps = MorganFeaturizer(FingerprintConfig(radius=2, n_bits=2048))(compounds[SMILES].tolist())
    proj = rng.standard_normal((fps.shape[1], K)).astype(np.float32)
    struct = _unit_rows((fps - fps.mean(0)) @ proj)
    specific = _unit_rows(rng.standard_normal((n_c, K)))
    w = cfg.structure_weight
    z = np.sqrt(w) * struct + np.sqrt(1 - w) * specific
    program_weight = np.array([4.0] + [1.0 / (1 + 0.35 * k) for k in range(1, K)])
    z = z * program_weight
    # strength
    strength = np.exp(cfg.strength_sigma * rng.standard_normal(n_c) - cfg.strength_sigma**2 / 2)
    is_out = np.array([n in OUTLIER_COMPOUNDS for n in names])
    strength[is_out] = cfg.outlier_factor * np.exp(cfg.outlier_sigma * rng.standard_normal(is_out.sum()))
    # gene programs: heavy-tailed, sparse-ish loadings
    P = rng.standard_t(4, size=(K, g)) * (rng.random((K, g)) < 0.5)
    P /= P.std(axis=1, keepdims=True)

    cell_types = sorted(set(pairs[CELL_TYPE]))
    ct_state: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    shared_R = rng.standard_normal((K, K)) / np.sqrt(K)
    for ct in cell_types:
        ct_rng = np.random.default_rng([cfg.seed, abs(hash_str(ct))])
        e = cfg.bm_modulation if ct in (B_CELLS, MYELOID) else cfg.tnk_modulation
        R = ct_rng.standard_normal((K, K)) / np.sqrt(K)
        M = np.eye(K) + e * (0.5 * shared_R + R)
        Q = ct_rng.standard_t(4, size=(K, g)) * (ct_rng.random((K, g)) < 0.2) * e
        b = cfg.baseline_scale * (np.abs(ct_rng.standard_normal(g)) * (1 + 2 * e))
        ct_state[ct] = (M, Q, b)

    c_index = {n: i for i, n in enumerate(names)}
    out = np.empty((len(pairs), g), dtype=np.float32)
    for r, (ct, sm) in enumerate(zip(pairs[CELL_TYPE], pairs[SM_NAME])):
        ci = c_index[sm]
        M, Q, b = ct_state[ct]
        row_rng = np.random.default_rng([cfg.seed, 1, abs(hash_str(ct)), ci])
        zc = z[ci]
        effect = cfg.effect_scale * strength[ci] * (zc @ M @ P + zc @ Q) + b
        effect = effect + cfg.skew * np.abs(effect)
        noise_r = cfg.noise_scale * (1 + 0.5 * strength[ci] * is_out[ci])
        if row_rng.random() < cfg.noisy_row_frac:
            noise_r *= cfg.noisy_row_factor
        noise = row_rng.standard_t(cfg.t_df, size=g) * noise_r
        out[r] = (gene_scale * (effect + noise)).astype(np.float32)
    return out


def hash_str(s: str) -> int:
    """A stable (process-independent) 31-bit hash of a string."""
    h = 2166136261
    for ch in s.encode("utf-8"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h & 0x7FFFFFFF


def _gene_scale(genes: tuple[str, ...]) -> np.ndarray:
    std = pd.read_csv(assets.NK_GENE_STD).set_index("gene")["std_ddof0"]
    return std.reindex(list(genes)).fillna(float(std.median())).to_numpy(np.float64)


def _obs(pairs: pd.DataFrame, compounds: pd.DataFrame) -> pd.DataFrame:
    meta = compounds.set_index(SM_NAME)
    obs = pd.DataFrame({
        CELL_TYPE: pairs[CELL_TYPE].astype(str).to_numpy(),
        SM_NAME: pairs[SM_NAME].astype(str).to_numpy(),
    })
    obs[SM_LINCS_ID] = meta.loc[obs[SM_NAME], SM_LINCS_ID].to_numpy()
    obs[SMILES] = meta.loc[obs[SM_NAME], SMILES].to_numpy()
    obs[CONTROL] = pairs[CONTROL].astype(bool).to_numpy()
    return obs


def _design(compounds: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The real design (compounds, train pairs, id_map), optionally restricted to some compounds."""
    comp = assets.compounds()
    pairs = assets.train_pairs()
    id_map = assets.id_map()
    if compounds is not None:
        keep = set(compounds)
        unknown = keep - set(comp[SM_NAME])
        if unknown:
            raise ValueError(f"unknown demo compounds: {sorted(unknown)[:5]}")
        comp = comp[comp[SM_NAME].isin(keep)].reset_index(drop=True)
        pairs = pairs[pairs[SM_NAME].isin(keep)].reset_index(drop=True)
        id_map = id_map[id_map[SM_NAME].isin(keep)].reset_index(drop=True)
    return comp, pairs, id_map[[ID, CELL_TYPE, SM_NAME]].copy()


def simulate_demo(
    genes: tuple[str, ...] | None = None,
    compounds: list[str] | None = None,
    cfg: SimConfig = SimConfig(),
) -> PerturbData:
    """Simulate the demo (optionally restricted to some genes and compounds), uncached.

    Returns a :class:`PerturbData` with the real train design, the real id_map and its simulated truth.
    """
    genes = tuple(genes) if genes is not None else assets.genes()
    comp, pairs, id_map = _design(compounds)
    both = pd.concat([pairs[[CELL_TYPE, SM_NAME]], id_map[[CELL_TYPE, SM_NAME]]], ignore_index=True)
    values = simulate_values(both, comp, _gene_scale(genes), cfg)
    X, truth = values[: len(pairs)], values[len(pairs):]
    return PerturbData(
        obs=_obs(pairs, comp), X=X, genes=genes, id_map=id_map, truth=truth, name=DEMO_NAME,
        simulated=True, key=f"demo-v{SIM_VERSION}-s{cfg.seed}-g{len(genes)}-c{len(comp)}",
    )


def load_demo(cfg: SimConfig = SimConfig()) -> PerturbData:
    """The full demo (614 train rows + 255 id_map rows x 18,211 genes), cached on disk after first use."""
    path = cache_dir("demo") / f"demo_v{SIM_VERSION}_seed{cfg.seed}.npz"
    genes = assets.genes()
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                X, truth = z["X"], z["truth"]
            comp, pairs, id_map = _design(None)
            if X.shape == (len(pairs), len(genes)) and truth.shape == (len(id_map), len(genes)):
                return PerturbData(obs=_obs(pairs, comp), X=X, genes=genes, id_map=id_map, truth=truth,
                                   name=DEMO_NAME, simulated=True, key=f"demo-v{SIM_VERSION}-s{cfg.seed}")
        except (OSError, ValueError, KeyError) as exc:
            log.warning("demo cache %s unreadable (%s); regenerating", path, exc)
    data = simulate_demo(cfg=cfg)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, X=data.X, truth=data.truth)
    from dataclasses import replace

    return replace(data, key=f"demo-v{SIM_VERSION}-s{cfg.seed}")


#: compounds measured in every cell type of the real screen (the 15 + 2 controls)
SHARED_COMPOUNDS: tuple[str, ...] = (
    "Alvocidib", "Belinostat", "CHIR-99021", "Crizotinib", "Dabrafenib", "Dactolisib", "Foretinib",
    "Idelalisib", "LDN 193189", "Linagliptin", "MLN 2238", "O-Demethylated Adapalene",
    "Oprozomib (ONX 0912)", "Palbociclib", "Penfluridol", "Porcn Inhibitor III", "R428",
)


def tiny_dataset(n_genes: int = 64, n_compounds: int = 40, seed: int = 0) -> PerturbData:
    """A small demo for tests: the real design restricted to ``n_compounds`` compounds (all 17 shared
    ones first) and ``n_genes`` genes (CD69 always included). Values are simulated."""
    all_genes = assets.genes()
    rng = np.random.default_rng(seed)
    picked = set(rng.choice(len(all_genes), size=max(n_genes - 1, 0), replace=False).tolist())
    genes = tuple(g for i, g in enumerate(all_genes) if i in picked or g == "CD69")[:n_genes]
    if "CD69" not in genes:
        genes = genes[:-1] + ("CD69",)
    names = assets.compounds()[SM_NAME].tolist()
    others = [n for n in names if n not in SHARED_COMPOUNDS]
    chosen = list(SHARED_COMPOUNDS)[:n_compounds] + others[: max(n_compounds - len(SHARED_COMPOUNDS), 0)]
    return simulate_demo(genes=genes, compounds=chosen, cfg=SimConfig(seed=seed))
