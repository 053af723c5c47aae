"""Score baselines and models on the same held-out rows.

A *task* is a set of training rows and query pairs with known values. The primary tasks are the
shift-true folds (:func:`~scperturb_core.validation.splits.shift_folds`: the sparse-cell-type rows of some
compounds measured there leave, their T/NK rows stay -- the test situation) and, when the dataset
carries the truth of its id_map (the demo), the id_map rows. The leave-one-T/NK-cell-type-out folds and
the leave-compounds-out folds are secondary families (``family=``). Every method is fitted on the
task's training rows only -- the default predictor's own inner shift-true folds run on those rows
only (nested) -- and scored with :func:`~scperturb_core.validation.metrics.mrrmse`, the mean row-wise Pearson
correlation, the ranking quality of :func:`~scperturb_core.validation.metrics.ranking_quality` (on the pooled
held-out rows of a fold family, per target cell type) and, for the stack, the coverage of its 80 %
interval.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..data import PerturbData
from ..models.networks import MODEL_KINDS
from ..models.stack import STACK
from .baselines import BASELINE_NAMES, all_baselines
from .metrics import mrrmse, ranking_quality, rowwise_pearson
from .splits import leave_compounds_out, leave_one_cell_type_out, shift_folds

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
#: the readout alone (the closed-form part both networks build on), reported for transparency
READOUT = "readout (ridge)"
#: the name of the id_map task
ID_MAP_TASK = "id_map (held-out truth)"
#: fold families of :func:`tasks_for`
FAMILIES: tuple[str, ...] = ("shift", "cell type", "compounds", "all")
#: the row of :func:`benchmark` pooling the held-out rows of every shift-true fold
POOLED_TASK = "shift folds (pooled)"


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


def _fold_tasks(data: PerturbData, folds, kind: str) -> list[Task]:
    out = []
    for fold in folds:
        q = data.obs.iloc[fold.val_idx][[CELL_TYPE, SM_NAME, SMILES]].reset_index(drop=True)
        out.append(Task(fold.name, data.obs.iloc[fold.train_idx].reset_index(drop=True), data.X[fold.train_idx],
                        q, data.X[fold.val_idx], kind))
    return out


def tasks_for(data: PerturbData, folds: int | None = None, id_map: bool = True, family: str = "shift") -> list[Task]:
    """The folds of ``family`` (the first ``folds`` of them, all when None) and the id_map task.

    ``family``: ``"shift"`` (primary: the shift-true folds, kind ``"fold"``), ``"cell type"``
    (leave-one-T/NK-cell-type-out, kind ``"cell-type fold"``), ``"compounds"`` (leave-compounds-out,
    3 folds, kind ``"compound fold"``) or ``"all"`` (shift-true then cell-type folds). A family the data
    cannot form (e.g. no sparse cell type) is skipped.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown fold family {family!r}; choose one of {list(FAMILIES)}")
    out = []
    if folds is None or folds > 0:
        fams = ("shift", "cell type") if family == "all" else (family,)
        for fam in fams:
            try:
                if fam == "shift":
                    found, kind = shift_folds(data), "fold"
                elif fam == "cell type":
                    found, kind = leave_one_cell_type_out(data), "cell-type fold"
                else:
                    found, kind = leave_compounds_out(data, n_folds=3), "compound fold"
            except ValueError as exc:
                if family != "all":
                    raise
                log.info("no %s folds: %s", fam, exc)
                continue
            out.extend(_fold_tasks(data, found[:folds] if folds else found, kind))
    if id_map and data.id_map is not None and data.truth is not None:
        smiles_of = dict(zip(data.compounds[SM_NAME], data.compounds[SMILES]))
        q = data.id_map[[CELL_TYPE, SM_NAME]].reset_index(drop=True)
        q[SMILES] = q[SM_NAME].map(smiles_of)
        out.append(Task(ID_MAP_TASK, data.obs, data.X, q, data.truth, "id_map"))
    return out


def _score(task: Task, method: str, pred: np.ndarray, seconds: float, **extra) -> dict:
    rank = ranking_quality(task.truth, pred, task.queries[CELL_TYPE].astype(str).to_numpy())
    row = {"task": task.name, "kind": task.kind, "method": method, "mrrmse": mrrmse(task.truth, pred),
           "pearson": rowwise_pearson(task.truth, pred), "spearman": rank["spearman"],
           "precision_at_k": rank["precision_at_k"], "seconds": round(seconds, 3), "rows": len(task.truth), **extra}
    if task.kind == "fold":  # pooled over the shift-true folds by benchmark()
        row["_pred"] = np.asarray(pred, dtype=np.float32)
    return row


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
    total = feat_s + sum(h.seconds for h in predictor.histories.values()) + float(predictor.info.get("cv_seconds", 0))
    if len(members) > 1:
        pred = sum(predictor.weights[k] * members[k] for k in members)
        rows.append(_score(task, ENSEMBLE, pred, total, family="model", weights=dict(predictor.weights)))
    readout = predictor.pipeline.transform(cts, smiles, names).base
    rows.append(_score(task, READOUT, predictor.pipeline.to_genes(readout), feat_s, family="component"))
    if predictor.stacked:
        est, lo, hi = predictor.predict_interval(cts, smiles, names, level=0.8)
        covered = float(np.mean((task.truth >= lo) & (task.truth <= hi)))
        rows.append(_score(task, STACK, est, total, family="model", coverage_80=covered,
                           fallback=predictor.stack.fallback or ""))
    return rows


def run_task(task: Task, genes: Sequence[str], spec=None, models: bool = True,
             on_progress: Callable[[float, str], None] | None = None, on_epoch=None) -> list[dict]:
    """Score every baseline and (with ``models``) the networks of ``spec`` and their ensemble on ``task``."""
    rows = score_baselines(task, genes)
    if models:
        from ..models.predictor import train_ensemble
        from ..models.train import ModelSpec

        predictor = train_ensemble(task.obs, task.X, genes, spec or ModelSpec(), on_progress=on_progress,
                                   on_epoch=on_epoch)
        rows.extend(score_predictor(task, predictor))
    return rows


def benchmark(data: PerturbData, spec=None, folds: int | None = None, id_map: bool = True, models: bool = True,
              on_progress: Callable[[float, str], None] | None = None, family: str = "shift") -> pd.DataFrame:
    """Scores of every method on every task, one row per (task, method).

    With shift-true folds, one more row per method (task :data:`POOLED_TASK`, kind ``"pooled"``) scores
    the pooled held-out rows of all of them: MRRMSE, and the ranking quality per target cell type,
    which needs more compounds than a single fold holds.
    """
    rows = []
    tasks = tasks_for(data, folds, id_map, family=family)
    if not tasks:
        raise ValueError("nothing to evaluate: no leave-one-cell-type-out fold and no id_map truth")
    for i, task in enumerate(tasks):
        if on_progress is not None:
            on_progress(i / len(tasks), f"{task.name} ({len(task.obs)} training rows, {len(task.truth)} scored)")
        rows.extend(run_task(task, data.genes, spec, models))
        log.info("scored %s", task.name)
    pooled = _pooled_rows([t for t in tasks if t.kind == "fold"], rows)
    for r in rows:
        r.pop("_pred", None)
    if on_progress is not None:
        on_progress(1.0, "done")
    return pd.DataFrame(rows + pooled)


def _pooled_rows(fold_tasks: list[Task], rows: list[dict]) -> list[dict]:
    if not fold_tasks:
        return []
    names = {t.name for t in fold_tasks}
    truth = np.concatenate([t.truth for t in fold_tasks])
    groups = np.concatenate([t.queries[CELL_TYPE].astype(str).to_numpy() for t in fold_tasks])
    order = [t.name for t in fold_tasks]
    out = []
    for method in dict.fromkeys(r["method"] for r in rows if r["task"] in names):
        parts = {r["task"]: r for r in rows if r["task"] in names and r["method"] == method and "_pred" in r}
        if set(parts) != names:
            continue
        pred = np.concatenate([parts[n]["_pred"] for n in order])
        rank = ranking_quality(truth, pred, groups)
        row = {"task": POOLED_TASK, "kind": "pooled", "method": method, "mrrmse": mrrmse(truth, pred),
               "pearson": rowwise_pearson(truth, pred), "spearman": rank["spearman"],
               "precision_at_k": rank["precision_at_k"], "rows": len(truth),
               "seconds": float(np.mean([parts[n]["seconds"] for n in order])),
               "family": parts[order[0]].get("family")}
        if "coverage_80" in parts[order[0]]:
            w = np.array([len(t.truth) for t in fold_tasks], dtype=float)
            row["coverage_80"] = float(np.average([parts[n]["coverage_80"] for n in order], weights=w))
        out.append(row)
    return out


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Methods x {mean over folds, id_map} MRRMSE, plus each method's ratio to the best baseline, the
    ranking Spearman (pooled shift-true folds and id_map) and the stack's 80 % interval coverage."""
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
    pooled = results[results["kind"] == "pooled"]
    if len(pooled) and "spearman" in pooled:
        table["folds Spearman"] = pooled.set_index("method")["spearman"].reindex(table.index)
    if len(idm) and "spearman" in idm:
        table["id_map Spearman"] = idm.set_index("method")["spearman"].reindex(table.index)
    if "coverage_80" in results:
        cov = results[results["kind"].isin(["pooled", "id_map"])].dropna(subset=["coverage_80"])
        for kind, col in (("pooled", "folds coverage 80%"), ("id_map", "id_map coverage 80%")):
            part = cov[cov["kind"] == kind]
            if len(part):
                table[col] = part.set_index("method")["coverage_80"].reindex(table.index)
    secs = results.groupby("method", sort=False)["seconds"].mean()
    table["train s (mean)"] = secs.reindex(table.index)
    table.index.name = "method"
    return table


def default_model_table(data: PerturbData, predictor) -> pd.DataFrame:
    """The seed's Table 2 for models trained on all rows of ``data``, with the baselines beside them.

    Columns: ``shift-true CV`` -- the out-of-fold MRRMSE on the shift-true folds the predictor was
    chosen on (the stack cross-fitted); ``test (id_map truth)`` -- MRRMSE on the id_map rows when their
    values are known (the demo). One row per method.
    """
    table: dict[str, dict[str, float]] = {}
    for name, value in predictor.info.get("val_mrrmse", {}).items():
        table.setdefault(name, {})["shift-true CV"] = value
    idm = [t for t in tasks_for(data, folds=0, id_map=True)]
    if idm:
        for row in score_baselines(idm[0], data.genes) + score_predictor(idm[0], predictor):
            table.setdefault(row["method"], {})["test (id_map truth)"] = row["mrrmse"]
    out = pd.DataFrame.from_dict(table, orient="index")
    order = [m for m in (*BASELINE_NAMES, *MODEL_KINDS, ENSEMBLE, READOUT, STACK) if m in out.index]
    out = out.reindex(order + [m for m in out.index if m not in order])
    out.index.name = "method"
    return out


def validation_tables(predictor) -> dict:
    """What the Training page shows about the default predictor's shift-true validation.

    Returns ``{"cv": DataFrame, "weights": DataFrame, "coverage": DataFrame, "message": str | None,
    "new_compound": dict}``: ``cv`` has one row per candidate, the ensemble and the stack (cross-fitted)
    with MRRMSE, its ratio to the best baseline and the ranking Spearman / precision@10 over the
    out-of-fold rows (the ``compound mean`` row is the plain compound-mean ranking); ``weights`` the stack
    weights per target cell type (``*``: pooled); ``coverage`` the cross-fitted share of held-out values
    inside the 80 % / 90 % intervals. Empty frames for a model without the stack.
    """
    st = getattr(predictor, "stack", None)
    empty = {"cv": pd.DataFrame(), "weights": pd.DataFrame(), "coverage": pd.DataFrame(),
             "message": None if st is None else st.message, "new_compound": {}}
    if st is None or not st.enabled or "cv" not in st.report:
        return empty
    cv = pd.DataFrame.from_dict(st.report["cv"], orient="index")
    cv = cv.rename(columns={"mrrmse": "MRRMSE", "ratio": "x best baseline", "spearman": "ranking Spearman",
                            "precision_at_k": "precision@10"})
    cv.index.name = "method"
    cols = [c for c in ("MRRMSE", "x best baseline", "ranking Spearman", "precision@10") if c in cv]
    weights = pd.DataFrame({t: dict(zip(st.candidates, map(float, w))) for t, w in st.weights.items()}).T
    weights.index.name = "target cell type"
    cov = st.report.get("coverage", {})
    coverage = pd.DataFrame({kind: {f"{float(k):.0%} interval": v for k, v in d.items()}
                             for kind, d in cov.items() if d}).T
    coverage.index.name = "compounds"
    return {"cv": cv[cols], "weights": weights, "coverage": coverage, "message": st.message,
            "new_compound": dict(st.report.get("new_compound", {}))}
