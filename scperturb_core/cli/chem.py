"""``python -m scperturb_core fragments SMILES [SMILES ...]``: canonical SMILES and fragments.

For each valid input one line goes to stdout: the canonical SMILES, a tab, then its fragments
separated by spaces (repeated once per occurrence). Each invalid input gets one line
``error: <input>: <reason>`` on stderr; the exit code is then 2 (valid inputs are still printed).
Notes (e.g. a salt reduced to its largest fragment) go to stderr as ``note: ...``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_INVALID = 2


def cmd_fragments(args: argparse.Namespace) -> int:
    """Print canonical SMILES and fragments of ``args.smiles``; 2 if any input is invalid."""
    from ..chem import fragments_of, parse_smiles
    from ..chem.parse import shorten

    rc = EXIT_OK
    for raw in args.smiles:
        parsed = parse_smiles(raw)
        if not parsed.ok:
            print(f"error: {parsed.message}", file=sys.stderr)
            rc = EXIT_INVALID
            continue
        if parsed.note:
            print(f"note: {shorten(raw)!r}: {parsed.note}", file=sys.stderr)
        try:
            frags = fragments_of(parsed.mol, args.method)
        except ValueError as exc:
            print(f"error: {shorten(raw)!r}: {exc}", file=sys.stderr)
            rc = EXIT_INVALID
            continue
        print(f"{parsed.canonical}\t{' '.join(frags)}")
    return rc


def add_fragments_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``fragments`` subcommand on an ``argparse`` subparsers object."""
    from ..chem.fragments import FRAGMENT_METHODS

    p = subparsers.add_parser("fragments", help="canonical SMILES and fragments (BRICS by default)",
                              description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("smiles", nargs="+", metavar="SMILES", help="one or more SMILES (quote them in the shell)")
    p.add_argument("--method", choices=FRAGMENT_METHODS, default="brics", help="fragmentation (default: brics)")
    p.set_defaults(func=cmd_fragments)
    return p


#: the hook :mod:`scperturb_core.cli` calls for every optional command module
add_parser = add_fragments_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (the same command without the other subcommands)."""
    parser = argparse.ArgumentParser(prog="python -m scperturb_core")
    sub = parser.add_subparsers(dest="command", required=True)
    add_fragments_parser(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
