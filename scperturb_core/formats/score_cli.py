"""``score``: the benchmark's metrics for a prediction file against a truth file.

Registered by :mod:`scperturb_core.cli` through :func:`add_parser`. User errors raise ``ValueError``
(one line); the CLI prints ``error: <message>`` and exits 2.
"""
from __future__ import annotations

import argparse
import json


def _cmd_score(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..io import atomic_write_text
    from .score import score_files

    result = score_files(args.truth, args.prediction, truth_layer=args.truth_layer,
                         prediction_layer=args.prediction_layer, id_map=args.id_map)
    layers = f"truth layer {result.truth_layer!r}" if result.truth_layer else "truth table"
    layers += f", prediction layer {result.prediction_layer!r}" if result.prediction_layer else ", prediction table"
    print(f"scored {result.rows} rows x {result.genes} genes ({layers})")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.table.round(4).to_string())
    for note in result.notes:
        print(f"note: {note}")
    if args.out:
        payload = {"truth": str(args.truth), "prediction": str(args.prediction), "truth_layer": result.truth_layer,
                   "prediction_layer": result.prediction_layer, "rows": result.rows, "genes": result.genes,
                   "scores": json.loads(result.table.rename_axis("group").reset_index().to_json(orient="records")),
                   "notes": list(result.notes)}
        atomic_write_text(args.out, json.dumps(payload, indent=1))
        print(f"wrote {args.out}")
    return 0


def add_parser(sub) -> None:
    """Register ``score`` on an argparse subparsers object."""
    p = sub.add_parser("score", help="mean row-wise RMSE, MAE, Pearson, Spearman and cosine of a prediction, "
                                     "per cell type and overall (the OpenProblems benchmark's metrics)")
    p.add_argument("--truth", required=True, help="truth: de_test.h5ad, or a parquet/CSV with id + genes")
    p.add_argument("--prediction", required=True, help="prediction: .h5ad (layer 'prediction'), or a "
                                                       "parquet/CSV with id + genes (a Kaggle submission)")
    p.add_argument("--truth-layer", default=None,
                   help="truth .h5ad layer; default clipped_sign_log10_pval, else sign_log10_pval, else X")
    p.add_argument("--prediction-layer", default=None, help="prediction .h5ad layer; default 'prediction'")
    p.add_argument("--id-map", default=None, help="id_map.csv: cell types of the truth's ids (when the truth "
                                                  "has no cell_type)")
    p.add_argument("--out", default=None, help="also write the scores to this JSON file")
    p.set_defaults(func=_cmd_score)
