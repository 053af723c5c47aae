"""Paths of the files shipped in ``assets/`` (real public Kaggle metadata; no values)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent / "assets"
COMPOUNDS = ROOT / "compounds.csv"  # sm_name, sm_lincs_id, SMILES: the 146 real compounds
TRAIN_PAIRS = ROOT / "train_pairs.csv"  # cell_type, sm_name, control: the 614 de_train rows in file order
ID_MAP = ROOT / "id_map.csv"  # the real 255-row Kaggle test map
GENES = ROOT / "genes.txt"  # the 18,211 gene names in column order
NK_GENE_STD = ROOT / "nk_gene_std.csv"  # gene, std_ddof0: per-gene std over the real NK rows
TEST_SPLIT = ROOT / "test_compound_split.csv"  # public/private Kaggle split of the test compounds


@lru_cache(maxsize=1)
def genes() -> tuple[str, ...]:
    return tuple(GENES.read_text().split())


@lru_cache(maxsize=1)
def compounds() -> pd.DataFrame:
    return pd.read_csv(COMPOUNDS, keep_default_na=False)


@lru_cache(maxsize=1)
def train_pairs() -> pd.DataFrame:
    return pd.read_csv(TRAIN_PAIRS, keep_default_na=False)


@lru_cache(maxsize=1)
def id_map() -> pd.DataFrame:
    return pd.read_csv(ID_MAP, keep_default_na=False)
