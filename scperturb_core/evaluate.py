"""Score baselines and models on the same held-out rows.

A *task* is a set of training rows and query pairs with known values: each leave-one-cell-type-out
fold (:func:`~scperturb_core.splits.leave_one_cell_type_out`) and, when the dataset carries the truth
of its id_map (the demo), the id_map rows. Every method is fitted on the task's training rows only
and scored with :func:`~scperturb_core.metrics.mrrmse` (and the mean row-wise Pearson correlation).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .baselines import BASELINE_NAMES, all_baselines
from .constants import CELL_TYPE, SM_NAME, SMILES
from .data import PerturbData
from .metrics import mrrmse, rowwise_pearson
from .models import MODEL_KINDS
from .splits import leave_one_cell_type_out

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
#: the readout alone (the closed-form part both networks build on), reported for transparency
READOUT = "readout (ridge)"
#: the name of the id_map task
ID_MAP_TASK = "id_map (held-out truth)"


@dataclass
class Task:
    """Training rows (``obs``, ``X``) and query pairs (``queries``: cell_type, sm_name, SMILES) with ``truth``."""

    name: str
    obs: pd.DataFrame
    X: np.ndarray
    queries: pd.DataFrame
    truth: np.ndarray
    kind: str  # "fold" or "id_map"


def restrict_genes(data: PerturbData, n_genes: int | None) -> PerturbData:
    """The first ``n_genes`` genes of ``data`` (for quick benchmarks); ``None`` keeps all."""
    if n_genes is None or n_genes >= data.n_genes:
        return data
    if n_genes < 1:
        raise ValueError(f"--genes must be >= 1, got {n_genes}")
    truth = data.truth[:, :n_genes] if data.truth is not None else None
    return replace(data, X=np.ascontiguousarray(data.X[:, :n_genes]), genes=data.genes[:n_genes], truth=truth,
                   key=f"{data.key}-g{n_genes}")


def tasks_for(data: PerturbData, folds: int | None = None, id_map: bool = True) -> list[Task]:
    """The leave-one-cell-type-out folds (the first ``folds`` of them, all when None) and the id_map task."""
    out = []
    smiles_of = dict(zip(data.compounds[SM_NAME], data.compounds[SMILES]))
    if folds is None or folds > 0:
        all_folds = leave_one_cell_type_out(data)
        for fold in all_folds[:folds] if folds else all_folds:
            q = data.obs.iloc[fold.val_idx][[CELL_TYPE, SM_NAME, SMILES]].reset_index(drop=True)
            out.append(Task(fold.name, data.obs.iloc[fold.train_idx].reset_index(drop=True), data.X[fold.train_idx],
                            q, data.X[fold.val_idx], "fold"))
    if id_map and data.id_map is not None and data.truth is not None:
        q = data.id_map[[CELL_TYPE, SM_NAME]].reset_index(drop=True)
        q[SMILES] = q[SM_NAME].map(smiles_of)
        out.append(Task(ID_MAP_TASK, data.obs, data.X, q, data.truth, "id_map"))
    return out


def _score(task: Task, method: str, pred: np.ndarray, seconds: float, **extra) -> dict:
    return {"task": task.name, "kind": task.kind, "method": method, "mrrmse": mrrmse(task.truth, pred),
            "pearson": rowwise_pearson(task.truth, pred), "seconds": round(seconds, 3), "rows": len(task.truth),
            **extra}


def _query_lists(task: Task) -> tuple[list[str], list[str], list[str]]:
    q = task.queries
    return q[CELL_TYPE].tolist(), q[SMILES].tolist(), q[SM_NAME].tolist()


def score_baselines(task: Task, genes: Sequence[str]) -> list[dict]:
    """Fit every baseline on the task's training rows and score it on its queries."""
    rows = []
    cts, smiles, names = _query_lists(task)
    for base in all_baselines():
        t0 = time.perf_counter()
        pred = base.fit(task.obs, task.X, genes).predict(cts, smiles, names)
        rows.append(_score(task, base.name, pred, time.perf_counter() - t0, family="baseline"))
    return rows


def score_predictor(task: Task, predictor) -> list[dict]:
    """Score each member of a predictor trained on the task's rows, their ensemble and the readout.

    ``seconds`` is the training time (features + that member; the ensemble: features + all members).
    """
    cts, smiles, names = _query_lists(task)
    rows = []
    members = predictor.predict_members(cts, smiles, names)
    feat_s = float(predictor.info.get("feature_seconds", 0.0))
    for kind, pred in members.items():
        hist = predictor.histories.get(kind)
        rows.append(_score(task, kind, pred, feat_s + (hist.seconds if hist else 0.0), family="model",
                           epochs=len(hist.train_loss) if hist else None))
    if len(members) > 1:
        pred = predictor.predict(cts, smiles, names)
        total = feat_s + sum(h.seconds for h in predictor.histories.values())
        rows.append(_score(task, ENSEMBLE, pred, total, family="model", weights=dict(predictor.weights)))
    readout = predictor.pipeline.transform(cts, smiles, names).base
    rows.append(_score(task, READOUT, predictor.pipeline.to_genes(readout), feat_s, family="component"))
    return rows


def run_task(task: Task, genes: Sequence[str], spec=None, models: bool = True,
             on_progress: Callable[[float, str], None] | None = None, on_epoch=None) -> list[dict]:
    """Score every baseline and (with ``models``) the networks of ``spec`` and their ensemble on ``task``."""
    rows = score_baselines(task, genes)
    if models:
        from .train import ModelSpec, train_ensemble

        predictor = train_ensemble(task.obs, task.X, genes, spec or ModelSpec(), on_progress=on_progress,
                                   on_epoch=on_epoch)
        rows.extend(score_predictor(task, predictor))
    return rows


def benchmark(data: PerturbData, spec=None, folds: int | None = None, id_map: bool = True, models: bool = True,
              on_progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """Scores of every method on every task, one row per (task, method)."""
    rows = []
    tasks = tasks_for(data, folds, id_map)
    if not tasks:
        raise ValueError("nothing to evaluate: no leave-one-cell-type-out fold and no id_map truth")
    for i, task in enumerate(tasks):
        if on_progress is not None:
            on_progress(i / len(tasks), f"{task.name} ({len(task.obs)} training rows, {len(task.truth)} scored)")
        rows.extend(run_task(task, data.genes, spec, models))
        log.info("scored %s", task.name)
    if on_progress is not None:
        on_progress(1.0, "done")
    return pd.DataFrame(rows)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Methods x {mean over folds, id_map} MRRMSE, plus each method's ratio to the best baseline."""
    out = {}
    folds = results[results["kind"] == "fold"]
    if len(folds):
        out["folds (mean MRRMSE)"] = folds.groupby("method", sort=False)["mrrmse"].mean()
    idm = results[results["kind"] == "id_map"]
    if len(idm):
        out["id_map MRRMSE"] = idm.set_index("method")["mrrmse"]
    table = pd.DataFrame(out)
    order = list(dict.fromkeys(results["method"]))
    table = table.reindex(order)
    baselines = results.loc[results["family"] == "baseline", "method"].unique()
    for col in list(table.columns):
        best = table.loc[table.index.isin(baselines), col].min()
        table[f"{col.split(' ')[0]} / best baseline"] = table[col] / best
    secs = results.groupby("method", sort=False)["seconds"].mean()
    table["train s (mean)"] = secs.reindex(table.index)
    table.index.name = "method"
    return table


def default_model_table(data: PerturbData, predictor) -> pd.DataFrame:
    """The seed's Table 2 for models trained on all rows of ``data``, with the baselines beside them.

    Columns: ``validation`` -- MRRMSE on the rows held out of the networks' training (baselines are
    fitted on the other rows); ``test (id_map truth)`` -- MRRMSE on the id_map rows when their values
    are known (the demo). One row per method.
    """
    from .train import internal_split

    table: dict[str, dict[str, float]] = {}
    spec = predictor.spec
    val_idx = internal_split(data.obs.reset_index(drop=True), spec.train.val_fraction, spec.train.seed)
    if len(val_idx) and len(val_idx) < data.n_rows:
        rest = np.setdiff1d(np.arange(data.n_rows), val_idx)
        q = data.obs.iloc[val_idx][[CELL_TYPE, SM_NAME, SMILES]].reset_index(drop=True)
        task = Task("validation", data.obs.iloc[rest].reset_index(drop=True), data.X[rest], q, data.X[val_idx], "fold")
        for row in score_baselines(task, data.genes):
            table.setdefault(row["method"], {})["validation"] = row["mrrmse"]
    for name, value in predictor.info.get("val_mrrmse", {}).items():
        table.setdefault(name, {})["validation"] = value
    idm = [t for t in tasks_for(data, folds=0, id_map=True)]
    if idm:
        for row in score_baselines(idm[0], data.genes) + score_predictor(idm[0], predictor):
            table.setdefault(row["method"], {})["test (id_map truth)"] = row["mrrmse"]
    out = pd.DataFrame.from_dict(table, orient="index")
    order = [m for m in (*BASELINE_NAMES, *MODEL_KINDS, ENSEMBLE, READOUT) if m in out.index]
    out = out.reindex(order + [m for m in out.index if m not in order])
    out.index.name = "method"
    return out
