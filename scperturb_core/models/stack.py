"""The default predictor: a stack over the baselines, the readout and the networks, chosen on shift-true folds.

The test situation is "a compound measured in T/NK cells, predicted in B or Myeloid cells", and the
training file holds exactly that situation for the compounds measured in the sparse cell types
(:func:`~scperturb_core.validation.splits.shift_folds`). Everything here is decided on those folds:

1. **Out-of-fold candidates.** For each shift fold the feature pipeline, the group means and the
   networks are fitted on the fold's training rows only; the held-out rows get every candidate's
   prediction in gene space (:data:`CANDIDATES`). The networks record their prediction after every
   epoch, so the number of epochs of the final networks is the minimiser of the mean validation curve
   over the folds (each fold's own out-of-fold prediction uses the epoch chosen on the *other* folds).
2. **Stack.** Non-negative weights (no sum constraint, so the weights also shrink towards zero)
   minimise the MRRMSE of the out-of-fold rows exactly (per-row Gram matrices, L-BFGS-B with bounds),
   per target cell type or pooled, or the single best candidate -- whichever cross-fits best. The stack's honest score is
   cross-fitted (weights fitted on the other folds' rows). If it does not beat the best single
   baseline on the same rows, the predictor falls back to that baseline and says so (a baseline that
   is the same for every compound gets a :data:`TIE_BREAK` share of the compound mean, so compounds
   are still ranked as the plain compound mean ranks them).
3. **New molecules.** On leave-compounds-out folds, a new compound's prediction is
   ``cell-type mean + f(similarity) * (model - cell-type mean)`` with one factor in [0, 1] per Tanimoto
   similarity bin (monotone in similarity), chosen on those folds: the least-squares factors times
   :data:`NEW_SAFETY`, kept only when that rule, cross-fitted, beats the cell-type mean overall *and* in
   every fold; otherwise all factors are 0 (the cell-type mean).
4. **Intervals.** Half-width = ``multiplier * gene_scale * row_scale`` with the multiplier a quantile
   of ``|residual| / (gene_scale * row_scale)`` over cross-fitted out-of-fold residuals, per (measured
   compound, target cell type) or (new compound, similarity bin); coverage is measured cross-fitted too.
   ``row_scale`` (measured compounds; 1 for new ones) grows with the strength of the compound's measured
   response (:func:`row_strength`): the compounds measured in B / Myeloid cells include more strong,
   noisy responders than the ones the test asks for, so residuals pooled over them would make every
   interval too wide. Its exponent is fitted on the same out-of-fold rows (:func:`fit_row_scale`).

:class:`StackState` is the fitted, saved part; :func:`fit_stacked` builds it (with the final networks).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..validation.metrics import ranking_quality
from .features import FeaturePipeline
from .networks import build_model
from .train import History, TrainData, fit, predict_components, seed_everything
from .uncertainty import measurement_noise

log = logging.getLogger(__name__)

ZEROS, GENE_MEAN, CT_MEAN, COMPOUND_MEAN, ADDITIVE = "zeros", "gene mean", "cell-type mean", "compound mean", "additive"
READOUT = "readout (ridge)"
#: the baselines among the candidates (same names as :mod:`scperturb_core.validation.baselines`)
BASELINE_CANDIDATES: tuple[str, ...] = (ZEROS, GENE_MEAN, CT_MEAN, COMPOUND_MEAN, ADDITIVE)
#: every candidate of the stack, in display order (the networks follow the readout)
CANDIDATES: tuple[str, ...] = (*BASELINE_CANDIDATES, READOUT, "mlp", "transformer")
STACK = "stack"
#: key of the weights shared by cell types without their own
POOLED = "*"
#: interval levels stored with the model
LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
#: lower edges of the Tanimoto-similarity bins of new compounds
SIM_EDGES: tuple[float, ...] = (0.0, 0.3, 0.45, 0.6)
#: share of the fitted new-compound factors that is used. With few held-out compounds the fitted factor
#: is noisy and optimistic (the best member and bin are picked on the same rows); half of it still gains
#: whenever the true best factor exceeds a quarter of the fitted one, and keeps 3/4 of the gain when the
#: fit is right. Decided on the simulator family: the full factors were 0.4-3.4 % worse than the
#: cell-type mean on held-out compounds in 3 of 9 settings (bench/SUITE.md).
NEW_SAFETY = 0.5
#: baselines that predict the same value for every compound of a cell type
COMPOUND_AGNOSTIC: frozenset[str] = frozenset({ZEROS, GENE_MEAN, CT_MEAN})
#: weight of the compound mean added to a compound-agnostic fallback, so its ranking of compounds is the
#: plain compound-mean ranking rather than arbitrary ties (changes its values by ~0.1 %)
TIE_BREAK = 1e-3
#: fewest out-of-fold rows a cell type needs for its own stack weights / interval table
MIN_GROUP_ROWS = 6
#: a stack weight is at most this (the weights are not normalised; this only keeps the optimiser sane)
MAX_WEIGHT = 3.0
STACK_FORMAT = 1
#: the fold runs of the networks stop after at most this many epochs without a better validation score
FOLD_PATIENCE = 20


def sim_bin(sim: np.ndarray | float) -> np.ndarray:
    """Index of the similarity bin of each value (``SIM_EDGES``)."""
    return np.clip(np.searchsorted(np.asarray(SIM_EDGES), np.asarray(sim, dtype=np.float64), side="right") - 1,
                   0, len(SIM_EDGES) - 1)


# ------------------------------------------------------------------------------------ group means


@dataclass
class GroupMeans:
    """The baselines' fitted state in full gene space (float32): gene mean, cell-type and compound means.

    ``compounds`` follows the feature pipeline's compound order, so a resolved compound index serves both.
    """

    gene_mean: np.ndarray
    cell_types: list[str]
    ct_mean: np.ndarray
    compounds: list[str]
    comp_mean: np.ndarray

    @classmethod
    def fit(cls, obs: pd.DataFrame, X: np.ndarray, compounds: Sequence[str], cell_types: Sequence[str]) -> GroupMeans:
        X = np.asarray(X, dtype=np.float32)
        ct = obs[CELL_TYPE].astype(str).to_numpy()
        sm = obs[SM_NAME].astype(str).to_numpy()
        gm = X.mean(axis=0, dtype=np.float64)
        ctm = np.stack([X[ct == t].mean(axis=0, dtype=np.float64) if (ct == t).any() else gm for t in cell_types])
        cm = np.stack([X[sm == c].mean(axis=0, dtype=np.float64) if (sm == c).any() else gm for c in compounds])
        return cls(gm.astype(np.float32), list(cell_types), ctm.astype(np.float32), list(compounds),
                   cm.astype(np.float32))

    def predict(self, cell_types: Sequence[str], comp_idx: np.ndarray) -> dict[str, np.ndarray]:
        """The five baselines ``(n, g)`` float32; a compound index of -1 (new) uses the gene mean."""
        index = {t: i for i, t in enumerate(self.cell_types)}
        cti = np.array([index[t] for t in cell_types], dtype=np.int64)
        n, g = len(cti), len(self.gene_mean)
        ctm = self.ct_mean[cti] if n else np.zeros((0, g), np.float32)
        comp_idx = np.asarray(comp_idx, dtype=np.int64)
        cm = np.where((comp_idx >= 0)[:, None], self.comp_mean[np.maximum(comp_idx, 0)], self.gene_mean) if n else ctm
        return {ZEROS: np.zeros((n, g), np.float32), GENE_MEAN: np.broadcast_to(self.gene_mean, (n, g)).copy(),
                CT_MEAN: ctm.astype(np.float32), COMPOUND_MEAN: cm.astype(np.float32),
                ADDITIVE: (ctm + cm - self.gene_mean).astype(np.float32)}


def candidate_predictions(pipe: FeaturePipeline, means: GroupMeans, models: dict, cell_types: Sequence[str],
                          smiles: Sequence[str], names: Sequence[str | None] | None,
                          net_components: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every candidate's ``(n, g)`` float32 prediction and the resolved compound index (-1 = new).

    ``net_components`` (optional) replaces the networks' outputs by given components (out-of-fold epochs).
    """
    cell_types, smiles = list(cell_types), list(smiles)
    names = list(names) if names is not None else [None] * len(smiles)
    feats = pipe.transform(cell_types, smiles, names)
    comp_idx, _ = pipe.resolve(smiles, names)
    out = means.predict(cell_types, comp_idx)
    out[READOUT] = pipe.to_genes(feats.base)
    comps = net_components if net_components is not None else {k: predict_components(m, feats) for k, m in models.items()}
    for kind, c in comps.items():
        out[kind] = pipe.to_genes(c)
    return out, comp_idx


# ------------------------------------------------------------------------------------ weights


def row_grams(preds: Sequence[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row Gram matrices of ``m`` candidate predictions against the truth ``y`` ``(n, g)``.

    Returns ``G`` ``(n, m, m)`` (``P_i . P_j``), ``b`` ``(n, m)`` (``P_i . y``) and ``c`` ``(n,)`` (``y . y``),
    so a weighted mix ``w`` has row squared error ``w G w - 2 b w + c``.
    """
    P = np.stack([np.asarray(p, dtype=np.float32) for p in preds], axis=1)  # (n, m, g)
    y = np.asarray(y, dtype=np.float32)
    G = np.einsum("nig,njg->nij", P, P, dtype=np.float64)
    b = np.einsum("nig,ng->ni", P, y, dtype=np.float64)
    c = np.einsum("ng,ng->n", y, y, dtype=np.float64)
    return G, b, c


def mix_rmse(w: np.ndarray, G: np.ndarray, b: np.ndarray, c: np.ndarray, n_genes: int) -> np.ndarray:
    """Row RMSE ``(n,)`` of the mix ``w`` from the row Grams."""
    sq = np.einsum("i,nij,j->n", w, G, w) - 2 * b @ w + c
    return np.sqrt(np.maximum(sq, 0.0) / n_genes)


def fit_weights(G: np.ndarray, b: np.ndarray, c: np.ndarray, n_genes: int, start: np.ndarray) -> np.ndarray:
    """Non-negative weights minimising the MRRMSE of the rows (started at ``start``; never worse than it)."""
    if len(c) == 0:
        return start.copy()

    def obj(w):
        sq = np.maximum(np.einsum("i,nij,j->n", w, G, w) - 2 * b @ w + c, 1e-12)
        r = np.sqrt(sq / n_genes)
        grad = ((2 * np.einsum("nij,j->ni", G, w) - 2 * b) / (2 * r[:, None] * n_genes)).mean(axis=0)
        return r.mean(), grad

    res = minimize(obj, start, jac=True, method="L-BFGS-B", bounds=[(0.0, MAX_WEIGHT)] * len(start),
                   options={"maxiter": 500})
    w = np.asarray(res.x, dtype=np.float64)
    return w if obj(w)[0] <= obj(start)[0] else start.copy()


def _best_single(G, b, c, n_genes, allowed: np.ndarray) -> int:
    scores = [mix_rmse(np.eye(G.shape[1])[i], G, b, c, n_genes).mean() if allowed[i] else np.inf
              for i in range(G.shape[1])]
    return int(np.argmin(scores))


def fit_group_weights(G, b, c, n_genes: int, groups: np.ndarray, per_group: bool) -> dict[str, np.ndarray]:
    """Weights per group (cell type) with at least :data:`MIN_GROUP_ROWS` rows, plus the pooled ones."""
    allowed = np.ones(G.shape[1], dtype=bool)
    start = np.eye(G.shape[1])[_best_single(G, b, c, n_genes, allowed)]
    out = {POOLED: fit_weights(G, b, c, n_genes, start)}
    if per_group:
        for t in sorted(set(groups.tolist())):
            rows = groups == t
            if rows.sum() >= MIN_GROUP_ROWS:
                s = np.eye(G.shape[1])[_best_single(G[rows], b[rows], c[rows], n_genes, allowed)]
                out[t] = fit_weights(G[rows], b[rows], c[rows], n_genes, s)
    return out


#: how the stack weights are fitted; the one with the best cross-fitted score is used
VARIANTS: tuple[str, ...] = ("best candidate", "pooled", "per cell type")


def _variant_weights(variant: str, G, b, c, n_genes: int, groups: np.ndarray) -> dict[str, np.ndarray]:
    """``best candidate``: one-hot of the candidate with the lowest MRRMSE; ``pooled``: one non-negative
    mix for every cell type; ``per cell type``: one mix per cell type with enough rows."""
    if variant == "best candidate":
        return {POOLED: np.eye(G.shape[1])[_best_single(G, b, c, n_genes, np.ones(G.shape[1], dtype=bool))]}
    return fit_group_weights(G, b, c, n_genes, groups, variant == "per cell type")


def _restricted_weights(variant: str, G, b, c, n_genes: int, groups: np.ndarray,
                        idx: np.ndarray | None) -> dict[str, np.ndarray]:
    """:func:`_variant_weights` over the candidates ``idx`` only (all when None); the others get 0."""
    if idx is None:
        return _variant_weights(variant, G, b, c, n_genes, groups)
    sub = _variant_weights(variant, G[:, idx][:, :, idx], b[:, idx], c, n_genes, groups)
    out = {}
    for t, w in sub.items():
        full = np.zeros(G.shape[1])
        full[idx] = w
        out[t] = full
    return out


def apply_weights(weights: dict[str, np.ndarray], preds: Sequence[np.ndarray], groups: Sequence[str]) -> np.ndarray:
    """The mix of ``preds`` (``m`` arrays ``(n, g)``) with each row's group weights (pooled if absent)."""
    groups = list(groups)
    out = np.zeros_like(np.asarray(preds[0], dtype=np.float32))
    for t in set(groups):
        rows = np.array([gr == t for gr in groups])
        w = weights.get(t, weights[POOLED])
        out[rows] = sum(float(wi) * np.asarray(p[rows], dtype=np.float32) for wi, p in zip(w, preds) if wi != 0.0)
    return out


# ------------------------------------------------------------------------------------ shrinkage


def fit_shrinkage(model: np.ndarray, base: np.ndarray, y: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """One factor in [0, 1] per similarity bin, monotone non-decreasing in similarity (weighted PAVA).

    ``f_b = <m - c, y - c> / |m - c|^2`` over the rows of bin ``b`` (least squares), clipped; a bin without
    rows takes the pooled factor.
    """
    d = np.asarray(model, np.float64) - base
    e = np.asarray(y, np.float64) - base
    num_rows, den_rows = np.sum(d * e, axis=1), np.sum(d * d, axis=1)
    pooled = float(np.clip(num_rows.sum() / den_rows.sum(), 0, 1)) if den_rows.sum() > 0 else 0.0
    f, wts = np.full(len(SIM_EDGES), pooled), np.zeros(len(SIM_EDGES))
    for k in range(len(SIM_EDGES)):
        r = bins == k
        if r.sum() >= 2 and den_rows[r].sum() > 0:
            f[k] = float(np.clip(num_rows[r].sum() / den_rows[r].sum(), 0, 1))
            wts[k] = den_rows[r].sum()
    wts = np.where(wts > 0, wts, 1e-9)
    # pool adjacent violators (non-decreasing)
    blocks = [[f[k], wts[k], 1] for k in range(len(f))]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0] + 1e-12:
            v = (blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]) / (blocks[i][1] + blocks[i + 1][1])
            blocks[i] = [v, blocks[i][1] + blocks[i + 1][1], blocks[i][2] + blocks[i + 1][2]]
            del blocks[i + 1]
            i = max(i - 1, 0)
        else:
            i += 1
    return np.concatenate([[v] * cnt for v, _, cnt in blocks]).astype(np.float64)


def shrink(model: np.ndarray, base: np.ndarray, factors: np.ndarray, bins: np.ndarray) -> np.ndarray:
    return (base + factors[bins][:, None] * (np.asarray(model, np.float32) - base)).astype(np.float32)


# ------------------------------------------------------------------------------------ intervals


def gene_scale(X: np.ndarray) -> np.ndarray:
    """Per-gene scale of the intervals ``(g,)`` float32: the gene's sd over the training rows (floored)."""
    sd = np.asarray(X, dtype=np.float32).std(axis=0, dtype=np.float64)
    floor = max(float(np.median(sd)) * 0.05, 1e-6)
    return np.maximum(sd, floor).astype(np.float32)


def row_strength(comp_mean: np.ndarray, gene_mean: np.ndarray) -> np.ndarray:
    """Strength of each row's compound ``(n,)``: RMS over genes of its compound mean minus the gene mean
    (0 for a compound without measured rows, whose compound mean is the gene mean)."""
    d = np.asarray(comp_mean, np.float32) - np.asarray(gene_mean, np.float32)
    return np.sqrt(np.mean(d.astype(np.float64) ** 2, axis=1))


#: largest exponent of the row scale (residual RMS grows at most proportionally to the strength)
MAX_ROW_BETA = 1.0


def row_scale(strength: np.ndarray, beta: float, ref: float) -> np.ndarray:
    """``((strength + ref) / (2 ref)) ** beta`` ``(n,)``: 1 at the reference strength."""
    return ((np.asarray(strength, np.float64) + ref) / (2.0 * ref)) ** beta


def fit_row_scale(resid: np.ndarray, strength: np.ndarray) -> tuple[float, float]:
    """``(beta, ref)``: ``ref`` the median strength, ``beta`` the least-squares slope of the log row RMS of
    the residuals on the log of ``(strength + ref) / (2 ref)``, clipped to ``[0, MAX_ROW_BETA]``."""
    strength = np.asarray(strength, np.float64)
    ref = float(np.median(strength)) if len(strength) else 0.0
    if not np.isfinite(ref) or ref <= 0:
        return 0.0, 1.0
    r = _rmse_rows(resid, 0.0)
    ok = r > 0
    if ok.sum() < 3:
        return 0.0, ref
    x, yv = np.log((strength[ok] + ref) / (2 * ref)), np.log(r[ok])
    var = float(np.var(x))
    beta = float(np.cov(x, yv, bias=True)[0, 1] / var) if var > 1e-12 else 0.0
    return float(np.clip(beta, 0.0, MAX_ROW_BETA)), ref


def interval_multipliers(resid: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """``{level: quantile of |resid| / scale}`` over every value of ``resid`` ``(n, g)`` (``scale``
    broadcasts: ``(g,)`` or ``(n, g)``)."""
    z = (np.abs(np.asarray(resid, np.float32)) / scale).ravel()
    return {f"{lv:g}": float(np.quantile(z, lv)) for lv in LEVELS}


def _rmse_rows(y, p) -> np.ndarray:
    return np.sqrt(np.mean((np.asarray(y, np.float64) - p) ** 2, axis=1))


# ------------------------------------------------------------------------------------ state


@dataclass
class StackState:
    """What the default predictor needs besides the pipeline and the networks (saved with the model).

    Attributes:
        candidates: candidate names, in weight order.
        weights: per target cell type (and :data:`POOLED`) the non-negative weights of the candidates.
        fallback: the baseline predicted with when the stack did not beat it (None: the stack is used).
        means: the baselines' fitted state (gene mean, cell-type and compound means, full gene space).
        new_member: the candidate shrunk towards the cell-type mean for a new compound.
        shrink: factor per similarity bin (:data:`SIM_EDGES`).
        intervals: ``{"measured|<cell type or *>" or "new|<bin or *>": {level: multiplier}}``.
        scale: per-gene interval scale ``(g,)``; noise_sd: per-gene measurement noise ``(g,)``.
        row_beta, row_ref: the row scale of measured compounds (:func:`row_scale`; 0 = none).
        enabled: False for a model trained without shift-true folds (predicts with the network ensemble).
        report: validation facts (cross-validated table, coverage, epochs) for the Training page.
    """

    candidates: list[str]
    weights: dict[str, np.ndarray]
    fallback: str | None
    means: GroupMeans | None
    new_member: str
    shrink: np.ndarray
    intervals: dict[str, dict[str, float]]
    scale: np.ndarray
    noise_sd: np.ndarray
    enabled: bool = True
    report: dict = field(default_factory=dict)
    row_beta: float = 0.0
    row_ref: float = 1.0

    @property
    def message(self) -> str | None:
        if not self.enabled:
            return "trained without shift-true folds (no sparse cell type to validate on); predicting with the networks"
        if self.fallback:
            tie = (f" (compounds, which {self.fallback} does not tell apart, are ordered by their compound mean)"
                   if self.fallback in COMPOUND_AGNOSTIC else "")
            return (f"the stack did not beat {self.fallback} on shift-true validation; "
                    f"predicting with {self.fallback}{tie}")
        return None

    def weights_for(self, cell_type: str) -> np.ndarray:
        return self.weights.get(cell_type, self.weights[POOLED])

    def multiplier(self, level: float, measured: bool, cell_type: str, bin_: int) -> float:
        key = f"{level:g}"
        if measured:
            table = self.intervals.get(f"measured|{cell_type}") or self.intervals.get(f"measured|{POOLED}")
        else:
            table = self.intervals.get(f"new|{bin_}") or self.intervals.get(f"new|{POOLED}")
        if not table or key not in table:
            raise ValueError(f"no interval calibrated at level {level!r}; supported levels: {list(LEVELS)}")
        return float(table[key])

    # --- io: arrays for an npz, a JSON dict
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {"scale": self.scale.astype(np.float32), "noise_sd": self.noise_sd.astype(np.float32),
                  "shrink": np.asarray(self.shrink, np.float64)}
        meta = {"format": STACK_FORMAT, "enabled": self.enabled, "candidates": list(self.candidates),
                "weights": {k: [float(x) for x in v] for k, v in self.weights.items()}, "fallback": self.fallback,
                "new_member": self.new_member, "intervals": self.intervals, "report": self.report,
                "sim_edges": list(SIM_EDGES), "row_scale": {"beta": self.row_beta, "ref": self.row_ref}}
        if self.means is not None:
            arrays.update(gene_mean=self.means.gene_mean, ct_mean=self.means.ct_mean, comp_mean=self.means.comp_mean)
            meta["means"] = {"cell_types": self.means.cell_types, "compounds": self.means.compounds}
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict, n_genes: int) -> StackState:
        """Rebuild; ``ValueError`` (one line) names a missing or inconsistent piece."""
        if meta.get("format") != STACK_FORMAT:
            raise ValueError(f"unsupported stack format {meta.get('format')!r} (expected {STACK_FORMAT})")
        for key in ("enabled", "candidates", "weights", "fallback", "new_member", "intervals"):
            if key not in meta:
                raise ValueError(f"stack metadata lacks {key!r}")
        if list(meta.get("sim_edges", SIM_EDGES)) != list(SIM_EDGES):
            raise ValueError("stack similarity bins differ from this version's")
        for key in ("scale", "noise_sd", "shrink"):
            if key not in arrays:
                raise ValueError(f"stack arrays lack {key!r}")
        cands = [str(c) for c in meta["candidates"]]
        unknown = [c for c in cands if c not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown stack candidate {unknown[0]!r}")
        weights = {str(k): np.asarray(v, dtype=np.float64) for k, v in meta["weights"].items()}
        if POOLED not in weights and meta["enabled"]:
            raise ValueError("stack weights lack the pooled entry")
        for k, w in weights.items():
            if w.shape != (len(cands),) or not np.all(np.isfinite(w)) or (w < 0).any():
                raise ValueError(f"stack weights of {k!r} must be {len(cands)} finite non-negative numbers")
        scale, noise = np.asarray(arrays["scale"], np.float32), np.asarray(arrays["noise_sd"], np.float32)
        shr = np.asarray(arrays["shrink"], np.float64)
        for name, a, shape in (("scale", scale, (n_genes,)), ("noise_sd", noise, (n_genes,)),
                               ("shrink", shr, (len(SIM_EDGES),))):
            if a.shape != shape or not np.all(np.isfinite(a)):
                raise ValueError(f"stack array {name!r} must be finite with shape {shape}, got {a.shape}")
        means = None
        if "means" in meta:
            m = meta["means"]
            need = [k for k in ("gene_mean", "ct_mean", "comp_mean") if k not in arrays]
            if need:
                raise ValueError(f"stack arrays lack {need}")
            means = GroupMeans(np.asarray(arrays["gene_mean"], np.float32), list(m["cell_types"]),
                               np.asarray(arrays["ct_mean"], np.float32), list(m["compounds"]),
                               np.asarray(arrays["comp_mean"], np.float32))
            shapes = {"gene_mean": (n_genes,), "ct_mean": (len(means.cell_types), n_genes),
                      "comp_mean": (len(means.compounds), n_genes)}
            for name, shape in shapes.items():
                a = getattr(means, name)
                if a.shape != shape or not np.all(np.isfinite(a)):
                    raise ValueError(f"stack array {name!r} must be finite with shape {shape}, got {a.shape}")
        elif meta["enabled"]:
            raise ValueError("an enabled stack needs the baselines' state")
        intervals = {str(k): {str(lv): float(v) for lv, v in t.items()} for k, t in dict(meta["intervals"]).items()}
        rs = meta.get("row_scale", {"beta": 0.0, "ref": 1.0})  # absent in models saved before it existed
        try:
            beta, ref = float(rs["beta"]), float(rs["ref"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"stack row scale must be {{'beta': number, 'ref': number}}, got {rs!r}") from None
        if not (0.0 <= beta <= MAX_ROW_BETA and np.isfinite(ref) and ref > 0):
            raise ValueError(f"stack row scale out of range: beta {beta!r} (0..{MAX_ROW_BETA:g}), ref {ref!r} (> 0)")
        return cls(cands, weights, meta["fallback"], means, str(meta["new_member"]), shr, intervals, scale, noise,
                   bool(meta["enabled"]), dict(meta.get("report", {})), beta, ref)


def disabled_state(X: np.ndarray, report: dict | None = None) -> StackState:
    """The state of a model trained without shift-true folds: noise level only, no stack, no intervals."""
    return StackState([], {}, None, None, READOUT, np.zeros(len(SIM_EDGES)), {}, gene_scale(X),
                      measurement_noise(X), enabled=False, report=dict(report or {}))


# ------------------------------------------------------------------------------------ fitting


@dataclass
class _Fold:
    val_idx: np.ndarray
    cands: dict[str, np.ndarray]  # non-network candidates, gene space (n_val, g)
    traces: dict[str, list[np.ndarray]]  # network components per epoch (0 = untrained)
    curves: dict[str, list[float]]  # network validation MRRMSE per epoch (0 = untrained)
    pipe: FeaturePipeline
    sims: np.ndarray | None = None


def _rows(obs: pd.DataFrame, idx: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    q = obs.iloc[idx]
    return q[CELL_TYPE].astype(str).tolist(), q[SMILES].astype(str).tolist(), q[SM_NAME].astype(str).tolist()


def fit_fold(obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str], spec, train_idx: np.ndarray,
             val_idx: np.ndarray, members: Sequence[str], epochs: dict[str, int] | None = None,
             report: Callable[[float, str], None] | None = None, label: str = "fold",
             hide_names: bool = False) -> _Fold:
    """Fit features, group means and networks on ``train_idx`` only; predict the ``val_idx`` rows.

    With ``epochs=None`` the networks train on the fold's training rows, are scored on the held-out rows
    after every epoch (no weight is restored: the recorded per-epoch predictions are what is used) and
    stop after ``patience`` epochs without improvement; otherwise each network trains exactly
    ``epochs[kind]`` epochs without validation.
    ``hide_names``: the held-out compounds are queried by SMILES only (new molecules).
    """
    say = report or (lambda f, m: None)
    obs_tr = obs.iloc[train_idx].reset_index(drop=True)
    X_tr = np.asarray(X[train_idx])
    say(0.0, f"{label}: features")
    pipe = FeaturePipeline(spec.features).fit(obs_tr, X_tr, genes,
                                              on_step=lambda f, m: say(0.4 * f, f"{label}: features ({m})"))
    means = GroupMeans.fit(obs_tr, X_tr, pipe.compound_names, pipe.cell_types)
    targets, residual = pipe.targets(X_tr)
    data = TrainData(pipe.train_features(), targets, residual, len(genes))
    cts, smiles, names = _rows(obs, val_idx)
    q_names = [None] * len(names) if hide_names else names
    feats = pipe.transform(cts, smiles, q_names)
    comp_idx, _ = pipe.resolve(smiles, q_names)
    cands = means.predict(cts, comp_idx)
    cands[READOUT] = pipe.to_genes(feats.base)
    traces, curves = {}, {}
    val = None
    if epochs is None:
        vt, vr = pipe.targets(np.asarray(X[val_idx]))
        val = TrainData(feats, vt, vr, len(genes))
    for m_i, kind in enumerate(members):
        cfg = spec.mlp if kind == "mlp" else spec.transformer
        seed_everything(spec.train.seed)
        model = build_model(kind, pipe.dims(), cfg)
        n_ep = spec.train.epochs if epochs is None else max(epochs[kind], 1)

        def on_ep(k, ep, hist, m_i=m_i, n_ep=n_ep):
            if ep % 10 == 0 or ep == n_ep:
                say(0.4 + 0.6 * (m_i + ep / n_ep) / len(members), f"{label}: {k} epoch {ep}")

        if epochs is None:
            trace: list[np.ndarray] = []
            fold_cfg = replace(spec.train, min_epochs=0, patience=min(spec.train.patience, FOLD_PATIENCE))
            hist = fit(model, data, fold_cfg, val, on_epoch=on_ep, val_trace=trace)
            traces[kind] = trace
            curves[kind] = [hist.initial_val_loss, *hist.val_loss]
        else:
            e = epochs[kind]
            if e > 0:
                fit(model, data, replace(spec.train, epochs=e, min_epochs=min(spec.train.min_epochs, e)),
                    None, on_epoch=on_ep)
            traces[kind] = [predict_components(model, feats)]
    sims = None
    if hide_names:
        sims = np.array([nb[0][1] if nb else 0.0 for nb in pipe.nearest(smiles, k=1)], dtype=np.float64)
    return _Fold(np.asarray(val_idx), cands, traces, curves, pipe, sims)


def choose_epochs(folds: Sequence[_Fold], kind: str, exclude: int | None = None) -> int:
    """The epoch minimising the mean validation curve over the folds (``exclude``: one fold left out)."""
    curves = [f.curves[kind] for i, f in enumerate(folds) if i != exclude and kind in f.curves]
    if not curves:
        curves = [f.curves[kind] for f in folds if kind in f.curves]
    n = min(len(c) for c in curves)
    mean = np.mean([np.asarray(c[:n], dtype=np.float64) for c in curves], axis=0)
    return int(np.argmin(mean))


def _ranking(y, p, groups) -> dict[str, float]:
    r = ranking_quality(y, p, groups)
    return {"spearman": r["spearman"], "precision_at_k": r["precision_at_k"]}


def fit_stacked(obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str], spec, folds, lco_folds,
                on_progress: Callable[[float, str], None] | None = None, on_epoch=None):
    """Shift-true folds -> epochs, stack, shrinkage, intervals; then the final fit on all rows.

    Returns ``(pipeline, models, member_weights, histories, info, state)`` for a Predictor.
    """
    last = [0.0]

    def say(frac: float, msg: str) -> None:  # monotone, whatever the rounding of the step arithmetic
        last[0] = min(max(last[0], float(frac)), 1.0)
        if on_progress is not None:
            on_progress(last[0], msg)

    members = spec.members
    n_genes = len(genes)
    X = np.asarray(X, dtype=np.float32)
    t0 = time.perf_counter()
    n_steps = len(folds) + len(lco_folds) + 1
    # ---- 1. shift folds
    shift: list[_Fold] = []
    for i, f in enumerate(folds):
        lo = i / n_steps
        shift.append(fit_fold(obs, X, genes, spec, f.train_idx, f.val_idx, members,
                              report=lambda fr, m, lo=lo: say(lo + fr / n_steps, m), label=f"shift fold {i + 1}/{len(folds)}"))
    epochs = {k: choose_epochs(shift, k) for k in members}
    oof_idx = np.concatenate([f.val_idx for f in shift])
    y = X[oof_idx]
    cts = obs[CELL_TYPE].astype(str).to_numpy()[oof_idx]
    fold_of = np.concatenate([np.full(len(f.val_idx), i) for i, f in enumerate(shift)])
    cands = list(BASELINE_CANDIDATES) + [READOUT] + list(members)
    P = {c: np.concatenate([f.cands[c] for f in shift]) for c in cands if c in shift[0].cands}
    for kind in members:
        parts = []
        for i, f in enumerate(shift):
            e = min(choose_epochs(shift, kind, exclude=i), len(f.traces[kind]) - 1)
            parts.append(f.pipe.to_genes(f.traces[kind][e]))
        P[kind] = np.concatenate(parts)
    say(len(folds) / n_steps, "stacking on the shift-true folds")
    G, b, c = row_grams([P[k] for k in cands], y)
    single = {k: float(mix_rmse(np.eye(len(cands))[j], G, b, c, n_genes).mean()) for j, k in enumerate(cands)}
    def cross_fit(idx: np.ndarray | None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Cross-fitted stack predictions and scores of every variant (over the candidates ``idx``)."""
        preds, scores = {}, {}
        for v in VARIANTS:
            pred = np.zeros_like(y)
            for i in range(len(shift)):
                tr, te = fold_of != i, fold_of == i
                w = _restricted_weights(v, G[tr], b[tr], c[tr], n_genes, cts[tr], idx)
                pred[te] = apply_weights(w, [P[k][te] for k in cands], cts[te])
            preds[v], scores[v] = pred, float(_rmse_rows(y, pred).mean())
        return preds, scores

    # cross-fitted stack (best candidate, pooled, per cell type)
    cand_idx = None
    cv_pred, cv_score = cross_fit(cand_idx)
    variant = min(VARIANTS, key=lambda v: cv_score[v])  # ties go to the simpler variant (VARIANTS order)
    # ranking guard: a biologist ranks compounds; if the model-based candidates order the held-out
    # compounds worse than their plain compound mean does, keep the baselines only (their ordering of
    # compounds within a cell type is the compound mean's)
    rank_cm = _ranking(y, P[COMPOUND_MEAN], cts)["spearman"]
    rank_stack = _ranking(y, cv_pred[variant], cts)["spearman"]
    ranking_guard = bool(np.isfinite(rank_cm) and np.isfinite(rank_stack) and rank_stack < rank_cm)
    if ranking_guard:
        cand_idx = np.array([j for j, k in enumerate(cands) if k in BASELINE_CANDIDATES])
        cv_pred, cv_score = cross_fit(cand_idx)
        variant = min(VARIANTS, key=lambda v: cv_score[v])
    stack_cv = cv_score[variant]
    best_base = min(BASELINE_CANDIDATES, key=lambda k: single[k])
    use_stack = stack_cv < single[best_base] - 1e-9
    if use_stack:
        weights = _restricted_weights(variant, G, b, c, n_genes, cts, cand_idx)
        varying = [cands.index(k) for k in cands if k not in COMPOUND_AGNOSTIC]
        for t, w in weights.items():  # no compound-varying weight left: order compounds by their mean
            if not np.any(w[varying] > 0):
                weights[t] = w + TIE_BREAK * np.eye(len(cands))[cands.index(COMPOUND_MEAN)]
        final_oof = cv_pred[variant]
    else:
        w = np.eye(len(cands))[cands.index(best_base)]
        if best_base in COMPOUND_AGNOSTIC:  # same value for every compound: order them by the compound mean
            w = w + TIE_BREAK * np.eye(len(cands))[cands.index(COMPOUND_MEAN)]
        weights = {POOLED: w}
        final_oof = apply_weights(weights, [P[k] for k in cands], cts)
    # member weights for the plain ensemble (kept for predict_members users): convex grid on OOF
    member_w = _member_weights(P, members, y)
    table = {k: {"mrrmse": v} for k, v in single.items()}
    table[STACK] = {"mrrmse": stack_cv}
    if len(members) > 1:
        ens = sum(member_w[k] * P[k] for k in members)
        table["ensemble"] = {"mrrmse": float(_rmse_rows(y, ens).mean())}
    for k in table:
        p = cv_pred[variant] if k == STACK else (ens if k == "ensemble" else P[k])
        table[k].update(_ranking(y, p, cts))
        table[k]["ratio"] = table[k]["mrrmse"] / single[best_base]
    # ---- 2. intervals for measured compounds (cross-fitted residuals of the predictor as shipped)
    scale = gene_scale(X)
    resid = y - final_oof
    strength = row_strength(P[COMPOUND_MEAN], P[GENE_MEAN])
    row_beta, row_ref = fit_row_scale(resid, strength)
    norm = resid / row_scale(strength, row_beta, row_ref)[:, None].astype(np.float32)
    intervals: dict[str, dict[str, float]] = {f"measured|{POOLED}": interval_multipliers(norm, scale)}
    for t in sorted(set(cts.tolist())):
        if (cts == t).sum() >= MIN_GROUP_ROWS:
            intervals[f"measured|{t}"] = interval_multipliers(norm[cts == t], scale)
    cover_m = _coverage(resid, scale, fold_of, cts, measured=True, strength=strength)
    # ---- 3. new molecules (leave-compounds-out folds, epochs fixed)
    new_member, shrink_f, new_report, cover_n = READOUT, np.zeros(len(SIM_EDGES)), {}, {}
    if lco_folds:
        lco = []
        base_frac = len(folds) / n_steps
        for i, f in enumerate(lco_folds):
            lo = base_frac + i / n_steps
            lco.append(fit_fold(obs, X, genes, spec, f.train_idx, f.val_idx, members, epochs=epochs,
                                report=lambda fr, m, lo=lo: say(lo + fr / n_steps, m),
                                label=f"new-compound fold {i + 1}/{len(lco_folds)}", hide_names=True))
        new_member, shrink_f, new_report, resid_n, bins_n, fold_n = _fit_new(lco, X, members)
        for k in range(len(SIM_EDGES)):
            if (bins_n == k).sum() >= 2:
                intervals[f"new|{k}"] = interval_multipliers(resid_n[bins_n == k], scale)
        intervals[f"new|{POOLED}"] = interval_multipliers(resid_n, scale)
        cover_n = _coverage(resid_n, scale, fold_n, bins_n.astype(str), measured=False)
    else:
        intervals[f"new|{POOLED}"] = intervals[f"measured|{POOLED}"]
    cv_seconds = time.perf_counter() - t0
    # ---- 4. final fit on all rows
    lo = (n_steps - 1) / n_steps
    say(lo, "final fit: features")
    t1 = time.perf_counter()
    pipe = FeaturePipeline(spec.features).fit(obs, X, genes, on_step=lambda f, m: say(lo + 0.4 * f / n_steps,
                                                                                      f"final fit: features ({m})"))
    feat_seconds = time.perf_counter() - t1
    means = GroupMeans.fit(obs, X, pipe.compound_names, pipe.cell_types)
    targets, residual = pipe.targets(X)
    data = TrainData(pipe.train_features(), targets, residual, n_genes)
    models, histories = {}, {}
    for m_i, kind in enumerate(members):
        cfg = spec.mlp if kind == "mlp" else spec.transformer
        seed_everything(spec.train.seed)
        model = build_model(kind, pipe.dims(), cfg)
        e = epochs[kind]
        if e > 0:
            def cb(k, ep, hist, m_i=m_i, e=e):
                say(lo + (0.4 + 0.55 * (m_i + ep / e) / len(members)) / n_steps, f"final fit: {k} epoch {ep}")
                if on_epoch is not None:
                    on_epoch(k, ep, hist)
            histories[kind] = fit(model, data, replace(spec.train, epochs=e, min_epochs=min(spec.train.min_epochs, e)),
                                  None, on_epoch=cb)
        else:
            model.eval()
            histories[kind] = History(best_epoch=0)
        models[kind] = model
    say(lo + 0.97 / n_steps, "measurement noise")
    noise = measurement_noise(X)
    info_stack = {
        "validation": "shift-true folds", "folds": len(folds), "oof_rows": int(len(oof_idx)),
        "cv": table, "variant": variant, "best_baseline": best_base, "uses_stack": bool(use_stack),
        "ranking_guard": {"applied": ranking_guard, "stack_spearman": rank_stack, "compound_mean_spearman": rank_cm},
        "epochs": epochs, "fold_curves": {k: _mean_curve(shift, k) for k in members},
        "coverage": {"measured": cover_m, "new": cover_n}, "new_compound": new_report,
        "cv_seconds": round(cv_seconds, 3),
    }
    info_stack = _finite_or_none(info_stack)
    info_stack["row_scale"] = {"beta": row_beta, "ref": row_ref}
    state = StackState(cands, weights, None if use_stack else best_base, means, new_member, shrink_f, intervals,
                       scale, noise, True, info_stack, row_beta, row_ref)
    info = {"n_rows": int(len(obs)), "n_val_rows": int(len(oof_idx)), "feature_seconds": round(feat_seconds, 3),
            "train_seconds": {k: round(h.seconds, 3) for k, h in histories.items()},
            "readout_alpha": pipe.readout_alpha, "cv_seconds": round(cv_seconds, 3),
            "val_mrrmse": {k: v["mrrmse"] for k, v in table.items()},
            "stack": {"uses_stack": bool(use_stack), "fallback": None if use_stack else best_base,
                      "message": state.message, "variant": variant, "ranking_guard": ranking_guard,
                      "weights": {t: {cands[j]: round(float(w[j]), 4) for j in range(len(cands)) if w[j] > 0}
                                  for t, w in weights.items()}},
            "epochs": epochs, "coverage": info_stack["coverage"], "new_compound": new_report}
    say(1.0, "done")
    return pipe, models, member_w, histories, _finite_or_none(info), state


def _finite_or_none(obj):
    """``obj`` with every NaN / inf float replaced by None (JSON without NaN; e.g. a ranking on too few rows)."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _mean_curve(folds, kind) -> list[float]:
    curves = [f.curves[kind] for f in folds if kind in f.curves]
    n = min(len(c) for c in curves)
    return [float(v) for v in np.mean([np.asarray(c[:n]) for c in curves], axis=0)]


def _member_weights(P, members, y) -> dict[str, float]:
    if len(members) == 1:
        return {members[0]: 1.0}
    a, b = P[members[0]], P[members[1]]
    best_w, best = 0.5, math.inf
    for w in sorted(np.round(np.arange(0, 1.0001, 0.05), 6), key=lambda v: abs(v - 0.5)):
        s = float(_rmse_rows(y, w * a + (1 - w) * b).mean())
        if s < best - 1e-12:
            best_w, best = float(w), s
    return {members[0]: best_w, members[1]: round(1.0 - best_w, 6)}


def _coverage(resid: np.ndarray, scale: np.ndarray, fold_of: np.ndarray, groups: np.ndarray, measured: bool,
              strength: np.ndarray | None = None) -> dict:
    """Cross-fitted coverage: each fold's residuals against multipliers (and, given ``strength``, the row
    scale) fitted on the other folds."""
    out = {}
    for lv in (0.8, 0.9):
        hit, tot = 0, 0
        for i in sorted(set(fold_of.tolist())):
            te, tr = fold_of == i, fold_of != i
            if not tr.any():
                continue
            rs = np.ones(len(resid))
            if strength is not None:
                rs = row_scale(strength, *fit_row_scale(resid[tr], strength[tr]))
            norm = np.abs(resid) / rs[:, None]
            for gr in sorted(set(groups[te].tolist())):
                rows_tr = tr & (groups == gr)
                if rows_tr.sum() < (MIN_GROUP_ROWS if measured else 2):
                    rows_tr = tr
                m = float(np.quantile((norm[rows_tr] / scale).ravel(), lv))
                rows_te = te & (groups == gr)
                hit += int((norm[rows_te] <= m * scale).sum())
                tot += int(rows_te.sum()) * resid.shape[1]
        out[f"{lv:g}"] = hit / tot if tot else float("nan")
    return out


def _fit_new(lco: list[_Fold], X: np.ndarray, members: Sequence[str]):
    """Choose the new-compound model and its shrinkage on the leave-compounds-out folds."""
    y = np.concatenate([X[f.val_idx] for f in lco])
    base = np.concatenate([f.cands[CT_MEAN] for f in lco])
    sims = np.concatenate([f.sims for f in lco])
    bins = sim_bin(sims)
    fold_of = np.concatenate([np.full(len(f.val_idx), i) for i, f in enumerate(lco)])
    options = {READOUT: np.concatenate([f.cands[READOUT] for f in lco])}
    for kind in members:
        options[kind] = np.concatenate([f.pipe.to_genes(f.traces[kind][-1]) for f in lco])
    base_rows = _rmse_rows(y, base)
    base_score = float(base_rows.mean())
    folds = range(len(lco))
    scores, cf, every_fold = {}, {}, {}
    for name, m in options.items():
        pred = np.zeros_like(y)
        for i in folds:
            tr, te = fold_of != i, fold_of == i
            factors = NEW_SAFETY * fit_shrinkage(m[tr], base[tr], y[tr], bins[tr])
            pred[te] = shrink(m[te], base[te], factors, bins[te])
        rows = _rmse_rows(y, pred)
        cf[name], scores[name] = pred, float(rows.mean())
        every_fold[name] = all(rows[fold_of == i].mean() < base_rows[fold_of == i].mean() for i in folds)
    best = min(scores, key=scores.get)
    adopted = scores[best] < base_score - 1e-9 and every_fold[best]
    if adopted:
        factors = NEW_SAFETY * fit_shrinkage(options[best], base, y, bins)
        resid = y - cf[best]
    else:
        factors = np.zeros(len(SIM_EDGES))
        resid = y - base
    report = {"rows": int(len(y)), "cell-type mean": base_score, "member": best,
              "shrunk (cross-fitted)": {k: v for k, v in scores.items()},
              "beats the cell-type mean in every fold": every_fold, "safety": NEW_SAFETY,
              "ratio": (scores[best] if adopted else base_score) / base_score,
              "factors": [round(float(v), 4) for v in factors], "sim_edges": list(SIM_EDGES),
              "rows_per_bin": [int((bins == k).sum()) for k in range(len(SIM_EDGES))]}
    return best, factors, report, resid, bins, fold_of
