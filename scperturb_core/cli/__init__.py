"""Command line: ``python -m scperturb_core <command>``.

Every command returns 0 on success; any user error (bad file, bad value) prints one line
``error: <message>`` on stderr and exits 2. Subcommands register in :func:`build_parser`: ``info`` and
``demo-data`` here, the others in the modules of their area (:mod:`.chem`, :mod:`.models`,
:mod:`.discovery`, :mod:`scperturb_core.formats.score_cli`, :mod:`scperturb_core.warmup`).
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ..constants import CELL_TYPE, DEMO, ID, SM_NAME

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USAGE = 2


def _load(args: argparse.Namespace):
    from ..loader import load_dataset
    from ..safeio import check_regular_file

    id_map = getattr(args, "id_map", None)
    if id_map is not None:
        check_regular_file(id_map, "id_map")  # a pipe or device is refused before the dataset is read
    return load_dataset(args.data, id_map=id_map, layer=getattr(args, "layer", None))


# ------------------------------------------------------------------------------------ commands


def _cmd_info(args: argparse.Namespace) -> int:
    data = _load(args)
    print(f"dataset: {data.name}{'  [values are SIMULATED]' if data.simulated else ''}")
    print(f"rows: {data.n_rows}  compounds: {len(data.compounds)}  genes: {data.n_genes}  "
          f"cell types: {len(data.cell_types)}")
    table = data.rows_per_cell_type()
    width = max(len(c) for c in table[CELL_TYPE])
    print(f"{'cell type':<{width}}  train  test(id_map)")
    for ct, tr, te in table.itertuples(index=False):
        print(f"{ct:<{width}}  {tr:5d}  {te:5d}")
    if data.id_map is None:
        print("id_map: none")
    else:
        print(f"id_map: {len(data.id_map)} pairs over {data.id_map[SM_NAME].nunique()} compounds")
    for note in data.notes:
        print(f"note: {note}")
    return EXIT_OK


def _cmd_demo_data(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..demo import load_demo
    from ..io import atomic_path

    from ..safeio import check_output_dir

    out = check_output_dir(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    data = load_demo()
    with atomic_path(out / "id_map.csv") as tmp:
        data.id_map[[ID, CELL_TYPE, SM_NAME]].to_csv(tmp, index=False)
    if args.format == "h5ad":
        from ..formats.h5ad import write_demo_h5ad_files

        train, test = write_demo_h5ad_files(data, out)
        print(f"wrote {train} ({data.n_rows} x {data.n_genes}), {test} ({len(data.id_map)} x {data.n_genes}), "
              f"{out / 'id_map.csv'} ({len(data.id_map)} rows)  [values are SIMULATED]")
        return EXIT_OK
    from ..formats.marker import write_marked_parquet

    with atomic_path(out / "de_train.parquet") as tmp:
        write_marked_parquet(data.to_frame(), tmp, simulated=True, name=data.name)
    truth = pd.concat([data.id_map[[ID]].reset_index(drop=True),
                       pd.DataFrame(data.truth.astype("float64"), columns=list(data.genes))], axis=1)
    with atomic_path(out / "truth.parquet") as tmp:
        write_marked_parquet(truth, tmp, simulated=True, name=data.name)
    print(f"wrote {out / 'de_train.parquet'} ({data.n_rows} x {data.n_genes + 5}), "
          f"{out / 'id_map.csv'} ({len(data.id_map)} rows), {out / 'truth.parquet'}  [values are SIMULATED]")
    return EXIT_OK


# ------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scperturb_core",
                                     description="scPerturb Explorer command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="summarise a dataset")
    p.add_argument("--data", default=DEMO, help="de_train.parquet path, or 'demo' (default)")
    p.add_argument("--id-map", default=None, help="id_map.csv (test pairs)")
    p.add_argument("--layer", default=None, help="value layer of an .h5ad dataset (default sign_log10_pval, else X)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo-data", help="write the simulated demo in the Kaggle schema (or as .h5ad files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", choices=("parquet", "h5ad"), default="parquet",
                   help="parquet: de_train.parquet + truth.parquet (default); h5ad: de_train.h5ad + de_test.h5ad "
                        "in the OpenProblems layout; both write id_map.csv")
    p.set_defaults(func=_cmd_demo_data)

    _register_optional(sub)
    return parser


def _register_optional(sub) -> None:
    """Subcommands of the feature areas (each module exposes ``add_parser(sub)``)."""
    import importlib
    import importlib.util

    for module in (".chem", ".models", ".discovery", "..formats.score_cli", "..warmup"):
        name = importlib.util.resolve_name(module, __package__)
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        mod.add_parser(sub)




def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`
        return EXIT_OK
    except (ValueError, OSError) as exc:  # OSError: a write failed (disk full, permissions, ...)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
