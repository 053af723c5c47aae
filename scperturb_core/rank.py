"""Rank compounds for chosen genes in chosen cell types, and by reversal of a disease signature.

Values come from a :class:`ValueCube`: every (compound, cell type) pair of a dataset, **measured**
where the pair is a training row of the data, **predicted** by the ensemble model otherwise (only the
missing pairs are predicted, once, in batches). Each predicted pair also stores the per-gene model
spread (max - min over the ensemble members, i.e. ``|mlp - transformer|`` for two members); measured
pairs have spread 0. All values are signed -log10 p of differential expression (positive = up).

Two scores (formulas in :func:`target_score` and :func:`reversal_scores`):

* target score: how strongly a compound pushes the chosen genes **down**, penalised for moving a
  keep-set of genes;
* reversal score: a connectivity-style (CMap/CLUE WTCS) score of how well a compound's whole profile
  reverses a disease signature given as up- and down-regulated gene lists.

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

from .constants import CELL_TYPE, SM_NAME, SMILES
from .data import PerturbData
from .genes import resolve_genes

log = logging.getLogger(__name__)

#: default weight (lambda) of the keep-set penalty in :func:`target_score`
KEEP_WEIGHT = 1.0
#: pairs per predictor call when filling a cube
PREDICT_BATCH = 256
#: gene value columns shown in a ranking table (beyond this many chosen genes they are omitted)
MAX_VALUE_COLUMNS = 20

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


@runtime_checkable
class PredictorLike(Protocol):
    """What ranking and discovery need from a trained predictor (``scperturb_core.predictor.Predictor``).

    Attributes:
        genes: the ``g`` output genes, in column order.
        cell_types: cell types the models can predict.
        compounds: the training compounds (columns ``sm_name``, ``SMILES``).

    Optional: a ``weights`` mapping (member name -> ensemble weight, summing to 1). When present and
    naming exactly the members, the ensemble is taken as the weighted mean of the members (the real
    predictor's ensemble is affine in its members), so one pass of the models gives both.
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
        ``sum_k weights[k] * member_k`` when the predictor has matching ``weights``, else ``predict()``.
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
        if isinstance(weights, Mapping) and set(weights) == set(by_name):
            values[sl] = sum(np.float32(weights[k]) * m for k, m in by_name.items())
        else:
            values[sl] = predictor.predict(cts, smi, nm)
        if len(members) > 1:
            stack = np.stack(members)
            spread[sl] = stack.max(axis=0) - stack.min(axis=0)
        else:
            spread[sl] = 0.0
    return values, spread


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
        spread: ``(n_predicted, g)`` float32 member spread of those predictions.
        source: ``(C, T)`` int8, :data:`MEASURED`, :data:`PREDICTED` or :data:`MISSING`.
        row: ``(C, T)`` int64, the row in ``measured`` or ``predicted`` (-1 when missing).
        key: a label for caches (data key + model label).
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

    def take(self, gene_idx: Sequence[int] | np.ndarray, what: str = "values") -> np.ndarray:
        """``(C, T, k)`` float32 values (``what="values"``) or spread (``"spread"``) for genes ``gene_idx``.

        Missing pairs are NaN; measured pairs have spread 0.
        """
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
        with self._lock:
            if src not in self._sorted:
                self._sorted[src] = np.zeros(base.shape, dtype=np.float32)
                self._is_sorted[src] = np.zeros(base.shape[0], dtype=bool)
            todo = np.unique(rows[~self._is_sorted[src][rows]])
            if len(todo):
                self._sorted[src][todo] = np.sort(base[todo], axis=1)
                self._is_sorted[src][todo] = True
        n = base.shape[1]
        values = base[np.ix_(rows, gene_idx)]
        out = np.empty(values.shape, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i] = n - np.searchsorted(self._sorted[src][r], values[i], side="right") + 1
        return out


def build_cube(data: PerturbData, predictor: PredictorLike | None = None, *,
               on_progress: Callable[[int, int], None] | None = None, batch: int = PREDICT_BATCH,
               model_label: str = "") -> ValueCube:
    """Fill a :class:`ValueCube` for ``data``: its training rows, then ``predictor`` for the other pairs.

    Args:
        data: the dataset; its training rows are the measured values (the id_map's held-out truth is
            never used).
        predictor: predicts the unmeasured pairs of the cell types it knows; None -> measured only.
        on_progress: called as ``on_progress(done, total)`` with predicted pairs done so far.
        model_label: part of the cube's ``key``.

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
            spread = np.empty((len(todo), g), dtype=np.float32)
            for start in range(0, len(todo), batch):
                sl = slice(start, min(start + batch, len(todo)))
                predicted[sl], spread[sl] = predict_with_spread(predictor, cts[sl], smiles[sl], names[sl],
                                                                batch=batch)
                if on_progress is not None:
                    on_progress(sl.stop, len(todo))
            source[cs, ts] = PREDICTED
            row[cs, ts] = np.arange(len(todo))
        log.info("cube for %s: %d measured, %d predicted pairs", data.name, int((source == MEASURED).sum()),
                 len(todo))
    return ValueCube(compounds=compounds, cell_types=cell_types, genes=tuple(data.genes), measured=data.X,
                     predicted=predicted, spread=spread, source=source, row=row,
                     key=f"{data.key}:{model_label}")


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


def _order(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sort by ``by`` descending, ties by compound then cell type; add a 1-based rank column."""
    frame = frame.sort_values([by, SM_NAME, CELL_TYPE], ascending=[False, True, True], kind="stable")
    frame = frame.reset_index(drop=True)
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
                   top: int | None = None) -> pd.DataFrame:
    """Rank (compound, cell type) pairs by :func:`target_score` of the chosen genes.

    Args:
        cube: measured + predicted values.
        genes: target genes (names, case-insensitive; pasted text is split).
        cell_types: one cell type, several, or None for all.
        keep: genes that should stay unchanged (penalised by ``keep_weight``).
        top: keep only the ``top`` best rows.

    Returns:
        One row per present pair, best first: ``rank, sm_name, cell_type, score, target_mean,
        keep_mean_abs, source ("measured"/"predicted"), uncertainty, SMILES`` then one column per target
        gene (up to :data:`MAX_VALUE_COLUMNS`). ``uncertainty`` = mean over target genes of the member
        spread (0 for measured pairs). Ties are broken by compound then cell type.

    Raises:
        ValueError: unknown genes (with suggestions) or cell types; a gene both target and keep.
    """
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
    spread = cube.take(ti, "spread")[present]
    tv, kv = vals[:, : len(ti)], vals[:, len(ti):]
    frame.insert(2, SCORE, target_score(tv, kv, keep_weight))
    frame.insert(3, TARGET_MEAN, tv.mean(axis=1))
    frame.insert(4, KEEP_MEAN_ABS, np.abs(kv).mean(axis=1) if ki else np.zeros(len(frame), np.float32))
    frame.insert(6, UNCERTAINTY, spread.mean(axis=1))
    if len(targets) <= MAX_VALUE_COLUMNS:
        for j, gname in enumerate(targets):
            frame[gname] = tv[:, j]
    out = _order(frame, SCORE)
    return out.head(top) if top is not None else out


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
    r = np.maximum.accumulate(r - steps, axis=1) + steps
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
                    cell_types: str | Sequence[str] | None = None, top: int | None = None) -> pd.DataFrame:
    """Rank pairs by how strongly their whole profile reverses a disease signature.

        reversal = -connectivity(ES(up genes), ES(down genes))

    where ``ES`` is :func:`enrichment_score` of the signature's up (resp. down) genes within the
    compound's full profile of all ``g`` genes, weighted by ``|value|``, and ``connectivity`` is
    CLUE's WTCS rule (:func:`connectivity`). Reversal is in ``[-1, 1]``: +1 when the disease's up
    genes are the compound's most down-regulated genes and its down genes the most up-regulated.
    Unitless (rank-based), so strong and weak compounds compare on the same scale; 0 when the two
    lists move the same way.

    Returns:
        ``rank, sm_name, cell_type, score, es_up, es_down, source, uncertainty, SMILES``, best first;
        ``uncertainty`` = mean member spread over the signature genes (0 for measured pairs).

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
    t_idx = cube.cell_type_index(cell_types)
    frame, present = _pairs_frame(cube, t_idx)
    g2i = cube.gene_to_idx
    ui = np.array([g2i[g] for g in ups], dtype=np.int64)
    di = np.array([g2i[g] for g in downs], dtype=np.int64)
    cs, ts = np.nonzero(present)
    src, rows = cube.source[cs, ts], cube.row[cs, ts]
    n = len(cube.genes)
    es = {}
    for name, idx in (("up", ui), ("down", di)):
        scores = np.zeros(len(cs))
        if len(idx):
            for s, base in ((MEASURED, cube.measured), (PREDICTED, cube.predicted)):
                sel = src == s
                if sel.any():
                    rk = cube.ranks(s, rows[sel], idx)
                    w = base[np.ix_(rows[sel], idx)]
                    scores[sel] = enrichment_score(rk, w, n)
        es[name] = scores
    conn = connectivity(es["up"], es["down"], has_up=bool(len(ui)), has_down=bool(len(di)))
    all_idx = np.concatenate([ui, di])
    spread = cube.take(all_idx, "spread")[present].mean(axis=1)
    frame.insert(2, SCORE, (-conn).astype(np.float32))
    frame.insert(3, ES_UP, es["up"].astype(np.float32))
    frame.insert(4, ES_DOWN, es["down"].astype(np.float32))
    frame.insert(6, UNCERTAINTY, spread)
    out = _order(frame, SCORE)
    return out.head(top) if top is not None else out
