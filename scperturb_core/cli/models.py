"""Model commands: ``train``, ``predict`` (a Kaggle submission) and ``benchmark``.

Registered by :mod:`scperturb_core.cli` through :func:`add_parser`. User errors raise ``ValueError``
(one line); the CLI prints ``error: <message>`` and exits 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..constants import BENCHMARK_DATASET_ID, CELL_TYPE, DEMO, ID, SM_NAME

#: the provenance file written beside a Kaggle submission CSV (``submission.csv.provenance.json``)
PROVENANCE_SUFFIX = ".provenance.json"

log = logging.getLogger(__name__)


def _int_at_least(name: str, minimum: int, maximum: int = 10**6):
    """An argparse type: an integer in ``[minimum, maximum]``; the error names the option and the bad value."""
    from ..safeio import bounded_int

    return bounded_int(name, minimum, maximum)


def _model_choice(text: str) -> str:
    """An argparse type for ``--model``; the model code (torch) is imported only when the option is given,
    so a bad command line is answered without loading it."""
    from ..models.train import MODEL_CHOICES

    if text not in MODEL_CHOICES:
        raise argparse.ArgumentTypeError(f"--model must be one of {', '.join(MODEL_CHOICES)}, got {text[:40]!r}")
    return text


def _add_model_options(p) -> None:
    """Options shared by ``train`` and ``benchmark``: model choice, epochs, seed, basis size, genes."""
    p.add_argument("--model", type=_model_choice, default=None, metavar="MODEL",
                   help="mlp, transformer or ensemble (default: ensemble)")
    p.add_argument("--epochs", type=_int_at_least("--epochs", 1), default=None, help="most epochs per model")
    p.add_argument("--seed", type=_int_at_least("--seed", 0, 2**32 - 1), default=None, help="random seed")
    p.add_argument("--components", type=_int_at_least("--components", 1, 4096), default=None,
                   help="size of the gene basis")
    p.add_argument("--genes", type=_int_at_least("--genes", 1, 50_000), default=None,
                   help="use only the first N genes (quick runs)")


def _spec(args: argparse.Namespace):
    from ..models.features import FeatureConfig
    from ..models.train import ModelSpec, TrainConfig

    train = TrainConfig()
    if getattr(args, "epochs", None) is not None:
        train = replace(train, epochs=args.epochs, patience=min(train.patience, args.epochs))
    if getattr(args, "seed", None) is not None:
        train = replace(train, seed=args.seed)
    features = FeatureConfig()
    if getattr(args, "components", None) is not None:
        features = replace(features, n_components=args.components)
    if getattr(args, "no_readout", False):
        features = replace(features, readout=False)
    return ModelSpec(model=getattr(args, "model", None) or "ensemble", features=features, train=train)


def _progress_printer(enabled: bool):
    """A ``(fraction, message)`` callback printing a progress line to stderr at most every 10%."""
    state = {"last": -1.0}

    def report(fraction: float, message: str) -> None:
        if not enabled:
            return
        if fraction >= 1.0 or fraction - state["last"] >= 0.1 or fraction == 0.0:
            state["last"] = fraction
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)
    return report


def _load_data(spec: str, genes: int | None = None, layer: str | None = None):
    from ..loader import load_dataset

    data = load_dataset(spec, layer=layer)  # a bad file is refused before the model code (torch) is imported
    from ..validation.evaluate import restrict_genes

    return restrict_genes(data, genes)


# ------------------------------------------------------------------------------------ train


def _cmd_train(args: argparse.Namespace) -> int:
    from ..safeio import check_output_dir

    out = check_output_dir(args.out, "--out")  # before the training (and its imports), not after it
    data = _load_data(args.data, args.genes, args.layer)
    from ..models.predictor import train_ensemble

    spec = _spec(args)
    t0 = time.perf_counter()
    pred = train_ensemble(data.obs, data.X, data.genes, spec, on_progress=_progress_printer(not args.quiet))
    seconds = time.perf_counter() - t0
    pred.info.update(dataset=data.name, simulated=bool(data.simulated))  # carried into .h5ad predictions
    pred.save(out)
    note = "  [values are SIMULATED]" if data.simulated else ""
    print(f"trained {spec.model} on {data.n_rows} rows x {data.n_genes} genes of {data.name}{note} in {seconds:.1f} s")
    for kind, hist in pred.histories.items():
        val = pred.info.get("val_mrrmse", {}).get(kind)
        print(f"  {kind:<12} epochs {len(hist.train_loss):4d}  best {hist.best_epoch:4d}  "
              f"{hist.seconds:6.1f} s  weight {pred.weights[kind]:.2f}"
              + ("" if val is None else f"  validation MRRMSE {val:.4f}"))
    print(f"saved to {out}")
    return 0


# ------------------------------------------------------------------------------------ predict


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..safeio import check_output_file

    out = check_output_file(args.out, "--out")  # the cheap checks first, before the model code is imported
    model_dir = Path(args.model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"--model-dir not found: {str(model_dir)!r}")
    import pandas as pd

    from ..data import load_id_map
    from ..io import atomic_path

    id_map = load_id_map(args.id_map)  # the cheap input first
    from ..models.predictor import Predictor

    pred = Predictor.load(model_dir)
    known_sm = dict(zip(pred.compounds[SM_NAME], pred.compounds["SMILES"]))
    bad_sm = id_map.loc[~id_map[SM_NAME].isin(list(known_sm))]
    if len(bad_sm):
        first = bad_sm.iloc[0]
        raise ValueError(f"id_map id={first[ID]} names compound {first[SM_NAME]!r}, which the model was not "
                         f"trained on ({len(bad_sm)} such rows)")
    bad_ct = id_map.loc[~id_map[CELL_TYPE].isin(pred.cell_types)]
    if len(bad_ct):
        first = bad_ct.iloc[0]
        raise ValueError(f"id_map id={first[ID]} names cell type {first[CELL_TYPE]!r}; the model knows "
                         f"{pred.cell_types}")
    t0 = time.perf_counter()
    names = id_map[SM_NAME].tolist()
    values = pred.predict(id_map[CELL_TYPE].tolist(), [known_sm[n] for n in names], names)
    seconds = time.perf_counter() - t0
    if (args.format or ("h5ad" if out.suffix.lower() == ".h5ad" else "csv")) == "h5ad":
        from ..formats.h5ad import write_prediction_h5ad

        method_id = args.method_id or f"scperturb_{pred.spec.model}"
        from ..constants import UNS_SIMULATED

        trained_on = {k: pred.info[k] for k in ("dataset", "simulated") if k in pred.info}
        write_prediction_h5ad(out, values, id_map[ID].tolist(), pred.genes, dataset_id=args.dataset_id,
                              method_id=method_id,
                              uns={"training_data": trained_on, UNS_SIMULATED: bool(trained_on.get("simulated"))})
        print(f"wrote {out}: layers['prediction'] {len(id_map)} x {len(pred.genes)} genes (dataset_id "
              f"{args.dataset_id!r}, method_id {method_id!r}) in {seconds:.2f} s of prediction")
        return 0
    frame = pd.DataFrame(values.astype(np.float64), columns=list(pred.genes))
    frame.insert(0, ID, id_map[ID].to_numpy())
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    # the Kaggle submission must stay exactly id + genes: its provenance goes into a file beside it
    from ..formats.provenance import MEASURED_VALUES, SIMULATED, manifest_id
    from ..io import atomic_write_text

    simulated = pred.info.get("simulated")
    facts = {"file": out.name, "values": "predicted",
             "training_dataset": pred.info.get("dataset", "unknown"),
             "training_values": "unknown" if simulated is None else (SIMULATED if simulated else MEASURED_VALUES),
             "model_id": manifest_id(args.model_dir)}
    side = out.with_name(out.name + PROVENANCE_SUFFIX)
    atomic_write_text(side, json.dumps(facts, indent=1))
    note = "  [trained on SIMULATED values]" if simulated else ""
    print(f"wrote {out}: {len(frame)} rows x {len(pred.genes)} genes (+ id) in {seconds:.2f} s of prediction; "
          f"provenance in {side.name}{note}")
    return 0


# ------------------------------------------------------------------------------------ benchmark


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..io import atomic_write_text

    if args.out is not None:
        from ..safeio import check_output_file

        check_output_file(args.out, "--out")
    if args.suite or args.small or args.settings:
        from ..validation.suite import run_cli

        return run_cli(args)
    data = _load_data(args.data, args.genes, args.layer)
    from ..validation.evaluate import benchmark, summary

    spec = _spec(args)
    t0 = time.perf_counter()
    results = benchmark(data, spec, folds=args.folds, id_map=True, models=not args.baselines_only,
                        on_progress=_progress_printer(not args.quiet))
    seconds = time.perf_counter() - t0
    table = summary(results)
    note = "  [values are SIMULATED]" if data.simulated else ""
    print(f"benchmark on {data.name}{note}: {data.n_rows} rows x {data.n_genes} genes, "
          f"{results['task'].nunique()} task(s), {seconds:.1f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string())
    if args.out:
        payload = {
            "dataset": data.name, "simulated": data.simulated, "rows": data.n_rows, "genes": data.n_genes,
            "spec": spec.to_dict(), "seconds": round(seconds, 2),
            "results": json.loads(results.to_json(orient="records")),
            "summary": json.loads(table.reset_index().to_json(orient="records")),
        }
        atomic_write_text(args.out, json.dumps(payload, indent=1))
        print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------------ parser


def add_parser(sub) -> None:
    """Register ``train``, ``predict`` and ``benchmark`` on an argparse subparsers object."""
    p = sub.add_parser("train", help="train the MLP / Transformer / ensemble and save a model folder")
    p.add_argument("--data", required=True, help="de_train.parquet or .h5ad path, or 'demo'")
    p.add_argument("--layer", default=None, help="value layer of an .h5ad dataset (default sign_log10_pval, else X)")
    p.add_argument("--out", required=True, help="model folder to write")
    _add_model_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("predict", help="write a Kaggle submission (id + every gene) for an id_map")
    p.add_argument("--model-dir", required=True, help="folder written by 'train'")
    p.add_argument("--id-map", required=True, help="id_map.csv (id, cell_type, sm_name)")
    p.add_argument("--out", required=True, help="submission CSV (or .h5ad) to write")
    p.add_argument("--format", choices=("csv", "h5ad"), default=None,
                   help="csv: Kaggle submission; h5ad: OpenProblems prediction file; default from --out's suffix")
    p.add_argument("--dataset-id", default=BENCHMARK_DATASET_ID, help="h5ad uns['dataset_id'] (default %(default)s)")
    p.add_argument("--method-id", default=None, help="h5ad uns['method_id'] (default scperturb_<model>)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("benchmark", help="MRRMSE of baselines and models on leave-one-cell-type-out folds "
                                         "(and the id_map truth of the demo)")
    p.add_argument("--data", default=DEMO, help="de_train.parquet or .h5ad path, or 'demo' (default)")
    p.add_argument("--layer", default=None, help="value layer of an .h5ad dataset (default sign_log10_pval, else X)")
    p.add_argument("--out", default=None, help="write all results to this JSON file")
    _add_model_options(p)
    p.add_argument("--folds", type=_int_at_least("--folds", 0, 1000), default=None,
                   help="score only the first N folds (0: only the id_map truth); default all")
    p.add_argument("--baselines-only", action="store_true", help="skip the models")
    p.add_argument("--no-readout", action="store_true",
                   help="ablation: networks without the per-cell-type readout they build on")
    p.add_argument("--suite", action="store_true",
                   help="the default predictor on every simulator setting: id_map ratio, ranking, new compounds")
    p.add_argument("--small", action="store_true", help="with --suite: 6 settings, few genes and epochs (minutes)")
    p.add_argument("--settings", default=None, help="with --suite: comma-separated setting names")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_benchmark)
