"""Score a prediction file against a truth file like the OpenProblems benchmark does.

Definitions follow ``openproblems-bio/task_perturbation_prediction``,
``src/metrics/mean_rowwise_error/script.R`` and ``src/metrics/mean_rowwise_correlation/script.R``.
For ``R`` rows (cell type x compound pairs) and ``n`` genes, with ``e_ij = y_ij - yhat_ij``::

    mean_rowwise_rmse     = 1/R sum_i sqrt( 1/n sum_j e_ij^2 )
    mean_rowwise_mae      = 1/R sum_i 1/n sum_j |e_ij|
    mean_rowwise_pearson  = 1/R sum_i corr(y_i, yhat_i)
    mean_rowwise_spearman = 1/R sum_i corr(rank(y_i), rank(yhat_i))      (ties get their mean rank)
    mean_rowwise_cosine   = 1/R sum_i <y_i, yhat_i> / (|y_i| |yhat_i|)

A correlation or cosine that is undefined (a constant or all-zero row) counts as 0, as in the
benchmark. (The benchmark averages the stored entries of a sparse ``proxyC::simil`` diagonal; a row
whose similarity is exactly 0 may be left out of its mean there, while it counts here. Real data
practically never hits this.) The genes scored are the truth's (the prediction must hold all of them; extra genes are
ignored); a NaN in the prediction counts as 0 (the benchmark warns and does the same), a NaN in the
truth is an error. The truth layer defaults to ``clipped_sign_log10_pval`` (the benchmark's
default), else ``sign_log10_pval``, else ``X``; the prediction layer to ``prediction``.

Rows are matched by id: a table (parquet / CSV) has an ``id`` column; a prediction ``.h5ad`` has the
ids as ``obs_names``; a truth ``.h5ad`` (``de_test.h5ad``) is in id_map order, so its ids are the row
positions ``0..R-1`` (as the benchmark's ``generate_id_map`` builds them).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import CELL_TYPE, ID, LAYER_CLIPPED, LAYER_PREDICTION, LAYER_SIGN_LOG10_PVAL, LAYER_X, SM_NAME
from ..data import DataError, Source, _preview, _read_bytes
from ..validation.metrics import rowwise_pearson_values, rowwise_rmse
from .h5ad import HDF5_MAGIC, _default_layer, _gene_names, _layer_names, _open, _read, _read_matrix

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("mean_rowwise_rmse", "mean_rowwise_mae", "mean_rowwise_pearson",
                            "mean_rowwise_spearman", "mean_rowwise_cosine")
OVERALL = "overall"
ROWS = "rows"
#: truth layers tried in order when none is given
TRUTH_LAYERS: tuple[str, ...] = (LAYER_CLIPPED, LAYER_SIGN_LOG10_PVAL, LAYER_X)


# ----------------------------------------------------------------------------------- metrics


def rowwise_mae(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean absolute error of each row, ``(R,)`` float64, for ``(R, n)`` inputs."""
    return np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)), axis=1)


def rowwise_spearman(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row (Pearson of average ranks), ``(R,)``; 0 where undefined."""
    from scipy.stats import rankdata

    return rowwise_pearson_values(rankdata(y_true, axis=1, method="average"),
                                  rankdata(y_pred, axis=1, method="average"))


def rowwise_cosine(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row, ``(R,)``; 0 where a row is all zeros."""
    a = np.asarray(y_true, np.float64)
    b = np.asarray(y_pred, np.float64)
    num = np.sum(a * b, axis=1)
    denom = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


def rowwise_scores(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """One row per scored row, one column per metric of :data:`METRICS` (before averaging)."""
    return pd.DataFrame({
        "mean_rowwise_rmse": rowwise_rmse(y_true, y_pred),
        "mean_rowwise_mae": rowwise_mae(y_true, y_pred),
        "mean_rowwise_pearson": rowwise_pearson_values(y_true, y_pred),
        "mean_rowwise_spearman": rowwise_spearman(y_true, y_pred),
        "mean_rowwise_cosine": rowwise_cosine(y_true, y_pred),
    })


def score_matrices(y_true: np.ndarray, y_pred: np.ndarray, cell_types=None) -> pd.DataFrame:
    """The five metrics overall (mean over all rows) and per cell type (mean over its rows).

    Returns:
        index ``overall`` then the cell types (sorted); columns ``rows`` and :data:`METRICS`.
    """
    rows = rowwise_scores(y_true, y_pred)
    out = {OVERALL: {ROWS: len(rows), **rows.mean().to_dict()}}
    if cell_types is not None:
        for ct, part in rows.groupby(np.asarray(cell_types, dtype=object), sort=True):
            out[str(ct)] = {ROWS: len(part), **part.mean().to_dict()}
    table = pd.DataFrame.from_dict(out, orient="index")
    table[ROWS] = table[ROWS].astype(int)
    return table[[ROWS, *METRICS]]


# ----------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ScoredFile:
    """Values of a truth or prediction file, ready to align.

    Attributes:
        values: ``(R, n)`` float64.
        genes: the ``n`` gene names.
        ids: ``(R,)`` int64 row ids.
        cell_types: ``(R,)`` cell type of each row, when the file names them.
        layer: the layer read (``None`` for a table).
        label: the file name.
    """

    values: np.ndarray
    genes: list[str]
    ids: np.ndarray
    cell_types: np.ndarray | None
    layer: str | None
    label: str


def _ids(raw, label: str, what: str) -> np.ndarray:
    ids = pd.to_numeric(pd.Series(raw), errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        bad = pd.Series(raw)[ids.isna() | (ids != ids.round())].astype(str).tolist()
        raise DataError(f"{what} of {label!r} must be integer ids; found {_preview(bad)}")
    ids = ids.astype(np.int64).to_numpy()
    dup = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()
    if dup:
        raise DataError(f"duplicated ids in {label!r}: {_preview(dup)}")
    return ids


def _read_table_file(data: bytes, label: str) -> ScoredFile:
    if data.startswith(b"PAR1"):
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 -- pyarrow raises many types for a damaged file
            raise DataError(f"not a readable parquet file: {label!r} ({str(exc).splitlines()[0][:200]})") from None
    else:
        try:
            frame = pd.read_csv(io.BytesIO(data))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(f"not a readable parquet, CSV or .h5ad file: {label!r} "
                            f"({str(exc).splitlines()[0][:200]})") from None
    if ID not in frame.columns:
        raise DataError(f"{label!r} has no {ID!r} column (a table needs id + one column per gene)")
    cell_types = frame[CELL_TYPE].astype(str).to_numpy() if CELL_TYPE in frame.columns else None
    genes = [c for c in frame.columns if c not in (ID, CELL_TYPE, SM_NAME)]
    if not genes:
        raise DataError(f"no gene columns in {label!r}")
    _gene_names(pd.DataFrame(index=genes))
    values = frame[genes]
    bad = [g for g in genes if not pd.api.types.is_numeric_dtype(values[g])]
    if bad:
        raise DataError(f"non-numeric gene columns in {label!r}: {_preview(bad)}")
    return ScoredFile(values.to_numpy(np.float64), [str(g) for g in genes], _ids(frame[ID], label, f"column {ID!r}"),
                      cell_types, None, label)


def _read_h5ad_file(source, layer: str | None, preferred: tuple[str, ...], positional_ids: bool) -> ScoredFile:
    with _open(source) as (fh, label, _):
        obs = _read(fh["obs"])
        genes = _gene_names(_read(fh["var"]))
        names = _layer_names(fh)
        chosen = layer or _default_layer(names, preferred)
        if chosen is None:
            found = ", ".join(map(repr, names)) if names else "none"
            raise DataError(f"none of the layers {', '.join(map(repr, preferred))} in {label!r}; layers found: {found}")
        values = _read_matrix(fh, chosen, label, len(obs), len(genes))
    if positional_ids:
        ids = np.arange(len(obs), dtype=np.int64)
    else:
        ids = _ids(np.asarray(obs.index.astype(str)), label, "obs_names")
    cell_types = obs[CELL_TYPE].astype(str).to_numpy() if CELL_TYPE in obs.columns else None
    return ScoredFile(values, genes, ids, cell_types, chosen, label)


def read_scored_file(source: Source, *, layer: str | None = None, truth: bool) -> ScoredFile:
    """Read a truth (``truth=True``) or prediction file: parquet / CSV (``id`` + genes, optionally
    ``cell_type``, ``sm_name``) or ``.h5ad`` (see the module docstring for layers and ids)."""
    if isinstance(source, (str, Path)) and Path(source).is_file():
        with open(source, "rb") as fh:
            head = fh.read(8)
        if head == HDF5_MAGIC:
            return _read_h5ad_file(source, layer, TRUTH_LAYERS if truth else (LAYER_PREDICTION,), truth)
    data, label = _read_bytes(source)
    if len(data) == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    if data.startswith(HDF5_MAGIC):
        return _read_h5ad_file(data, layer, TRUTH_LAYERS if truth else (LAYER_PREDICTION,), truth)
    if layer is not None:
        raise DataError(f"layer {layer!r} given, but {label!r} is not an .h5ad file")
    return _read_table_file(data, label)


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_files` found: the metric table and facts to print beside it."""

    table: pd.DataFrame
    truth_layer: str | None
    prediction_layer: str | None
    rows: int
    genes: int
    notes: tuple[str, ...]


def align(truth: ScoredFile, pred: ScoredFile) -> tuple[np.ndarray, list[str]]:
    """The prediction's values in the truth's row (by id) and gene order, ``(R, n)``, plus notes.

    Raises:
        DataError: missing ids or genes, extra ids, or NaN in the truth.
    """
    notes: list[str] = []
    missing_ids = np.setdiff1d(truth.ids, pred.ids)
    if len(missing_ids):
        raise DataError(f"the prediction {pred.label!r} lacks {len(missing_ids)} of the truth's ids: "
                        f"{_preview(missing_ids.tolist())}")
    extra_ids = np.setdiff1d(pred.ids, truth.ids)
    if len(extra_ids):
        raise DataError(f"the prediction {pred.label!r} has {len(extra_ids)} ids the truth does not: "
                        f"{_preview(extra_ids.tolist())}")
    g2i = {g: i for i, g in enumerate(pred.genes)}
    missing_genes = [g for g in truth.genes if g not in g2i]
    if missing_genes:
        raise DataError(f"the prediction {pred.label!r} lacks {len(missing_genes)} of the truth's genes: "
                        f"{_preview(missing_genes)}")
    if len(pred.genes) > len(truth.genes):
        notes.append(f"{len(pred.genes) - len(truth.genes)} prediction genes not in the truth are ignored")
    r2i = {int(r): i for i, r in enumerate(pred.ids)}
    values = pred.values[np.array([r2i[int(r)] for r in truth.ids])][:, [g2i[g] for g in truth.genes]]
    if not np.isfinite(truth.values).all():
        raise DataError(f"{int((~np.isfinite(truth.values)).sum())} NaN or inf values in the truth {truth.label!r}")
    if np.isinf(values).any():
        raise DataError(f"{int(np.isinf(values).sum())} inf values in the prediction {pred.label!r}")
    n_nan = int(np.isnan(values).sum())
    if n_nan:
        values = np.nan_to_num(values, nan=0.0)
        notes.append(f"{n_nan} NaN values in the prediction counted as 0 (as the benchmark does)")
    return values, notes


def _id_map_cell_types(id_map: Source, ids: np.ndarray) -> np.ndarray:
    from ..data import load_id_map

    frame = load_id_map(id_map)
    lookup = dict(zip(frame[ID].astype(np.int64), frame[CELL_TYPE]))
    missing = [int(i) for i in ids if int(i) not in lookup]
    if missing:
        raise DataError(f"the id_map lacks {len(missing)} of the truth's ids: {_preview(missing)}")
    return np.array([lookup[int(i)] for i in ids], dtype=object)


def score_files(truth: Source, prediction: Source, *, truth_layer: str | None = None,
                prediction_layer: str | None = None, id_map: Source | None = None) -> ScoreResult:
    """Score ``prediction`` against ``truth`` (any mix of parquet, CSV and .h5ad).

    Cell types come from the truth (an ``.h5ad`` obs column or a ``cell_type`` table column), else
    from ``id_map``; without either only the overall row is reported.
    """
    t = read_scored_file(truth, layer=truth_layer, truth=True)
    p = read_scored_file(prediction, layer=prediction_layer, truth=False)
    values, notes = align(t, p)
    cell_types = t.cell_types
    if id_map is not None:
        cell_types = _id_map_cell_types(id_map, t.ids)
    elif cell_types is None:
        notes.append("no cell types in the truth (give --id-map for per-cell-type scores)")
    table = score_matrices(t.values, values, cell_types)
    return ScoreResult(table, t.layer, p.layer, len(t.ids), len(t.genes), tuple(notes))
