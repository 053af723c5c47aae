"""Discovery commands: ``rank`` (compounds for chosen genes or a signature) and ``predict-smiles``.

``python -m scperturb_core rank --genes CD69[,GENE...] --cell-type "B cells" [--model-dir DIR]
[--data demo|PATH] [--keep GENE,...] [--rank-by confidence|estimate] [--threshold 1.3] [--top N] [--out CSV]``

``python -m scperturb_core predict-smiles (--smiles-file FILE | --smiles SMILES ...) --out OUT.csv
[--model-dir DIR] [--data demo|PATH]``

Both outputs carry provenance (:mod:`scperturb_core.formats.provenance`): the written files as columns
(``dataset, dataset_hash, dataset_values, model_id, interval``), the printed table as ``# key: value``
lines before it. User errors raise ``ValueError`` (one line; the CLI exits 2).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..constants import CELL_TYPE, DEFAULT_TARGET_CELL_TYPE, DEMO, SM_NAME
from ..discovery import predictor_module
from ..safeio import bounded_int, check_output_file, check_regular_file, finite_float

log = logging.getLogger(__name__)

EXIT_OK = 0
#: ``--cell-type`` value that ranks over every cell type
ALL_CELL_TYPES = "all"
#: molecules the CLI accepts from one file (predicted in chunks of discovery.smiles.MAX_MOLECULES)
CLI_MAX_MOLECULES = 100_000
#: largest SMILES file the CLI reads
CLI_MAX_BYTES = 64 * 2**20
#: columns printed to the terminal by ``rank``
_PRINT_COLUMNS = ("rank", SM_NAME, CELL_TYPE, "score", "score_lower", "score_upper", "call", "source")

_DATA_HELP = ("dataset with the measured values: 'demo' (default; simulated values) or a de_train.parquet. "
              "It must be the dataset the model was trained on (same genes), else the command stops with an error")
_MODEL_HELP = ("folder of trained models (Predictor.load); default: the default models of --data, trained once "
               "and cached on first use")


def _progress(step: float = 0.1):
    """``on_progress(fraction, message)`` printing to stderr each time another ``step`` is done."""
    state = {"next": 0.0}

    def report(fraction: float, message: str = "") -> None:
        if fraction >= state["next"] or fraction >= 1.0:
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)
            state["next"] = (int(fraction / step) + 1) * step
    return report


def load_predictor(model_dir: str | None, data=None):
    """``Predictor.load(model_dir)``, or the default models of ``data`` (trained once on first use)."""
    pm = predictor_module()
    if model_dir:
        path = Path(model_dir)
        if not path.is_dir():
            raise ValueError(f"--model-dir not found: {model_dir!r}")
        try:
            return pm.Predictor.load(path)
        except (FileNotFoundError, KeyError, OSError) as exc:  # ModelDirError is a ValueError already
            raise ValueError(f"--model-dir {model_dir!r} does not hold trained models ({exc})") from None
    if data is None:
        raise ValueError("give --model-dir, or --data to use the dataset's default models")
    if not (pm.default_model_dir(data) / "manifest.json").exists():
        print(f"training the default models of {data.name} once (cached for later runs)...", file=sys.stderr)
    return pm.ensure_default_models(data, on_progress=_progress())


def _split_list(values: list[str] | None) -> list[str]:
    from ..genes import parse_gene_list

    return parse_gene_list(values or [])


def _cmd_rank(args: argparse.Namespace) -> int:
    from ..discovery.rank import CALL, HIT, build_cube, rank_compounds, reversal_scores
    from ..formats.provenance import provenance_for
    from ..loader import load_dataset

    genes, keep = _split_list(args.genes), _split_list(args.keep)
    up, down = _split_list(args.up), _split_list(args.down)
    if (up or down) and genes:
        raise ValueError("give either --genes (ranking) or --up/--down (signature reversal), not both")
    if not (genes or up or down):
        raise ValueError("give --genes GENE[,GENE...] or a signature with --up/--down")
    if args.top is not None and args.top < 0:
        raise ValueError(f"--top must be >= 0, got {args.top}")
    if not args.threshold >= 0:
        raise ValueError(f"--threshold must be >= 0, got {args.threshold}")
    if args.out is not None:
        check_output_file(args.out, "--out")
    data = load_dataset(args.data)
    cell_types = None if args.cell_type == ALL_CELL_TYPES else args.cell_type
    if cell_types is not None and cell_types not in data.cell_types:
        raise ValueError(f"unknown --cell-type {cell_types!r}; known: {', '.join(data.cell_types)} (or 'all')")
    predictor = None if args.measured_only else load_predictor(args.model_dir, data)
    try:
        cube = build_cube(data, predictor)
    except ValueError as exc:
        raise ValueError(f"--data {args.data!r} does not fit the model: {exc}") from None
    if genes:
        table = rank_compounds(cube, genes, cell_types, keep=keep, keep_weight=args.keep_weight, by=args.rank_by,
                               threshold=args.threshold)
        n_hits = int((table[CALL] == HIT).sum())
        if n_hits == 0:
            print(f"note: no pair meets the threshold (mean of the genes <= -{args.threshold:g} with the whole "
                  "interval below 0); the rows below are the closest candidates, not hits", file=sys.stderr)
    else:
        if keep:
            raise ValueError("--keep applies to --genes ranking, not to --up/--down reversal")
        table = reversal_scores(cube, up, down, cell_types)
    if args.top:
        table = table.head(args.top)
    if data.simulated:
        print("note: demo dataset, values are SIMULATED", file=sys.stderr)
    prov = provenance_for(data, predictor, cube.interval)
    table = prov.add_columns(table)
    if args.out:
        from ..io import atomic_path

        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"wrote {len(table)} rows to {args.out}", file=sys.stderr)
    shown = [c for c in _PRINT_COLUMNS if c in table.columns]
    print("\n".join(prov.header()))
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return EXIT_OK


def _cmd_predict_smiles(args: argparse.Namespace) -> int:
    from ..discovery.smiles import MAX_MOLECULES, ROW, parse_smiles_table, predict_smiles, read_smiles_file
    from ..io import atomic_path

    check_output_file(args.out, "--out")
    if args.smiles_file:
        check_regular_file(args.smiles_file, "--smiles-file")
        table = read_smiles_file(args.smiles_file, limit=CLI_MAX_MOLECULES, max_bytes=CLI_MAX_BYTES)
    else:
        table = parse_smiles_table(list(args.smiles), limit=CLI_MAX_MOLECULES)
    for r in table.loc[~table["ok"]].itertuples(index=False):
        print(f"invalid: row {getattr(r, ROW)} ({r.name}): {r.SMILES!r}: {r.reason}", file=sys.stderr)
    n_ok = int(table["ok"].sum())
    if n_ok == 0:
        raise ValueError(f"no valid SMILES among {len(table)} input(s)")
    from ..discovery.rank import build_cube, check_genes
    from ..formats.provenance import provenance_for

    out = Path(args.out)
    fmt = "parquet" if out.suffix.lower() == ".parquet" else "csv"
    data = cube = None
    data_spec = args.data if args.data is not None else (None if args.model_dir else DEMO)
    if data_spec is not None:
        from ..loader import load_dataset

        data = load_dataset(data_spec)
    predictor = load_predictor(args.model_dir, data)
    if data is not None:
        try:
            check_genes(predictor, data.genes)
        except ValueError as exc:
            raise ValueError(f"--data {data_spec!r} does not fit the model: {exc}") from None
        cube = build_cube(data, None)  # measured values of the screen compounds
        if data.simulated:
            print("note: demo dataset, measured values are SIMULATED", file=sys.stderr)
    prov = None
    cell_types = args.cell_types or None
    genes = _split_list(args.genes) or None
    writer = None
    rows = 0
    with atomic_path(out) as tmp:
        for start in range(0, len(table), MAX_MOLECULES):
            chunk = table.iloc[start:start + MAX_MOLECULES]
            if not chunk["ok"].any():
                continue
            preds = predict_smiles(predictor, chunk, cell_types=cell_types, cube=cube)
            if prov is None:
                prov = provenance_for(data, predictor, preds.interval) if data is not None else \
                    provenance_for(_NoData(), predictor, preds.interval)
            frame = prov.add_columns(preds.long_frame(genes, intervals=not args.no_intervals))
            rows += len(frame)
            if fmt == "csv":
                frame.to_csv(tmp, mode="w" if writer is None else "a", header=writer is None, index=False,
                             float_format="%.6g")
                writer = True
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                arrow = pa.Table.from_pandas(frame, preserve_index=False)
                arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **prov.parquet_metadata()})
                if writer is None:
                    writer = pq.ParquetWriter(tmp, arrow.schema)
                writer.write_table(arrow)
        if fmt == "parquet" and writer is not None:
            writer.close()
    print(f"wrote {rows} rows ({n_ok} valid molecule(s) x cell types; {len(table) - n_ok} invalid) to {out}",
          file=sys.stderr)
    return EXIT_OK


class _NoData:
    """Provenance stand-in when ``predict-smiles`` runs on a model folder without ``--data``."""

    name = "none (model only)"
    key = "none"
    simulated = False


def add_parser(sub) -> None:
    """Register ``rank`` and ``predict-smiles`` on the CLI's subparsers."""
    p = sub.add_parser(
        "rank", help="rank compounds that push chosen genes down (or reverse a signature) in a cell type",
        description="Rank compounds for a target cell type. Score per compound (signed -log10 p units): "
                    "-mean(values of --genes) - keep_weight * mean(|values of --keep|); higher = pushes the "
                    "genes down harder. Measured values are used where the (compound, cell type) pair was "
                    "measured in --data, ensemble predictions otherwise (column 'source'). Every score has an "
                    "80% interval (score_lower, score_upper): measurement noise for measured pairs, the "
                    "models' calibrated interval for predicted ones (column 'interval' says which). "
                    "--rank-by confidence (default) ranks by score_lower, estimate by score. call = 'hit' when "
                    "the genes' mean is <= -THRESHOLD and its interval lies below 0. With --up/--down instead "
                    "of --genes, compounds are ranked by a CMap/CLUE-style connectivity reversal score in "
                    "[-1, 1] with a resampled interval in the same units.")
    p.add_argument("--genes", action="append", metavar="GENE[,GENE...]",
                   help="genes to push down (case-insensitive; repeat or separate with commas)")
    p.add_argument("--keep", action="append", metavar="GENE[,GENE...]", help="genes to leave unchanged (penalised)")
    p.add_argument("--keep-weight", type=finite_float("--keep-weight", 0.0, 1e6), default=1.0, help="weight of the keep penalty (default 1.0)")
    p.add_argument("--up", action="append", metavar="GENE[,GENE...]", help="signature mode: disease up-regulated genes")
    p.add_argument("--down", action="append", metavar="GENE[,GENE...]", help="signature mode: disease down-regulated genes")
    p.add_argument("--cell-type", default=DEFAULT_TARGET_CELL_TYPE,
                   help=f"target cell type (default {DEFAULT_TARGET_CELL_TYPE!r}; 'all' for every cell type)")
    p.add_argument("--top", type=bounded_int("--top", 0, 10**6), default=20, help="rows to show and write (default 20; 0 = all)")
    p.add_argument("--out", default=None, help="write the ranking to this CSV")
    p.add_argument("--model-dir", default=None, help=_MODEL_HELP)
    p.add_argument("--data", default=DEMO, help=_DATA_HELP)
    p.add_argument("--measured-only", action="store_true", help="rank measured pairs only (no model)")
    p.add_argument("--rank-by", choices=("confidence", "estimate"), default="confidence",
                   help="rank by the pessimistic end of the score's interval (confidence, default) or the estimate")
    p.add_argument("--threshold", type=float, default=1.3,
                   help="significance threshold in signed -log10 p units (default 1.3, i.e. p < 0.05)")
    p.set_defaults(func=_cmd_rank)

    p = sub.add_parser(
        "predict-smiles", help="predict every gene in every cell type for new molecules (SMILES)",
        description="One output row per valid input molecule x cell type: row, name, SMILES, known_compound (the "
                    "screen compound it is, salts stripped), cell_type, source (measured for a known compound's "
                    "measured cell types, else predicted), max_tanimoto (to the training compounds), "
                    "nearest_compound, one column per gene, then GENE_lower / GENE_upper interval columns and "
                    "the provenance columns. Invalid inputs are listed on stderr and skipped; exit code 2 only "
                    "when none is valid.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles-file", help="CSV with a SMILES column (optional name column), or a text file "
                                           "with 'SMILES [name]' per line")
    src.add_argument("--smiles", nargs="+", metavar="SMILES", help="SMILES strings (quote them in the shell)")
    p.add_argument("--out", required=True, help="output .csv (or .parquet)")
    p.add_argument("--cell-types", nargs="+", default=None, metavar="CELL_TYPE",
                   help="cell types to predict (default: all the models know)")
    p.add_argument("--genes", action="append", default=None, metavar="GENE[,GENE...]",
                   help="only these gene columns (default: all genes)")
    p.add_argument("--model-dir", default=None, help=_MODEL_HELP)
    p.add_argument("--data", default=None, help="dataset with the screen's measured values (used for known compounds) "
                                                "and, without --model-dir, whose default models are used; default "
                                                "'demo' without --model-dir, none with it")
    p.add_argument("--no-intervals", action="store_true", help="leave out the GENE_lower / GENE_upper columns")
    p.set_defaults(func=_cmd_predict_smiles)
