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

A family of simulators. The default :class:`SimConfig` is the calibrated demo above, bit for bit. Further
knobs change how the sparse cell types (B and Myeloid, the ones the test asks for) relate to T/NK cells:

* ``carry_over`` ``c``: the compound latent in B / Myeloid is ``c z_c + sqrt(1 - c^2) z'_{c,ct}``, with
  ``z'`` an independent, cell-type-specific latent of the same kind (partly structure-driven);
* ``lineage_distance`` ``d``: B / Myeloid gene programs are ``sqrt(1 - d) P + sqrt(d) P'_ct``;
* ``nonlinearity`` ``eta``: B / Myeloid program activations pass through a per-program saturating or
  sign-flipping response, so a linear map of T/NK statistics is not automatically right.

Every new term vanishes at its default and draws from its own seeded random stream, so the existing
streams (and the demo) are unchanged. :data:`SIM_SETTINGS` names settings that span plausible reality;
:func:`simulate_setting` builds a full dataset for any of them.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, replace

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
    """Knobs of the simulator. The defaults are the calibrated demo; each knob's range is the span of
    plausible reality explored by :data:`SIM_SETTINGS`."""

    #: master seed; every random stream derives from it
    seed: int = 0
    #: rank of the gene programs ``P`` (number of latent programs), >= 1; 2-20 is plausible (demo 10)
    n_programs: int = 10
    #: share of the compound latent driven by the fingerprint (chemistry), in [0, 1]: 0 = structure
    #: tells nothing about the response, 1 = similar structures respond alike (demo 0.7)
    structure_weight: float = 0.7
    #: overall effect size (multiplies every compound effect), > 0
    effect_scale: float = 0.042
    #: strength of the 20 outlier compounds relative to a typical one, > 0
    outlier_factor: float = 7.0
    #: lognormal spread of compound strength, >= 0
    strength_sigma: float = 0.6
    #: lognormal spread of the outlier compounds' strength, >= 0
    outlier_sigma: float = 0.6
    #: positive skew of the response, ``f(x) = x + skew |x|``, >= 0
    skew: float = 0.5
    #: noise level relative to each gene's scale, >= 0
    noise_scale: float = 0.105
    #: share of rows with extra noise, in [0, 1]
    noisy_row_frac: float = 0.05
    #: noise multiplier of those rows, >= 1
    noisy_row_factor: float = 3.0
    #: Student-t degrees of freedom of the noise (tail weight), > 2: 2.5 = very heavy tails, 30 = nearly
    #: Gaussian (demo 4)
    t_df: float = 4.0
    #: modulation of the programs among T/NK cell types, >= 0
    tnk_modulation: float = 0.25
    #: modulation of the programs in B / Myeloid cells (mixing matrix and cell-type-specific loadings), >= 0
    bm_modulation: float = 0.8
    #: size of the per-cell-type offsets (a positive per-gene baseline, larger in B / Myeloid), >= 0;
    #: 0.02 (demo) to ~0.1 (offsets that move the median of the matrix to ~0.2)
    baseline_scale: float = 0.02
    #: carry-over of a compound's effect from T/NK to B / Myeloid cells, in [0, 1]: the B / Myeloid
    #: compound latent is ``c z + sqrt(1 - c^2) z'`` with ``z'`` independent and cell-type specific.
    #: 1 (demo) = the same latent; 0 = the B / Myeloid response is unrelated to the T/NK one
    carry_over: float = 1.0
    #: lineage distance of B / Myeloid from T/NK beyond ``bm_modulation``, in [0, 1]: the share of
    #: B / Myeloid gene-program variance replaced by cell-type-specific programs (0 = demo: same genes
    #: respond to a program; 1 = entirely different genes)
    lineage_distance: float = 0.0
    #: non-linear B / Myeloid response, in [0, 1]: each program's activation passes through a
    #: saturating (``tanh``) or sign-flipping (strong activation reverses) response, blended with the
    #: linear one by weight ``nonlinearity`` and rescaled to the linear one's size (0 = demo: linear)
    nonlinearity: float = 0.0

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"SimConfig.{name} must be {what}, got {getattr(self, name)!r}")

        check("seed", isinstance(self.seed, (int, np.integer)) and self.seed >= 0, "an integer >= 0")
        check("n_programs", isinstance(self.n_programs, (int, np.integer)) and self.n_programs >= 1,
              "an integer >= 1")
        for name in ("structure_weight", "noisy_row_frac", "carry_over", "lineage_distance", "nonlinearity"):
            check(name, 0.0 <= getattr(self, name) <= 1.0, "in [0, 1]")
        for name in ("effect_scale", "outlier_factor"):
            check(name, getattr(self, name) > 0, "> 0")
        for name in ("strength_sigma", "outlier_sigma", "skew", "noise_scale", "tnk_modulation",
                     "bm_modulation", "baseline_scale"):
            check(name, getattr(self, name) >= 0, ">= 0")
        check("noisy_row_factor", self.noisy_row_factor >= 1, ">= 1")
        check("t_df", self.t_df > 2, "> 2 (finite variance)")


#: cell types whose response departs from T/NK (the sparse ones of the real screen)
LINEAGE_CELL_TYPES: frozenset[str] = frozenset({B_CELLS, MYELOID})
#: seed tag of the random streams added for the family knobs (kept apart from the demo's streams)
_FAMILY_STREAM = 0x51A7


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
        e = cfg.bm_modulation if ct in LINEAGE_CELL_TYPES else cfg.tnk_modulation
        R = ct_rng.standard_normal((K, K)) / np.sqrt(K)
        M = np.eye(K) + e * (0.5 * shared_R + R)
        Q = ct_rng.standard_t(4, size=(K, g)) * (ct_rng.random((K, g)) < 0.2) * e
        b = cfg.baseline_scale * (np.abs(ct_rng.standard_normal(g)) * (1 + 2 * e))
        ct_state[ct] = (M, Q, b)
    family = _family_state(cfg, cell_types, fps, z, P, program_weight, strength, ct_state)

    c_index = {n: i for i, n in enumerate(names)}
    out = np.empty((len(pairs), g), dtype=np.float32)
    for r, (ct, sm) in enumerate(zip(pairs[CELL_TYPE], pairs[SM_NAME])):
        ci = c_index[sm]
        M, Q, b = ct_state[ct]
        row_rng = np.random.default_rng([cfg.seed, 1, abs(hash_str(ct)), ci])
        if ct not in family:  # the demo's response
            zc = z[ci]
            effect = cfg.effect_scale * strength[ci] * (zc @ M @ P + zc @ Q) + b
        else:
            z_ct, P_ct, act = family[ct]
            effect = cfg.effect_scale * (act[ci] @ P_ct + strength[ci] * (z_ct[ci] @ Q)) + b
        effect = effect + cfg.skew * np.abs(effect)
        noise_r = cfg.noise_scale * (1 + 0.5 * strength[ci] * is_out[ci])
        if row_rng.random() < cfg.noisy_row_frac:
            noise_r *= cfg.noisy_row_factor
        noise = row_rng.standard_t(cfg.t_df, size=g) * noise_r
        out[r] = (gene_scale * (effect + noise)).astype(np.float32)
    return out


#: kinds of per-program response in :func:`_response`
_SATURATING, _FLIPPING = 1, 2


def _family_state(
    cfg: SimConfig, cell_types: list[str], fps: np.ndarray, z: np.ndarray, P: np.ndarray,
    program_weight: np.ndarray, strength: np.ndarray, ct_state: dict[str, tuple[np.ndarray, ...]],
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The lineage cell types' own state, from the fingerprints ``fps``, the T/NK compound latents ``z``
    ``(n_c, K)``, gene programs ``P`` ``(K, g)``, program weights, compound strengths and the per-cell-type
    mixing matrices. Per lineage cell type: its compound latents ``(n_c, K)``, gene programs ``(K, g)``
    and program activations ``(n_c, K)`` (strength included, after the non-linear response). Empty at the
    demo's defaults (nothing drawn then).

    Each cell type draws from its own stream, always in the same order, so one knob's value never
    changes another knob's draws.
    """
    if cfg.carry_over == 1.0 and cfg.lineage_distance == 0.0 and cfg.nonlinearity == 0.0:
        return {}
    K, g = P.shape
    w, c, d = cfg.structure_weight, cfg.carry_over, cfg.lineage_distance
    centered = fps - fps.mean(0)
    out = {}
    for ct in cell_types:
        if ct not in LINEAGE_CELL_TYPES:
            continue
        rng = np.random.default_rng([cfg.seed, _FAMILY_STREAM, hash_str(ct)])
        proj = rng.standard_normal((fps.shape[1], K)).astype(np.float32)
        specific = _unit_rows(rng.standard_normal((fps.shape[0], K)))
        own = rng.standard_t(4, size=(K, g)) * (rng.random((K, g)) < 0.5)
        own /= np.maximum(own.std(axis=1, keepdims=True), 1e-12)
        kinds = rng.integers(_SATURATING, _FLIPPING + 1, size=K)
        z_own = (np.sqrt(w) * _unit_rows(centered @ proj) + np.sqrt(1 - w) * specific) * program_weight
        z_ct = c * z + np.sqrt(1 - c**2) * z_own
        P_ct = np.sqrt(1 - d) * P + np.sqrt(d) * own
        linear = strength[:, None] * (z_ct @ ct_state[ct][0]) / program_weight
        act = _response(linear, kinds, cfg.nonlinearity) * program_weight
        out[ct] = (z_ct, P_ct, act)
    return out


def _response(act: np.ndarray, kinds: np.ndarray, eta: float) -> np.ndarray:
    """Per-program response of ``(n_c, K)`` activations (in units of each program's typical size):
    saturating ``tanh(a)`` or sign-flipping ``a (1 - |a|) / (1 + |a|)`` (weak activations keep their
    sign, strong ones reverse) per program (``kinds``), blended with the linear response by ``eta``, then
    rescaled per program to the linear response's RMS over compounds (shape changes, size does not)."""
    if eta == 0.0:
        return act
    mag = np.abs(act)
    bent = np.where(kinds == _SATURATING, np.tanh(act), act * (1 - mag) / (1 + mag))
    mixed = (1 - eta) * act + eta * bent
    rms = lambda a: np.sqrt(np.mean(a**2, axis=0))  # noqa: E731
    return mixed * (rms(act) / np.maximum(rms(mixed), 1e-12))


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


def config_tag(cfg: SimConfig) -> str:
    """A short, stable tag naming a configuration in cache keys: ``s<seed>`` for the demo's knobs with
    any seed (so the demo's cache keys are unchanged), ``s<seed>-<digest>`` for any other setting."""
    if cfg == SimConfig(seed=cfg.seed):
        return f"s{cfg.seed}"
    text = json.dumps(asdict(cfg), sort_keys=True)
    return f"s{cfg.seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def simulate_demo(
    genes: tuple[str, ...] | None = None,
    compounds: list[str] | None = None,
    cfg: SimConfig = SimConfig(),
    name: str = DEMO_NAME,
) -> PerturbData:
    """Simulate the demo (optionally restricted to some genes and compounds), uncached.

    Returns a :class:`PerturbData` with the real train design, the real id_map and its simulated truth;
    its key names the configuration, so models trained on different settings are cached apart.
    """
    genes = tuple(genes) if genes is not None else assets.genes()
    comp, pairs, id_map = _design(compounds)
    both = pd.concat([pairs[[CELL_TYPE, SM_NAME]], id_map[[CELL_TYPE, SM_NAME]]], ignore_index=True)
    values = simulate_values(both, comp, _gene_scale(genes), cfg)
    X, truth = values[: len(pairs)], values[len(pairs):]
    return PerturbData(
        obs=_obs(pairs, comp), X=X, genes=genes, id_map=id_map, truth=truth, name=name,
        simulated=True, key=f"demo-v{SIM_VERSION}-{config_tag(cfg)}-g{len(genes)}-c{len(comp)}",
    )


def load_demo(cfg: SimConfig = SimConfig(), name: str = DEMO_NAME) -> PerturbData:
    """The full demo (614 train rows + 255 id_map rows x 18,211 genes), cached on disk after first use.

    Any other configuration is cached under its own file and key (see :func:`config_tag`).
    """
    tag = config_tag(cfg)
    path = cache_dir("demo") / f"demo_v{SIM_VERSION}_{tag.replace('s', 'seed', 1)}.npz"
    key = f"demo-v{SIM_VERSION}-{tag}"
    genes = assets.genes()
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                X, truth = z["X"], z["truth"]
            comp, pairs, id_map = _design(None)
            if X.shape == (len(pairs), len(genes)) and truth.shape == (len(id_map), len(genes)):
                return PerturbData(obs=_obs(pairs, comp), X=X, genes=genes, id_map=id_map, truth=truth,
                                   name=name, simulated=True, key=key)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("demo cache %s unreadable (%s); regenerating", path, exc)
    data = simulate_demo(cfg=cfg, name=name)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, X=data.X, truth=data.truth)
    return replace(data, key=key)


#: Named settings of the simulator family: they differ in the knobs and in the seed, and each keeps the
#: train matrix near the real value scale (std 2-3, mean row RMS 1.2-1.5, 6-7 % of |y| > 2).
#: Measured on the full design, train std / mean train row RMS / mean id_map-truth row RMS / mean
#: correlation of a shared compound's cell-type-centred B-cell and T/NK profiles:
#: demo 2.55 / 1.32 / 1.60 / 0.44; low-carry-over 2.16 / 1.25 / 1.36 / 0.21; high-carry-over
#: 2.05 / 1.17 / 1.08 / 0.40; far-lineage 2.93 / 1.26 / 1.32 / 0.27; chemistry-poor 2.15 / 1.25 / 1.50 /
#: 0.56; heavy-tails-rank3 2.89 / 1.46 / 1.47 / 0.41; nonlinear 1.95 / 1.27 / 2.12 / 0.38;
#: large-offsets 2.23 / 1.35 / 1.55 / 0.19 (median 0.20); mixed-hard 2.88 / 1.38 / 1.72 / 0.28.
SIM_SETTINGS: dict[str, SimConfig] = {
    # the calibrated demo
    "demo": SimConfig(),
    # B / Myeloid respond mostly in their own way: little of the T/NK effect carries over
    "low-carry-over": SimConfig(seed=1, carry_over=0.3),
    # most of the effect carries over and B / Myeloid modulate it only mildly
    "high-carry-over": SimConfig(seed=2, carry_over=0.9, bm_modulation=0.5),
    # B / Myeloid use largely different genes for the same programs, and modulate them more
    "far-lineage": SimConfig(seed=3, lineage_distance=0.6, bm_modulation=1.0, effect_scale=0.036),
    # chemistry explains little of the effect (new compounds are hard)
    "chemistry-poor": SimConfig(seed=4, structure_weight=0.15),
    # very heavy-tailed noise and only 3 gene programs
    "heavy-tails-rank3": SimConfig(seed=5, t_df=2.5, n_programs=3, noise_scale=0.085),
    # saturating / sign-flipping B / Myeloid programs: no linear map of T/NK statistics is right
    "nonlinear": SimConfig(seed=6, nonlinearity=0.9, carry_over=0.8, effect_scale=0.044),
    # large per-cell-type offsets (the cell-type mean explains more)
    "large-offsets": SimConfig(seed=7, baseline_scale=0.08, effect_scale=0.036),
    # a bit of everything: half carry-over, some lineage distance, weak chemistry, some non-linearity
    "mixed-hard": SimConfig(seed=8, carry_over=0.5, lineage_distance=0.4, structure_weight=0.3,
                            nonlinearity=0.4, effect_scale=0.035),
}


def sim_setting(name: str) -> SimConfig:
    """The configuration of a named setting of :data:`SIM_SETTINGS`; the error lists the names."""
    try:
        return SIM_SETTINGS[name]
    except KeyError:
        raise ValueError(f"unknown simulator setting {name!r}; choose from {', '.join(SIM_SETTINGS)}") from None


def simulate_setting(name: str, genes: tuple[str, ...] | None = None) -> PerturbData:
    """A full dataset (real train design + id_map + its truth) for the named setting, uncached.

    ``genes`` simulates only those genes (a different draw than the full run: use
    :func:`~scperturb_core.validation.evaluate.restrict_genes` on the full run for a subset of its genes).
    The dataset's key names the configuration, so models trained on it are cached apart from the demo.
    """
    cfg = sim_setting(name)
    label = DEMO_NAME if name == "demo" else f"simulated setting {name!r}"
    return simulate_demo(genes=genes, cfg=cfg, name=label)


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
