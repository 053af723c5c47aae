"""Rank compounds for chosen genes in chosen cell types, and by reversal of a disease signature.

Values come from a :class:`ValueCube`: every (compound, cell type) pair of a dataset, **measured**
where the pair is a training row of the data, **predicted** by the ensemble model otherwise (only the
missing pairs are predicted, once, in batches). All values are signed -log10 p of differential
expression (positive = up).

**One scale for measured and predicted pairs.** Every value carries an interval at level
:data:`INTERVAL_LEVEL` (80%): a measured value ``v`` of gene ``j`` gets ``v +- z * noise_sd[j]`` (the
per-gene measurement noise, :func:`scperturb_core.models.uncertainty.measurement_noise` or the predictor's
``noise_sd``); a predicted value gets the model's calibrated interval (``predict_interval``). Models
saved before calibration existed fall back to ``estimate +- spread / 2`` with the MLP-vs-Transformer
spread, labelled "uncalibrated" (:func:`interval_label`). For a gene set, the interval of the mean is
the mean of the per-gene bounds: exact when the genes' errors are perfectly correlated, conservative
(wider) otherwise -- model errors across genes are strongly correlated, so independence would
overstate the confidence.

Two scores (formulas in :func:`target_score` and :func:`reversal_scores`):

* target score: how strongly a compound pushes the chosen genes **down**, penalised for moving a
  keep-set of genes; ranked by its lower bound (confidence, the default) or by the estimate, with a
  significance call per pair (:func:`rank_compounds`);
* reversal score: a connectivity-style (CMap/CLUE WTCS) score of how well a compound's whole profile
  reverses a disease signature given as up- and down-regulated gene lists, with its own uncertainty
  (in connectivity units) from resampling the profiles within their intervals.

This module never imports streamlit; a predictor is anything that satisfies :class:`PredictorLike`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..data import PerturbData
from ..genes import resolve_genes

log = logging.getLogger(__name__)

#: default weight (lambda) of the keep-set penalty in :func:`target_score`
KEEP_WEIGHT = 1.0
#: pairs per predictor call when filling a cube
PREDICT_BATCH = 256
#: gene value columns shown in a ranking table (beyond this many chosen genes they are omitted)
MAX_VALUE_COLUMNS = 20
#: coverage of every interval (measured and predicted)
INTERVAL_LEVEL = 0.8
#: default significance threshold in the data's units: |signed -log10 p| >= 1.3 is p < 0.05
SIGNIFICANCE = 1.3
#: ranking modes of :func:`rank_compounds`
BY_CONFIDENCE = "confidence"
BY_ESTIMATE = "estimate"
RANK_MODES = (BY_CONFIDENCE, BY_ESTIMATE)
#: resampling draws and seed of the reversal score's uncertainty
REVERSAL_DRAWS = 16
REVERSAL_SEED = 0

# source of a (compound, cell type) value
MISSING, MEASURED, PREDICTED = 0, 1, 2
SOURCE_NAMES = {MISSING: "missing", MEASURED: "measured", PREDICTED: "predicted"}

# columns of the ranking tables
RANK = "rank"
SCORE = "score"
TARGET_MEAN = "target_mean"
KEEP_MEAN_ABS = "keep_mean_abs"
SOURCE = "source"
UNCERTAINTY = "uncertainty"
ES_UP = "es_up"
ES_DOWN = "es_down"
SCORE_LOWER = "score_lower"
SCORE_UPPER = "score_upper"
TARGET_LOWER = "target_lower"
TARGET_UPPER = "target_upper"
P_DOWN = "p_down"
P_REVERSE = "p_reverse"
CALL = "call"
STRENGTH = "strength"
# values of the CALL column
HIT = "hit"
CANDIDATE = "candidate"
WRONG_WAY = "wrong way"


def z_value(level: float = INTERVAL_LEVEL) -> float:
    """Two-sided normal quantile: an interval ``+- z * sd`` covers ``level`` (1.2816 at 80%)."""
    if not 0 < level < 1:
        raise ValueError(f"interval level must be between 0 and 1, got {level!r}")
    return float(ndtri(0.5 + level / 2))


def has_intervals(predictor: object | None) -> bool:
    """True when ``predictor`` offers calibrated intervals (``predict_interval``; a Predictor trained
    without shift-true folds has the method but no intervals: ``stacked`` is False)."""
    return callable(getattr(predictor, "predict_interval", None)) and getattr(predictor, "stacked", True) is not False


@runtime_checkable
class PredictorLike(Protocol):
    """What ranking and discovery need from a trained predictor (``scperturb_core.models.predictor.Predictor``).

    Attributes:
        genes: the ``g`` output genes, in column order.
        cell_types: cell types the models can predict.
        compounds: the training compounds (columns ``sm_name``, ``SMILES``).

    Optional: a ``weights`` mapping (member name -> ensemble weight, summing to 1). When present and
    naming exactly the members, the ensemble is taken as the weighted mean of the members (the real
    predictor's ensemble is affine in its members), so one pass of the models gives both.

    Optional, for calibrated intervals: ``predict_interval(cell_types, smiles, names=None, level=0.8)
    -> (estimate, lower, upper)`` and ``noise_sd`` (``(g,)`` measured-value noise per gene). Without
    them the member spread serves as an uncalibrated interval (:func:`predict_with_interval`).
    """

    genes: tuple[str, ...]
    cell_types: list[str]
    compounds: pd.DataFrame

    def predict(self, cell_types: Sequence[str], smiles: Sequence[str],
                names: Sequence[str | None] | None = None) -> np.ndarray:
        """Ensemble prediction, float32 ``(n, g)`` for the ``n`` pairs ``(cell_types[i], smiles[i])``."""
        ...

    def predict_members(self, cell_types: Sequence[str], smiles: Sequence[str],
                        names: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """Each ensemble member's ``(n, g)`` prediction, keyed by member name."""
        ...

    def nearest(self, smiles: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """For each SMILES, the ``k`` most similar training compounds as ``(name, tanimoto)``."""
        ...


def predict_with_spread(predictor: PredictorLike, cell_types: Sequence[str], smiles: Sequence[str],
                        names: Sequence[str | None] | None = None,
                        batch: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble prediction and member spread for ``n`` pairs, in batches of ``batch``.

    Returns:
        ``(values, spread)``, both float32 ``(n, g)``; ``spread`` = max - min over the members
        (``|mlp - transformer|`` for two members; 0 with a single member). ``values`` is
        ``sum_k weights[k] * member_k`` when the predictor has matching ``weights`` and is not a stack,
        else ``predict()``.
    """
    n = len(cell_types)
    if len(smiles) != n or (names is not None and len(names) != n):
        raise ValueError(f"predict_with_spread: {n} cell types but {len(smiles)} SMILES")
    g = len(predictor.genes)
    values = np.empty((n, g), dtype=np.float32)
    spread = np.empty((n, g), dtype=np.float32)
    for start in range(0, n, batch):
        sl = slice(start, min(start + batch, n))
        cts, smi = list(cell_types[sl]), list(smiles[sl])
        nm = None if names is None else list(names[sl])
        by_name = predictor.predict_members(cts, smi, nm)
        members = list(by_name.values())
        weights = getattr(predictor, "weights", None)
        if isinstance(weights, Mapping) and set(weights) == set(by_name) and not getattr(predictor, "stacked", False):
            values[sl] = sum(np.float32(weights[k]) * m for k, m in by_name.items())
        else:
            values[sl] = predictor.predict(cts, smi, nm)
        if len(members) > 1:
            stack = np.stack(members)
            spread[sl] = stack.max(axis=0) - stack.min(axis=0)
        else:
            spread[sl] = 0.0
    return values, spread


def predict_with_interval(predictor: PredictorLike, cell_types: Sequence[str], smiles: Sequence[str],
                          names: Sequence[str | None] | None = None, level: float = INTERVAL_LEVEL,
                          batch: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Estimate and interval for ``n`` pairs, in batches of ``batch``.

    Returns:
        ``(values, lower, upper, calibrated)``, the arrays float32 ``(n, g)``. With a predictor that
        has ``predict_interval`` the interval is its calibrated ``level`` interval (``calibrated``
        True); otherwise the fallback ``values +- spread / 2`` from :func:`predict_with_spread`
        (``calibrated`` False: an uncalibrated interval, whatever ``level`` says).
    """
    n = len(cell_types)
    if len(smiles) != n or (names is not None and len(names) != n):
        raise ValueError(f"predict_with_interval: {n} cell types but {len(smiles)} SMILES")
    if not has_intervals(predictor):
        values, spread = predict_with_spread(predictor, cell_types, smiles, names, batch=batch)
        half = spread / 2
        return values, values - half, values + half, False
    g = len(predictor.genes)
    out = [np.empty((n, g), dtype=np.float32) for _ in range(3)]
    for start in range(0, n, batch):
        sl = slice(start, min(start + batch, n))
        nm = None if names is None else list(names[sl])
        est, lo, hi = predictor.predict_interval(list(cell_types[sl]), list(smiles[sl]), nm, level=level)
        out[0][sl], out[1][sl], out[2][sl] = est, np.minimum(lo, est), np.maximum(hi, est)
    return out[0], out[1], out[2], True


_noise_cache: dict[str, np.ndarray] = {}
_noise_guard = threading.Lock()


def noise_level(data_X: np.ndarray, predictor: object | None = None, key: str = "") -> np.ndarray:
    """Per-gene measured-value noise ``(g,)``: the predictor's ``noise_sd`` when it has one of the
    right length, else :func:`scperturb_core.models.uncertainty.measurement_noise` of the data (an SVD of the
    whole matrix: computed once per ``key`` -- the dataset's content hash -- and kept in memory)."""
    sd = getattr(predictor, "noise_sd", None)
    if sd is not None:
        sd = np.asarray(sd, dtype=np.float32).reshape(-1)
        if sd.shape[0] == data_X.shape[1]:
            return sd
    from ..models.uncertainty import measurement_noise

    if data_X.shape[0] == 0:
        return np.zeros(data_X.shape[1], dtype=np.float32)
    cache_key = f"{key}:{data_X.shape}" if key else ""
    with _noise_guard:
        if cache_key and cache_key in _noise_cache:
            return _noise_cache[cache_key]
        noise = measurement_noise(data_X)
        if cache_key:
            _noise_cache[cache_key] = noise
    return noise


def interval_label(calibrated: bool | None, level: float = INTERVAL_LEVEL) -> str:
    """How the interval columns were made, for tables and exports.

    ``calibrated`` None: measured values only (no model)."""
    pct = f"{level:.0%}"
    if calibrated is None:
        return f"{pct} measured: +- z x measurement noise"
    if calibrated:
        return f"{pct} measured: +- z x measurement noise; predicted: calibrated model interval"
    return (f"{pct} measured: +- z x measurement noise; predicted: UNCALIBRATED "
            "(+- half the MLP-vs-Transformer spread)")


# ------------------------------------------------------------------------------------ the cube


@dataclass(eq=False)
class ValueCube:
    """Values of every (compound, cell type) pair: measured rows of the data, predictions elsewhere.

    Attributes:
        compounds: ``C`` rows (sm_name, SMILES), the data's compounds in first-appearance order.
        cell_types: the ``T`` cell types.
        genes: the ``g`` genes (the data's order).
        measured: ``(n_measured, g)`` float32, the data's ``X`` (not copied).
        predicted: ``(n_predicted, g)`` float32 ensemble predictions of the unmeasured pairs.
        spread: ``(n_predicted, g)`` float32 width of those predictions' intervals (``upper - lower``;
            the member spread for uncalibrated models).
        source: ``(C, T)`` int8, :data:`MEASURED`, :data:`PREDICTED` or :data:`MISSING`.
        row: ``(C, T)`` int64, the row in ``measured`` or ``predicted`` (-1 when missing).
        key: a label for caches (data key + model label).
        lower, upper: ``(n_predicted, g)`` float32 interval bounds of the predictions; None ->
            ``predicted +- spread / 2``.
        noise_sd: ``(g,)`` float32 per-gene noise of measured values; None -> no measured uncertainty.
        level: the intervals' coverage.
        calibrated: True when the predicted intervals are calibrated; None without predictions.
    """

    compounds: pd.DataFrame
    cell_types: list[str]
    genes: tuple[str, ...]
    measured: np.ndarray
    predicted: np.ndarray
    spread: np.ndarray
    source: np.ndarray
    row: np.ndarray
    key: str = ""
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    noise_sd: np.ndarray | None = None
    level: float = INTERVAL_LEVEL
    calibrated: bool | None = None
    _sorted: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _is_sorted: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_compounds(self) -> int:
        return len(self.compounds)

    @property
    def gene_to_idx(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.genes)}

    def counts(self) -> dict[str, int]:
        """Number of pairs per source."""
        return {SOURCE_NAMES[s]: int((self.source == s).sum()) for s in SOURCE_NAMES}

    def cell_type_index(self, cell_types: str | Sequence[str] | None) -> list[int]:
        """Column indices of ``cell_types`` (all when None); ``ValueError`` naming an unknown one."""
        if cell_types is None:
            return list(range(len(self.cell_types)))
        if isinstance(cell_types, str):
            cell_types = [cell_types]
        out = []
        for ct in cell_types:
            if ct not in self.cell_types:
                raise ValueError(f"unknown cell type {ct!r}; known: {', '.join(self.cell_types)}")
            out.append(self.cell_types.index(ct))
        return out

    @property
    def interval(self) -> str:
        """:func:`interval_label` of this cube."""
        return interval_label(self.calibrated if len(self.predicted) else None, self.level)

    def take(self, gene_idx: Sequence[int] | np.ndarray, what: str = "values") -> np.ndarray:
        """``(C, T, k)`` float32 values of genes ``gene_idx``: ``what`` = ``"values"``, ``"spread"``
        (interval width of predictions, 0 for measured), ``"lower"`` / ``"upper"`` (interval bounds:
        ``value -+ z * noise_sd`` when measured) or ``"sd"`` (the interval's half-width / z).

        Missing pairs are NaN.
        """
        if what in ("lower", "upper", "sd"):
            return self._bounds(gene_idx, what)
        idx = np.asarray(gene_idx, dtype=np.int64)
        out = np.full(self.source.shape + (len(idx),), np.nan, dtype=np.float32)
        meas = self.source == MEASURED
        pred = self.source == PREDICTED
        if what == "values":
            if meas.any():
                out[meas] = self.measured[np.ix_(self.row[meas], idx)]
            if pred.any():
                out[pred] = self.predicted[np.ix_(self.row[pred], idx)]
        elif what == "spread":
            out[meas] = 0.0
            if pred.any():
                out[pred] = self.spread[np.ix_(self.row[pred], idx)]
        else:
            raise ValueError(f"what must be 'values' or 'spread', got {what!r}")
        return out

    def _bounds(self, gene_idx, what: str) -> np.ndarray:
        idx = np.asarray(gene_idx, dtype=np.int64)
        z = z_value(self.level)
        out = np.full(self.source.shape + (len(idx),), np.nan, dtype=np.float32)
        meas = self.source == MEASURED
        pred = self.source == PREDICTED
        noise = (np.zeros(len(idx), np.float32) if self.noise_sd is None
                 else np.asarray(self.noise_sd, dtype=np.float32)[idx])
        if meas.any():
            if what == "sd":
                out[meas] = noise
            else:
                sign = -1.0 if what == "lower" else 1.0
                out[meas] = self.measured[np.ix_(self.row[meas], idx)] + np.float32(sign * z) * noise
        if pred.any():
            rows = self.row[pred]
            if self.lower is not None and self.upper is not None:
                lo, hi = self.lower[np.ix_(rows, idx)], self.upper[np.ix_(rows, idx)]
            else:
                v, half = self.predicted[np.ix_(rows, idx)], self.spread[np.ix_(rows, idx)] / 2
                lo, hi = v - half, v + half
            out[pred] = {"lower": lo, "upper": hi, "sd": (hi - lo) / np.float32(2 * z)}[what]
        return out

    def profile(self, sm_name: str, cell_type: str) -> np.ndarray | None:
        """All ``g`` values of one pair (None when missing)."""
        names = self.compounds[SM_NAME].tolist()
        if sm_name not in names:
            raise ValueError(f"unknown compound {sm_name!r}")
        c, t = names.index(sm_name), self.cell_type_index(cell_type)[0]
        src, r = self.source[c, t], self.row[c, t]
        if src == MEASURED:
            return self.measured[r]
        if src == PREDICTED:
            return self.predicted[r]
        return None

    def ranks(self, src: int, rows: np.ndarray, gene_idx: np.ndarray) -> np.ndarray:
        """``(len(rows), k)`` 1-based descending ranks of genes ``gene_idx`` within whole profiles.

        ``rank = 1 + number of genes of the profile with a strictly larger value`` (rank 1 = the most
        up-regulated gene; tied values share a rank). Each profile is sorted once, on first use, and
        the sorted copy is cached.
        """
        base = self.measured if src == MEASURED else self.predicted
        rows = np.asarray(rows, dtype=np.int64)
        return self.rank_values(src, rows, base[np.ix_(rows, np.asarray(gene_idx, dtype=np.int64))])

    def rank_values(self, src: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """1-based descending ranks ``(len(rows), ...)`` of ``values[i]`` within profile ``rows[i]``
        (``1 + number of the profile's genes with a strictly larger value``)."""
        base = self.measured if src == MEASURED else self.predicted
        rows = np.asarray(rows, dtype=np.int64)
        with self._lock:
            if src not in self._sorted:
                self._sorted[src] = np.zeros(base.shape, dtype=np.float32)
                self._is_sorted[src] = np.zeros(base.shape[0], dtype=bool)
            todo = np.unique(rows[~self._is_sorted[src][rows]])
            if len(todo):
                self._sorted[src][todo] = np.sort(base[todo], axis=1)
                self._is_sorted[src][todo] = True
        n = base.shape[1]
        out = np.empty(values.shape, dtype=np.int64)
        # the sorted profiles' dtype (no conversion per call); needles searched in sorted order, so the
        # binary searches walk the profile forwards (far fewer cache misses with many needles)
        vals = np.asarray(values, dtype=np.float32).reshape(len(rows), -1)
        flat = out.reshape(len(rows), -1)
        for i, r in enumerate(rows):
            order = np.argsort(vals[i], kind="stable")
            flat[i, order] = n - np.searchsorted(self._sorted[src][r], vals[i, order], side="right") + 1
        return out


def build_cube(data: PerturbData, predictor: PredictorLike | None = None, *,
               on_progress: Callable[[int, int], None] | None = None, batch: int = PREDICT_BATCH,
               model_label: str = "", level: float = INTERVAL_LEVEL) -> ValueCube:
    """Fill a :class:`ValueCube` for ``data``: its training rows, then ``predictor`` for the other pairs.

    Args:
        data: the dataset; its training rows are the measured values (the id_map's held-out truth is
            never used).
        predictor: predicts the unmeasured pairs of the cell types it knows; None -> measured only.
        on_progress: called as ``on_progress(done, total)`` with predicted pairs done so far.
        model_label: part of the cube's ``key``.
        level: coverage of the intervals (measured: ``+- z * noise_sd``; predicted: the model's).

    Raises:
        ValueError: the predictor's genes differ from the data's genes.
    """
    compounds = data.compounds[[SM_NAME, SMILES]].reset_index(drop=True)
    cell_types = list(data.cell_types)
    c_idx = {n: i for i, n in enumerate(compounds[SM_NAME])}
    t_idx = {n: i for i, n in enumerate(cell_types)}
    C, T = len(compounds), len(cell_types)
    source = np.zeros((C, T), dtype=np.int8)
    row = np.full((C, T), -1, dtype=np.int64)
    for i, (ct, sm) in enumerate(zip(data.obs[CELL_TYPE], data.obs[SM_NAME])):
        source[c_idx[sm], t_idx[ct]] = MEASURED
        row[c_idx[sm], t_idx[ct]] = i
    g = data.n_genes
    predicted = np.zeros((0, g), dtype=np.float32)
    spread = np.zeros((0, g), dtype=np.float32)
    lower = upper = None
    calibrated = None
    if predictor is not None:
        check_genes(predictor, data.genes)
        known = set(predictor.cell_types)
        todo = [(c, t) for t, ct in enumerate(cell_types) if ct in known
                for c in range(C) if source[c, t] == MISSING]
        if todo:
            cs = np.array([c for c, _ in todo])
            ts = np.array([t for _, t in todo])
            names = compounds[SM_NAME].to_numpy()[cs].tolist()
            smiles = compounds[SMILES].to_numpy()[cs].tolist()
            cts = [cell_types[t] for t in ts]
            predicted = np.empty((len(todo), g), dtype=np.float32)
            lower = np.empty((len(todo), g), dtype=np.float32)
            upper = np.empty((len(todo), g), dtype=np.float32)
            for start in range(0, len(todo), batch):
                sl = slice(start, min(start + batch, len(todo)))
                predicted[sl], lower[sl], upper[sl], calibrated = predict_with_interval(
                    predictor, cts[sl], smiles[sl], names[sl], level=level, batch=batch)
                if on_progress is not None:
                    on_progress(sl.stop, len(todo))
            spread = upper - lower
            source[cs, ts] = PREDICTED
            row[cs, ts] = np.arange(len(todo))
        log.info("cube for %s: %d measured, %d predicted pairs", data.name, int((source == MEASURED).sum()),
                 len(todo))
    return ValueCube(compounds=compounds, cell_types=cell_types, genes=tuple(data.genes), measured=data.X,
                     predicted=predicted, spread=spread, source=source, row=row,
                     key=f"{data.key}:{model_label}", lower=lower, upper=upper,
                     noise_sd=noise_level(data.X, predictor, key=data.key), level=level, calibrated=calibrated)


def check_genes(predictor: PredictorLike, genes: Sequence[str]) -> None:
    """``ValueError`` unless the predictor predicts exactly ``genes`` in the same order."""
    mine, theirs = tuple(predictor.genes), tuple(genes)
    if mine == theirs:
        return
    missing = [g for g in theirs if g not in set(mine)]
    if missing or len(mine) != len(theirs):
        raise ValueError(f"the model predicts {len(mine)} genes but the data has {len(theirs)} "
                         f"({len(missing)} data genes unknown to the model, e.g. {missing[:3]}); "
                         "use the dataset the model was trained on")
    raise ValueError("the model's gene order differs from the data's; use the dataset the model was trained on")


# ------------------------------------------------------------------------------------ target score


def target_score(target: np.ndarray, keep: np.ndarray | None = None,
                 keep_weight: float = KEEP_WEIGHT) -> np.ndarray:
    """Score of profiles for pushing target genes down while leaving keep genes alone.

        score = -mean_{g in targets}(v_g) - keep_weight * mean_{g in keep}(|v_g|)

    Units: signed -log10 p (the data's units). A compound that lowers every target gene with
    p = 1e-3 and leaves the keep genes unchanged scores +3; higher is better.

    Args:
        target: ``(..., k)`` values of the ``k`` target genes.
        keep: ``(..., m)`` values of the ``m`` keep genes, or None / ``m == 0`` for no penalty.

    Returns:
        ``(...)`` float32 scores.
    """
    score = -target.mean(axis=-1)
    if keep is not None and keep.shape[-1] > 0 and keep_weight:
        score = score - keep_weight * np.abs(keep).mean(axis=-1)
    return score.astype(np.float32)


def _order(frame: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Sort by ``by`` (one or more columns) descending, ties by compound then cell type; add a 1-based
    rank column. (``np.lexsort`` on codes: several times faster than ``DataFrame.sort_values``.)"""
    keys = [by] if isinstance(by, str) else list(by)
    sm = np.unique(frame[SM_NAME].to_numpy(dtype=str), return_inverse=True)[1]
    ct = np.unique(frame[CELL_TYPE].to_numpy(dtype=str), return_inverse=True)[1]
    order = np.lexsort([ct, sm, *[-frame[k].to_numpy(dtype=np.float64) for k in reversed(keys)]])
    frame = frame.take(order).reset_index(drop=True)
    frame.insert(0, RANK, np.arange(1, len(frame) + 1))
    return frame


def _pairs_frame(cube: ValueCube, t_idx: list[int]) -> tuple[pd.DataFrame, np.ndarray]:
    """Long frame (sm_name, cell_type, SMILES, source) over present pairs and its (C, T) mask."""
    present = np.zeros_like(cube.source, dtype=bool)
    present[:, t_idx] = cube.source[:, t_idx] != MISSING
    cs, ts = np.nonzero(present)
    frame = pd.DataFrame({
        SM_NAME: cube.compounds[SM_NAME].to_numpy()[cs],
        CELL_TYPE: np.asarray(cube.cell_types, dtype=object)[ts],
        SOURCE: [SOURCE_NAMES[s] for s in cube.source[cs, ts]],
        SMILES: cube.compounds[SMILES].to_numpy()[cs],
    })
    return frame, present


def rank_compounds(cube: ValueCube, genes: str | Sequence[str], cell_types: str | Sequence[str] | None = None,
                   keep: str | Sequence[str] = (), keep_weight: float = KEEP_WEIGHT,
                   top: int | None = None, by: str = BY_CONFIDENCE,
                   threshold: float = SIGNIFICANCE) -> pd.DataFrame:
    """Rank (compound, cell type) pairs by :func:`target_score` of the chosen genes, with intervals.

    Per pair, over the ``k`` chosen genes (values ``v_j``, interval bounds ``lo_j``, ``hi_j``):

        target_mean = mean_j v_j,  target_lower = mean_j lo_j,  target_upper = mean_j hi_j
        score = -target_mean - penalty,  penalty = keep_weight * mean(|keep values|)
        score_lower = -target_upper - penalty,  score_upper = -target_lower - penalty
        p_down = Phi(-target_mean / sd),  sd = (target_upper - target_lower) / (2 z)

    (the interval of the mean is the mean of the per-gene bounds: conservative, see the module
    docstring; the keep penalty enters as a point value). ``by=BY_CONFIDENCE`` (default) ranks by
    ``score_lower`` -- the pessimistic end of the interval, so of two pairs with the same estimate the
    one with the narrower interval ranks higher; ``by=BY_ESTIMATE`` ranks by ``score``.

    Significance, in the data's units: ``call`` is ``"hit"`` when ``target_mean <= -threshold``
    (the genes go down with p < 10^-threshold on average) **and** ``target_upper < 0`` (the interval
    lies entirely on the down side); ``"candidate"`` when ``target_mean < 0`` otherwise; ``"wrong way"``
    when the genes go up on average (``target_mean >= 0``).

    Args:
        cube: measured + predicted values.
        genes: target genes (names, case-insensitive; pasted text is split).
        cell_types: one cell type, several, or None for all.
        keep: genes that should stay unchanged (penalised by ``keep_weight``).
        top: keep only the ``top`` best rows.
        by: :data:`BY_CONFIDENCE` or :data:`BY_ESTIMATE`.
        threshold: significance threshold (signed -log10 p; 1.3 = p < 0.05), >= 0.

    Returns:
        One row per present pair, best first: ``rank, sm_name, cell_type, score, score_lower,
        score_upper, call, source ("measured"/"predicted"), p_down, target_mean, target_lower,
        target_upper, keep_mean_abs, uncertainty, SMILES`` then one column per target gene (up to
        :data:`MAX_VALUE_COLUMNS`). ``uncertainty`` = half the width of the score interval. Ties are
        broken by the estimate, then compound, then cell type.

    Raises:
        ValueError: unknown genes (with suggestions) or cell types; a gene both target and keep; an
            unknown ranking mode or a negative threshold.
    """
    if by not in RANK_MODES:
        raise ValueError(f"unknown ranking mode {by!r}; use {' or '.join(RANK_MODES)}")
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"significance threshold must be >= 0, got {threshold!r}")
    targets = resolve_genes(genes, cube.genes, what="genes")
    keeps = resolve_genes(keep, cube.genes, what="keep genes", allow_empty=True)
    both = [g for g in keeps if g in set(targets)]
    if both:
        raise ValueError(f"genes both to push down and to keep unchanged: {', '.join(both)}")
    t_idx = cube.cell_type_index(cell_types)
    g2i = cube.gene_to_idx
    ti = [g2i[g] for g in targets]
    ki = [g2i[g] for g in keeps]
    frame, present = _pairs_frame(cube, t_idx)
    vals = cube.take(ti + ki)[present]  # (n, k + m)
    tv, kv = vals[:, : len(ti)], vals[:, len(ti):]
    t_mean = tv.mean(axis=1)
    t_lo = cube.take(ti, "lower")[present].mean(axis=1)
    t_hi = cube.take(ti, "upper")[present].mean(axis=1)
    penalty = (np.float32(keep_weight) * np.abs(kv).mean(axis=1) if ki and keep_weight
               else np.zeros(len(frame), np.float32))
    score = (-t_mean - penalty).astype(np.float32)
    sd = (t_hi - t_lo) / np.float32(2 * z_value(cube.level))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_down = np.where(sd > 0, ndtr(-t_mean / np.where(sd > 0, sd, 1.0)), (t_mean < 0).astype(np.float64))
    hit = (t_mean <= -threshold) & (t_hi < 0)
    call = np.where(hit, HIT, np.where(t_mean < 0, CANDIDATE, WRONG_WAY))
    cols = {
        SM_NAME: frame[SM_NAME].to_numpy(), CELL_TYPE: frame[CELL_TYPE].to_numpy(),
        SCORE: score, SCORE_LOWER: (-t_hi - penalty).astype(np.float32),
        SCORE_UPPER: (-t_lo - penalty).astype(np.float32), CALL: call, SOURCE: frame[SOURCE].to_numpy(),
        P_DOWN: p_down.astype(np.float32), TARGET_MEAN: t_mean.astype(np.float32),
        TARGET_LOWER: t_lo.astype(np.float32), TARGET_UPPER: t_hi.astype(np.float32),
        KEEP_MEAN_ABS: np.abs(kv).mean(axis=1).astype(np.float32) if ki else np.zeros(len(frame), np.float32),
        UNCERTAINTY: ((t_hi - t_lo) / 2).astype(np.float32), SMILES: frame[SMILES].to_numpy(),
    }
    if len(targets) <= MAX_VALUE_COLUMNS:
        for j, gname in enumerate(targets):
            cols[gname] = tv[:, j]
    frame = pd.DataFrame(cols)
    out = _order(frame, [SCORE_LOWER, SCORE] if by == BY_CONFIDENCE else [SCORE, SCORE_LOWER])
    return out.head(top) if top is not None else out


def split_hits(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(hits, closest)`` of a :func:`rank_compounds` table: the rows called ``"hit"``, and the
    ``"candidate"`` rows (genes down, not significant), both in rank order. Wrong-way rows are in
    neither."""
    return table[table[CALL] == HIT], table[table[CALL] == CANDIDATE]


# ------------------------------------------------------------------------------------ reversal


def enrichment_score(ranks: np.ndarray, weights: np.ndarray, n_genes: int) -> np.ndarray:
    """Weighted Kolmogorov-Smirnov enrichment score (GSEA, weight exponent 1) of a gene set.

    For each profile, genes are ordered from most up (rank 1) to most down (rank ``n``). Walking down
    the list, the running sum rises by ``w_j / sum(w)`` at each set gene and falls by ``1 / (n - t)``
    at every other gene (``t`` set genes). ``ES`` is the running sum's largest deviation from 0:
    positive when the set sits at the top (up-regulated), negative at the bottom. Range ``[-1, 1]``.

    Args:
        ranks: ``(p, t)`` 1-based ranks of the set genes within each of ``p`` profiles (tied ranks are
            spread over consecutive positions).
        weights: ``(p, t)`` non-negative weights (``|value|``); all-zero rows fall back to equal weights.
        n_genes: ``n``, the profile length.

    Returns:
        ``(p,)`` float64 enrichment scores.
    """
    p, t = ranks.shape
    if t == 0:
        return np.zeros(p)
    order = np.argsort(ranks, axis=1, kind="stable")
    r = np.take_along_axis(ranks, order, axis=1).astype(np.float64)
    # tied set genes share a rank: order them one after another (misses above hit j never decrease)
    steps = np.arange(1, t + 1)[None, :]
    r = np.minimum(np.maximum.accumulate(r - steps, axis=1), max(n_genes - t, 0)) + steps
    w = np.take_along_axis(np.abs(weights), order, axis=1).astype(np.float64)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total > 0, w, 1.0)
    total = w.sum(axis=1, keepdims=True)
    hits = np.cumsum(w, axis=1) / total
    miss_step = 1.0 / max(n_genes - t, 1)
    misses = (r - np.arange(1, t + 1)[None, :]) * miss_step  # non-set genes above hit j
    after = hits - misses
    before = hits - w / total - misses
    es_pos = np.maximum(after.max(axis=1), 0.0)
    es_neg = np.minimum(before.min(axis=1), 0.0)
    return np.where(es_pos >= -es_neg, es_pos, es_neg)


def connectivity(es_up: np.ndarray, es_down: np.ndarray, has_up: bool = True, has_down: bool = True) -> np.ndarray:
    """CLUE's weighted connectivity score from the two enrichment scores.

        c = (ES_up - ES_down) / 2   if sign(ES_up) != sign(ES_down), else 0

    With only an up list, ``c = ES_up``; with only a down list, ``c = -ES_down``. ``c`` in ``[-1, 1]``;
    positive = the profile mimics the signature, negative = it reverses it.
    """
    if has_up and has_down:
        return np.where(np.sign(es_up) != np.sign(es_down), (es_up - es_down) / 2.0, 0.0)
    if has_up:
        return es_up.copy()
    return -es_down


def reversal_scores(cube: ValueCube, up: str | Sequence[str] = (), down: str | Sequence[str] = (),
                    cell_types: str | Sequence[str] | None = None, top: int | None = None,
                    draws: int = REVERSAL_DRAWS, seed: int = REVERSAL_SEED) -> pd.DataFrame:
    """Rank pairs by how strongly their whole profile reverses a disease signature.

        reversal = -connectivity(ES(up genes), ES(down genes))

    where ``ES`` is :func:`enrichment_score` of the signature's up (resp. down) genes within the
    compound's full profile of all ``g`` genes, weighted by ``|value|``, and ``connectivity`` is
    CLUE's WTCS rule (:func:`connectivity`). Reversal is in ``[-1, 1]``: +1 when the disease's up
    genes are the compound's most down-regulated genes and its down genes the most up-regulated.
    Unitless (rank-based), so strong and weak compounds compare on the same scale; 0 when the two
    lists move the same way.

    Uncertainty, in the score's own units: ``draws`` resampled profiles per pair (seeded), each
    signature gene drawn from a normal with the gene's interval (``sd`` = half-width / z; measured
    values: the measurement noise) and ranked against the pair's unperturbed profile (the other genes
    stay at their estimates); the reversal of each draw gives ``score_lower`` / ``score_upper`` (the
    interval's quantiles at the cube's level), ``uncertainty`` (half their distance) and
    ``p_reverse`` (share of draws with reversal > 0). ``draws=0`` skips it (bounds = score).

    Ties: pairs with reversal exactly 0 (both lists moved the same way) are ordered by ``strength``
    = ``-(ES_up - ES_down) / 2``, the reversal before CLUE's same-sign rule zeroes it.

    Returns:
        ``rank, sm_name, cell_type, score, score_lower, score_upper, es_up, es_down, source,
        p_reverse, strength, uncertainty, SMILES``, best first.

    Raises:
        ValueError: unknown genes, no genes at all, or a gene in both lists.
    """
    ups = resolve_genes(up, cube.genes, what="up genes", allow_empty=True)
    downs = resolve_genes(down, cube.genes, what="down genes", allow_empty=True)
    if not ups and not downs:
        raise ValueError("signature: give at least one up- or down-regulated gene")
    both = [g for g in ups if g in set(downs)]
    if both:
        raise ValueError(f"genes in both the up and the down list: {', '.join(both)}")
    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    t_idx = cube.cell_type_index(cell_types)
    frame, present = _pairs_frame(cube, t_idx)
    g2i = cube.gene_to_idx
    ui = np.array([g2i[g] for g in ups], dtype=np.int64)
    di = np.array([g2i[g] for g in downs], dtype=np.int64)
    all_idx = np.concatenate([ui, di])
    cs, ts = np.nonzero(present)
    src, rows = cube.source[cs, ts], cube.row[cs, ts]
    n, p, k_up = len(cube.genes), len(cs), len(ui)
    vals = cube.take(all_idx)[present].astype(np.float64)  # (p, k)
    sd = cube.take(all_idx, "sd")[present].astype(np.float64)
    rng = np.random.default_rng(seed)
    # draw 0 = the estimate; draws 1..d = resampled signature genes
    stack = np.concatenate([vals[None], vals[None] + sd[None] * rng.standard_normal((draws, p, len(all_idx)))])
    es = {"up": np.zeros((draws + 1, p)), "down": np.zeros((draws + 1, p))}
    for s_code in (MEASURED, PREDICTED):
        sel = np.nonzero(src == s_code)[0]
        if not len(sel):
            continue
        v = np.moveaxis(stack[:, sel], 0, 1)  # (p_sel, d + 1, k)
        rk = np.clip(cube.rank_values(s_code, rows[sel], v.reshape(len(sel), -1)), 1, n).reshape(v.shape)
        for name, cols in (("up", slice(0, k_up)), ("down", slice(k_up, None))):
            if rk[..., cols].shape[-1] == 0:
                continue
            e = enrichment_score(rk[..., cols].reshape(-1, rk[..., cols].shape[-1]),
                                 v[..., cols].reshape(-1, v[..., cols].shape[-1]), n)
            es[name][:, sel] = e.reshape(len(sel), draws + 1).T
    conn = connectivity(es["up"], es["down"], has_up=bool(len(ui)), has_down=bool(len(di)))
    score = -conn[0]
    if draws:
        q = (1 - cube.level) / 2
        lo, hi = np.quantile(-conn[1:], [q, 1 - q], axis=0)
        p_rev = (-conn[1:] > 0).mean(axis=0)
    else:
        lo = hi = score
        p_rev = (score > 0).astype(np.float64)
    strength = -(es["up"][0] - es["down"][0]) / 2 if len(ui) and len(di) else score
    cols = {SCORE: score, SCORE_LOWER: np.minimum(lo, score), SCORE_UPPER: np.maximum(hi, score),
            ES_UP: es["up"][0], ES_DOWN: es["down"][0]}
    for j, (name, col) in enumerate(cols.items()):
        frame.insert(2 + j, name, col.astype(np.float32))
    frame.insert(frame.columns.get_loc(SOURCE) + 1, P_REVERSE, p_rev.astype(np.float32))
    frame.insert(frame.columns.get_loc(P_REVERSE) + 1, STRENGTH, np.asarray(strength, dtype=np.float32))
    frame.insert(frame.columns.get_loc(STRENGTH) + 1, UNCERTAINTY,
                 ((frame[SCORE_UPPER] - frame[SCORE_LOWER]) / 2).astype(np.float32))
    out = _order(frame, [SCORE, STRENGTH])
    return out.head(top) if top is not None else out
