"""The robustness suite: the default predictor on every setting of the simulator family.

A thin entry point over ``python -m scperturb_core benchmark --suite`` (see ``scperturb_core/validation/suite.py``
and ``bench/SUITE.md``); it prints the table and the bars and writes all numbers as JSON.

Usage::

    python bench/suite.py --out bench/results_suite.json          # full: 9 settings, all genes
    python bench/suite.py --small --out suite_small.json          # 6 settings, 200 genes (minutes; CI)
    python bench/suite.py --settings demo,nonlinear --genes 2000  # any subset
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from scperturb_core.cli import main as cli_main

    return cli_main(["benchmark", "--suite", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
