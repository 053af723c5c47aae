"""Benchmark the models: training time and peak memory, prediction latency, and (optionally) quality.

Measures, in this process (run it alone for a clean peak RSS):

* training the default ensemble (features + MLP + Transformer) on every training row, as the app does
  on first use -- wall time of each part and in total;
* peak resident memory (``ru_maxrss``) of the whole process;
* predicting all id_map rows with the saved-and-reloaded models (first call and median of repeats);
* with ``--quality``: MRRMSE of the baselines, both networks, their ensemble, the readout and the
  default stacked predictor on the shift-true folds (scored nested) and on the id_map truth, and each
  one's ratio to the best baseline.

Budgets on the full demo (614 x 18,211, a 2-core machine): training <= 120 s, peak RSS <= 3 GB, prediction
of the 255 id_map rows < 2 s; quality: the default (stacked) predictor <= 1.00 x the best baseline.

Usage::

    python bench/bench_models.py                      # full demo, timing and memory
    python bench/bench_models.py --quality --out bench_models.json
    python bench/bench_models.py --genes 500 --epochs 5 --folds 1 --quality   # seconds, for CI
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from scperturb_core.constants import CELL_TYPE, DEMO, SM_NAME, SMILES  # noqa: E402
from scperturb_core.loader import load_dataset  # noqa: E402
from scperturb_core.models.predictor import Predictor, default_spec, train_ensemble  # noqa: E402
from scperturb_core.models.stack import STACK  # noqa: E402
from scperturb_core.validation.evaluate import benchmark, restrict_genes, summary  # noqa: E402

BUDGET_TRAIN_S = 120.0
BUDGET_RSS_GB = 3.0
BUDGET_PREDICT_S = 2.0
QUALITY_RATIO = 1.00


def peak_rss_gb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEMO, help="'demo' (default) or a de_train.parquet")
    ap.add_argument("--genes", type=int, default=None, help="use only the first N genes")
    ap.add_argument("--epochs", type=int, default=None, help="most epochs per model (default: the default spec)")
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: the default spec's)")
    ap.add_argument("--repeat", type=int, default=5, help="prediction repeats (median)")
    ap.add_argument("--quality", action="store_true", help="also score folds and the id_map truth")
    ap.add_argument("--folds", type=int, default=None, help="with --quality: only the first N folds")
    ap.add_argument("--out", default=None, help="write the numbers as JSON")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = restrict_genes(load_dataset(args.data), args.genes)
    load_s = time.perf_counter() - t0
    spec = default_spec()
    if args.threads is not None:
        spec = replace(spec, train=replace(spec.train, threads=args.threads))
    if spec.train.threads:
        torch.set_num_threads(spec.train.threads)
    if args.epochs is not None:
        spec = replace(spec, train=replace(spec.train, epochs=args.epochs, patience=min(spec.train.patience, args.epochs)))
    full = args.data == DEMO and args.genes is None  # the budgets are stated for the full demo
    out: dict = {"dataset": data.name, "rows": data.n_rows, "genes": data.n_genes, "threads": spec.train.threads,
                 "torch_threads": torch.get_num_threads(), "load_s": round(load_s, 2)}
    print(f"{data.name}: {data.n_rows} rows x {data.n_genes} genes; torch threads {torch.get_num_threads()}")

    # ---- training (as ensure_default_models does; the default predictor is the stack)
    t0 = time.perf_counter()
    pred = train_ensemble(data.obs, data.X, data.genes, spec)
    train_s = time.perf_counter() - t0
    feat_s = pred.info["feature_seconds"]
    out["train"] = {"total_s": round(train_s, 2), "features_s": round(feat_s, 2),
                    **{f"{k}_s": round(h.seconds, 2) for k, h in pred.histories.items()},
                    "epochs": {k: len(h.train_loss) for k, h in pred.histories.items()},
                    "best_epoch": {k: h.best_epoch for k, h in pred.histories.items()},
                    "weights": pred.weights}
    print(f"train: {train_s:.1f} s total (features {feat_s:.1f} s, "
          + ", ".join(f"{k} {h.seconds:.1f} s / {len(h.train_loss)} epochs" for k, h in pred.histories.items())
          + f"); weights {pred.weights}")

    # ---- save, reload, predict the id_map rows
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pred.save(Path(tmp) / "model")
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = Predictor.load(Path(tmp) / "model")
        load_model_s = time.perf_counter() - t0
    if data.id_map is not None:
        q = data.id_map
        smiles = q[SM_NAME].map(dict(zip(data.compounds[SM_NAME], data.compounds[SMILES]))).tolist()
        args_q = (q[CELL_TYPE].tolist(), smiles, q[SM_NAME].tolist())
        t0 = time.perf_counter()
        loaded.predict(*args_q)
        first = time.perf_counter() - t0
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            loaded.predict(*args_q)
            runs.append(time.perf_counter() - t0)
        out["predict"] = {"rows": len(q), "first_s": round(first, 3), "median_s": round(statistics.median(runs), 3)}
        print(f"predict {len(q)} id_map rows: first {first:.2f} s, median {statistics.median(runs):.2f} s "
              f"(save {save_s:.1f} s, load {load_model_s:.1f} s)")
    out["save_s"], out["load_model_s"] = round(save_s, 2), round(load_model_s, 2)
    out["peak_rss_gb"] = round(peak_rss_gb(), 3)
    print(f"peak RSS: {out['peak_rss_gb']:.2f} GB")

    # ---- quality
    if args.quality:
        t0 = time.perf_counter()
        results = benchmark(data, spec, folds=args.folds)
        table = summary(results)
        out["quality"] = json.loads(table.reset_index().to_json(orient="records"))
        out["quality_s"] = round(time.perf_counter() - t0, 1)
        print(table.round(4).to_string())
        row = STACK if STACK in table.index else "ensemble"
        ratios = {c: float(table.loc[row, c]) for c in table.columns if c.endswith("/ best baseline")}
        out["default_ratio"] = ratios
        for col, r in ratios.items():
            print(f"{row} {col}: {r:.3f} ({'PASS' if r <= QUALITY_RATIO else 'FAIL'} at {QUALITY_RATIO})")
        out["peak_rss_gb"] = round(peak_rss_gb(), 3)

    if full:
        checks = {"train <= 120 s": train_s <= BUDGET_TRAIN_S, "peak RSS <= 3 GB": out["peak_rss_gb"] <= BUDGET_RSS_GB}
        if "predict" in out:
            checks["predict 255 rows < 2 s"] = out["predict"]["first_s"] < BUDGET_PREDICT_S
        out["budgets"] = checks
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
