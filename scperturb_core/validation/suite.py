"""The robustness suite: the default predictor on a family of simulated screens, not only the demo.

For every named setting of :data:`~scperturb_core.demo.SIM_SETTINGS` (the real design, values from a
differently configured simulator, a different seed), :func:`run_setting`

1. trains the default predictor (:func:`~scperturb_core.models.predictor.train_ensemble` with
   :func:`~scperturb_core.models.predictor.default_spec`) on the training rows and predicts the id_map rows
   (compounds measured in T/NK cells, asked in B and Myeloid cells);
2. scores it on the id_map truth as MRRMSE / the best simple baseline (fitted on the same rows), with
   the ablation: every member the predictor exposes (readout, MLP, Transformer, the networks'
   ensemble, the default prediction) next to the baselines;
3. scores the ranking of compounds per gene within each target cell type
   (:func:`~scperturb_core.validation.metrics.ranking_quality`) against the plain compound-mean ranking (each
   compound's mean over its measured T/NK training rows);
4. the new-compound ratio: on leave-compounds-out folds, MRRMSE of a predictor trained without those
   compounds on their rows / the cell-type mean's;
5. the coverage of the 80 % interval on the id_map truth, when the predictor offers intervals.

:func:`run_suite` runs several settings; :func:`suite_table` and :func:`check_bars` summarise them.
Everything is seeded: the same command gives the same numbers (up to thread scheduling of BLAS).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..data import PerturbData
from .baselines import CompoundMean, all_baselines
from .metrics import mrrmse, ranking_quality, rowwise_rmse

log = logging.getLogger(__name__)

#: names of the ablation rows (besides the baselines)
READOUT, MLP, TRANSFORMER, NETWORKS, DEFAULT = "readout", "mlp", "transformer", "networks ensemble", "default"
#: ablation rows in display order; a member the predictor does not expose is left out
ABLATION: tuple[str, ...] = (READOUT, MLP, TRANSFORMER, NETWORKS, DEFAULT)
#: interval level whose coverage the suite reports
INTERVAL_LEVEL = 0.8
#: the bars: per setting and over the mean of settings
BAR_RATIO_EACH, BAR_NEW_EACH, BAR_RATIO_MEAN, BAR_RANK_MARGIN_MEAN = 1.00, 1.00, 0.92, 0.03
#: the default predictor's id_map ratio on the demo before this suite existed (all genes); not worse
DEMO_REFERENCE_RATIO = 0.613


@dataclass(frozen=True)
class SuiteConfig:
    """How much of each setting the suite runs.

    Attributes:
        genes: use only the first ``genes`` genes (None: all 18,211).
        epochs: most epochs per network (None: the default predictor's own).
        lco_folds: how many leave-compounds-out folds score new compounds (of ``lco_total``).
        lco_total: the number of leave-compounds-out folds the compounds are split into.
        seed: seed of the fold split and of training.
        train_overrides: further ``TrainConfig`` fields to set, applied only when the default
            predictor's config has them (e.g. fewer internal folds in the small mode).
    """

    genes: int | None = None
    epochs: int | None = None
    lco_folds: int = 2
    lco_total: int = 5
    seed: int = 0
    train_overrides: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if self.genes is not None and self.genes < 1:
            raise ValueError(f"genes must be >= 1, got {self.genes}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0 <= self.lco_folds <= self.lco_total:
            raise ValueError(f"lco_folds must be in 0..{self.lco_total}, got {self.lco_folds}")


#: the full suite: every gene, the default predictor as shipped, two of five compound folds
FULL = SuiteConfig()
#: the small suite (CI): 200 genes, 10 epochs, one compound fold, the fewest internal folds the
#: default predictor accepts (its numbers show the structure of the result, not the predictor's quality)
SMALL = SuiteConfig(genes=200, epochs=10, lco_folds=1,
                    train_overrides=(("shift_folds", 2), ("new_compound_folds", 2)))
#: the settings the small suite runs (six, seeds differ)
SMALL_SETTINGS: tuple[str, ...] = ("demo", "low-carry-over", "far-lineage", "chemistry-poor",
                                   "heavy-tails-rank3", "nonlinear")


def suite_spec(cfg: SuiteConfig):
    """The default predictor's :class:`~scperturb_core.models.train.ModelSpec`, with ``cfg``'s epochs and
    overrides (only fields the config has), seeded by ``cfg.seed``."""
    from ..models.predictor import default_spec

    spec = default_spec()
    train = replace(spec.train, seed=cfg.seed)
    if cfg.epochs is not None:
        train = replace(train, epochs=cfg.epochs, patience=min(train.patience, cfg.epochs),
                        min_epochs=min(train.min_epochs, cfg.epochs))
    known = {k: v for k, v in cfg.train_overrides if hasattr(train, k)}
    if known:
        train = replace(train, **known)
    return replace(spec, train=train)


def _queries(frame: pd.DataFrame, data: PerturbData) -> tuple[list[str], list[str], list[str]]:
    smiles_of = dict(zip(data.compounds[SM_NAME], data.compounds[SMILES]))
    names = frame[SM_NAME].astype(str).tolist()
    return frame[CELL_TYPE].astype(str).tolist(), [smiles_of[n] for n in names], names


def ablation_predictions(predictor, cell_types: Sequence[str], smiles: Sequence[str],
                         names: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Every prediction the predictor exposes for the pairs, keyed by :data:`ABLATION` names.

    ``default`` is :meth:`predict`; ``mlp`` / ``transformer`` come from ``predict_members``; the
    networks' ensemble mixes them with the predictor's member weights; ``readout`` is the feature
    pipeline's ridge readout. Members a predictor does not have are left out.
    """
    out: dict[str, np.ndarray] = {}
    pipe = getattr(predictor, "pipeline", None)
    if pipe is not None and hasattr(pipe, "transform") and hasattr(pipe, "to_genes"):
        try:
            base = pipe.transform(list(cell_types), list(smiles), None if names is None else list(names)).base
            if base is not None:
                out[READOUT] = np.asarray(pipe.to_genes(base), dtype=np.float32)
        except (AttributeError, TypeError) as exc:  # a pipeline without a readout
            log.info("no readout to score: %s", exc)
    members = predictor.predict_members(cell_types, smiles, names) if hasattr(predictor, "predict_members") else {}
    for kind, pred in members.items():
        out[kind] = pred
    weights = getattr(predictor, "weights", {}) or {}
    if len(members) > 1 and set(weights) >= set(members):
        total = sum(float(weights[k]) for k in members)
        if total > 0:
            out[NETWORKS] = (sum(float(weights[k]) * members[k] for k in members) / total).astype(np.float32)
    out[DEFAULT] = predictor.predict(cell_types, smiles, names)
    return out


def _baseline_scores(obs: pd.DataFrame, X: np.ndarray, genes, cts, smiles, names, truth) -> dict[str, float]:
    scores = {}
    for base in all_baselines():
        scores[base.name] = mrrmse(truth, base.fit(obs, X, genes).predict(cts, smiles, names))
    return scores


def _compound_mean_ranking(data: PerturbData, cts, smiles, names) -> np.ndarray:
    """Each query compound's mean over its training rows outside the sparse cell types (T/NK)."""
    from .splits import sparse_cell_types

    sparse = set(sparse_cell_types(data))
    keep = ~data.obs[CELL_TYPE].isin(sparse).to_numpy()
    base = CompoundMean().fit(data.obs[keep].reset_index(drop=True), data.X[keep], data.genes)
    return base.predict(cts, smiles, names)


def _coverage(predictor, cts, smiles, names, truth: np.ndarray) -> float | None:
    if not hasattr(predictor, "predict_interval"):
        return None
    try:
        _, lo, hi = predictor.predict_interval(cts, smiles, names, level=INTERVAL_LEVEL)
    except ValueError as exc:  # e.g. a predictor without calibrated intervals
        log.info("no interval coverage: %s", exc)
        return None
    return float(np.mean((truth >= lo) & (truth <= hi)))


def _new_compound_ratio(data: PerturbData, spec, cfg: SuiteConfig,
                        report: Callable[[str], None]) -> dict[str, float] | None:
    """Pooled over ``cfg.lco_folds`` leave-compounds-out folds: MRRMSE of the predictor trained without
    the fold's compounds on their rows (queried by SMILES only) / the cell-type mean's."""
    from ..models.predictor import train_ensemble
    from .baselines import CellTypeMean
    from .splits import leave_compounds_out

    if cfg.lco_folds == 0:
        return None
    model_err, base_err = [], []
    for fold in leave_compounds_out(data, n_folds=cfg.lco_total, seed=cfg.seed)[: cfg.lco_folds]:
        report(f"{fold.name}: training without {len(fold.val_idx)} rows of held-out compounds")
        obs = data.obs.iloc[fold.train_idx].reset_index(drop=True)
        X = data.X[fold.train_idx]
        val = data.obs.iloc[fold.val_idx].reset_index(drop=True)
        cts, smiles, _ = _queries(val, data)
        truth = data.X[fold.val_idx]
        pred = train_ensemble(obs, X, data.genes, spec).predict(cts, smiles, None)
        base = CellTypeMean().fit(obs, X, data.genes).predict(cts, smiles, None)
        model_err.append(rowwise_rmse(truth, pred))
        base_err.append(rowwise_rmse(truth, base))
    model, base = float(np.concatenate(model_err).mean()), float(np.concatenate(base_err).mean())
    return {"model_mrrmse": model, "cell_type_mean_mrrmse": base, "ratio": model / base,
            "rows": int(sum(len(e) for e in model_err)), "folds": cfg.lco_folds}


def run_setting(name: str, cfg: SuiteConfig = FULL,
                on_progress: Callable[[str], None] | None = None) -> dict:
    """Train and score the default predictor on one simulator setting; a JSON-ready dict.

    Keys: ``setting``, ``seed`` (the simulator's), ``genes``, ``seconds``; ``id_map``: MRRMSE of every
    ablation member and baseline, ``best_baseline`` (name), each member's ``ratio`` to it;
    ``ranking``: ``ranking_quality`` of the default prediction and of the compound-mean ranking;
    ``new_compound``: the leave-compounds-out ratio (None when ``cfg.lco_folds == 0``);
    ``coverage_80``: interval coverage or None; ``predictor``: what the predictor said of itself.
    """
    from ..demo import sim_setting, simulate_setting
    from ..models.predictor import train_ensemble
    from .evaluate import restrict_genes

    report = on_progress or (lambda msg: None)
    t0 = time.perf_counter()
    sim = sim_setting(name)
    report(f"{name}: simulating")
    data = restrict_genes(simulate_setting(name), cfg.genes)
    spec = suite_spec(cfg)
    report(f"{name}: training the default predictor on {data.n_rows} rows x {data.n_genes} genes")
    predictor = train_ensemble(data.obs, data.X, data.genes, spec)
    cts, smiles, names = _queries(data.id_map, data)
    truth = data.truth
    preds = ablation_predictions(predictor, cts, smiles, names)
    scores = {k: mrrmse(truth, p) for k, p in preds.items()}
    base_scores = _baseline_scores(data.obs, data.X, data.genes, cts, smiles, names, truth)
    best_name = min(base_scores, key=base_scores.get)
    best = base_scores[best_name]
    groups = np.asarray(cts)
    rank_default = ranking_quality(truth, preds[DEFAULT], groups)
    rank_plain = ranking_quality(truth, _compound_mean_ranking(data, cts, smiles, names), groups)
    coverage = _coverage(predictor, cts, smiles, names, truth)
    report(f"{name}: new compounds")
    new = _new_compound_ratio(data, spec, cfg, report)
    info = {}
    for attr in ("stacked", "fallback_message"):
        if hasattr(predictor, attr):
            info[attr] = getattr(predictor, attr)
    return {
        "setting": name, "seed": sim.seed, "genes": data.n_genes, "train_rows": data.n_rows,
        "id_map_rows": len(truth),
        "id_map": {"mrrmse": {**scores, **base_scores}, "best_baseline": best_name,
                   "ratio": {k: v / best for k, v in scores.items()}},
        "ranking": {"default": rank_default, "compound_mean": rank_plain},
        "new_compound": new,
        "coverage_80": coverage,
        "predictor": info,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_suite(settings: Sequence[str], cfg: SuiteConfig = FULL,
              on_progress: Callable[[str], None] | None = None) -> dict:
    """:func:`run_setting` for each setting; ``{"config": ..., "spec": ..., "settings": [...]}``."""
    from dataclasses import asdict

    from ..demo import sim_setting

    settings = list(settings)
    if not settings:
        raise ValueError("no simulator setting to run")
    for name in settings:
        sim_setting(name)  # unknown names fail before any training
    results = [run_setting(name, cfg, on_progress) for name in settings]
    return {"config": asdict(cfg), "spec": suite_spec(cfg).to_dict(), "settings": results}


def suite_table(result: dict) -> pd.DataFrame:
    """One row per setting (plus ``mean``): the ablation ratios to the best baseline on the id_map
    truth, the best baseline, ranking Spearman / precision@k of the default and of the compound mean,
    the new-compound ratio and the 80 % interval coverage."""
    rows = []
    for r in result["settings"]:
        row = {"setting": r["setting"], "seed": r["seed"]}
        for k in ABLATION:
            row[f"{k} / best"] = r["id_map"]["ratio"].get(k, math.nan)
        row["best baseline"] = r["id_map"]["best_baseline"]
        row["rank rho"] = r["ranking"]["default"]["spearman"]
        row["cmean rho"] = r["ranking"]["compound_mean"]["spearman"]
        row["rank p@k"] = r["ranking"]["default"]["precision_at_k"]
        row["cmean p@k"] = r["ranking"]["compound_mean"]["precision_at_k"]
        row["new / ct mean"] = r["new_compound"]["ratio"] if r["new_compound"] else math.nan
        row["cover 80"] = math.nan if r["coverage_80"] is None else r["coverage_80"]
        row["s"] = r["seconds"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("setting")
    numeric = table.drop(columns=["best baseline", "seed"])
    mean = numeric.mean(numeric_only=True)
    table.loc["mean"] = {**mean.to_dict(), "best baseline": "", "seed": ""}
    return table


#: two rankings whose Spearman differ by less than this are the same ranking (float rounding of ties)
RANK_TIE_TOL = 1e-6


def check_bars(result: dict) -> list[tuple[str, bool | None, str]]:
    """The bars as ``(bar, passed, detail)``; ``passed`` is None when the run cannot decide it (e.g. no
    leave-compounds-out folds, or the demo reference on a gene subset)."""
    out = []
    sets = result["settings"]
    ratios = [r["id_map"]["ratio"][DEFAULT] for r in sets]
    worst = max(range(len(sets)), key=lambda i: ratios[i])
    out.append(("every setting: default <= 1.00 x best baseline (id_map truth)",
                ratios[worst] <= BAR_RATIO_EACH, f"worst {sets[worst]['setting']} {ratios[worst]:.3f}"))
    new = [(r["setting"], r["new_compound"]["ratio"]) for r in sets if r["new_compound"]]
    if new:
        name, value = max(new, key=lambda t: t[1])
        out.append(("every setting: new-compound ratio <= 1.00 x cell-type mean", value <= BAR_NEW_EACH,
                    f"worst {name} {value:.3f}"))
    else:
        out.append(("every setting: new-compound ratio <= 1.00 x cell-type mean", None, "not run"))
    margins = [r["ranking"]["default"]["spearman"] - r["ranking"]["compound_mean"]["spearman"] for r in sets]
    worst = min(range(len(sets)), key=lambda i: margins[i])
    out.append(("every setting: ranking Spearman >= compound-mean ranking's", margins[worst] >= -RANK_TIE_TOL,
                f"worst {sets[worst]['setting']} {margins[worst]:+.3f}"))
    mean_ratio = float(np.mean(ratios))
    out.append((f"mean: default <= {BAR_RATIO_MEAN:.2f} x best baseline", mean_ratio <= BAR_RATIO_MEAN,
                f"{mean_ratio:.3f}"))
    mean_margin = float(np.mean(margins))
    out.append((f"mean: ranking Spearman >= compound mean's + {BAR_RANK_MARGIN_MEAN:.2f}",
                mean_margin >= BAR_RANK_MARGIN_MEAN, f"{mean_margin:+.3f}"))
    demo = [r for r in sets if r["setting"] == "demo"]
    label = f"demo: default <= {DEMO_REFERENCE_RATIO} x best baseline (as before)"
    if not demo:
        out.append((label, None, "demo not run"))
    else:
        value = demo[0]["id_map"]["ratio"][DEFAULT]
        full = result["config"].get("genes") is None and result["config"].get("epochs") is None
        out.append((label, (value <= DEMO_REFERENCE_RATIO + 1e-9) if full else None,
                    f"{value:.3f}" + ("" if full else " (reference is for all genes and default epochs)")))
    return out


def format_report(result: dict) -> str:
    """The suite table, its mean row and the bars as PASS / FAIL / n/a lines."""
    table = suite_table(result)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        text = table.round(3).to_string()
    lines = [text, ""]
    notes = [(r["setting"], r.get("predictor", {}).get("fallback_message")) for r in result["settings"]]
    lines += [f"{name}: {msg}" for name, msg in notes if msg]
    if any(msg for _, msg in notes):
        lines.append("")
    for bar, passed, detail in check_bars(result):
        tag = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        lines.append(f"{tag}  {bar}: {detail}")
    return "\n".join(lines)


def run_cli(args) -> int:
    """``benchmark --suite [--small] [--settings a,b] [--genes N] [--epochs N] [--seed N] [--out F]``:
    run the suite, print the table and the bars, optionally write the JSON. Exit 0 whether or not the
    bars pass (the table says so); a bad option raises ``ValueError`` (one line)."""
    import json
    import sys

    from ..constants import DEMO
    from ..demo import SIM_SETTINGS
    from ..io import atomic_write_text

    if not args.suite:
        raise ValueError("--small and --settings go with --suite")
    if args.data != DEMO:
        raise ValueError(f"--suite simulates its own data; drop --data {args.data!r}")
    cfg = SMALL if args.small else FULL
    overrides = {k: v for k, v in (("genes", args.genes), ("epochs", args.epochs), ("seed", args.seed))
                 if v is not None}
    cfg = replace(cfg, **overrides)
    names = ([s.strip() for s in args.settings.split(",") if s.strip()] if args.settings
             else list(SMALL_SETTINGS if args.small else SIM_SETTINGS))

    def progress(msg: str) -> None:
        print(f"[suite] {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    result = run_suite(names, cfg, on_progress=None if args.quiet else progress)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"benchmark --suite{' --small' if args.small else ''}: {len(names)} settings of the simulator "
          f"[values are SIMULATED], {cfg.genes or 'all'} genes, {result['seconds']:.0f} s")
    print(format_report(result))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return 0


__all__ = ["ABLATION", "FULL", "SMALL", "SMALL_SETTINGS", "SuiteConfig", "ablation_predictions",
           "check_bars", "format_report", "run_cli", "run_setting", "run_suite", "suite_spec", "suite_table"]
