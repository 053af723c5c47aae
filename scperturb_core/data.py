"""Load and validate the Kaggle ``de_train.parquet`` and ``id_map.csv`` into one typed object.

Every validation problem raises :class:`DataError` (a ``ValueError``) with one line that names the
bad value; the CLI turns it into exit code 2 and the app into an error box.
"""
from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .constants import CELL_TYPE, CONTROL, ID, ID_MAP_COLUMNS, META_COLUMNS, SM_LINCS_ID, SM_NAME, SMILES
from .io import sha256_bytes

log = logging.getLogger(__name__)

#: more gene columns than this is refused before any value is read
MAX_GENE_COLUMNS = 50_000
#: how many offending items an error message lists
_SHOW = 5

Source = str | os.PathLike | bytes | BinaryIO


class DataError(ValueError):
    """A user-supplied file is not a valid dataset; the message is one line naming the problem."""


def _preview(items, n: int = _SHOW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


@dataclass(frozen=True, eq=False)
class PerturbData:
    """One perturbation screen.

    Attributes:
        obs: ``n`` rows of metadata (:data:`~scperturb_core.constants.META_COLUMNS`), index ``0..n-1``.
        X: ``(n, g)`` float32 gene values (signed -log10 p of differential expression).
        genes: the ``g`` gene names, in column order.
        id_map: the test pairs (``id, cell_type, sm_name``) or ``None``.
        truth: ``(len(id_map), g)`` float32 held-out values for the id_map rows, when known (demo only).
        name: a label for the UI ("demo (simulated values)" or a file name).
        simulated: True for the embedded demo: its values are simulated, not measured.
        key: a content hash; models and caches are stored under it.
    """

    obs: pd.DataFrame
    X: np.ndarray
    genes: tuple[str, ...]
    id_map: pd.DataFrame | None = None
    truth: np.ndarray | None = None
    name: str = "dataset"
    simulated: bool = False
    key: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_rows(self) -> int:
        return self.X.shape[0]

    @property
    def n_genes(self) -> int:
        return self.X.shape[1]

    @cached_property
    def gene_to_idx(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.genes)}

    @property
    def cell_types(self) -> list[str]:
        """Cell types of the training rows and the id_map, sorted."""
        names = set(self.obs[CELL_TYPE])
        if self.id_map is not None:
            names |= set(self.id_map[CELL_TYPE])
        return sorted(names)

    @cached_property
    def compounds(self) -> pd.DataFrame:
        """One row per compound (first-appearance order): sm_name, sm_lincs_id, SMILES, control."""
        return (
            self.obs[[SM_NAME, SM_LINCS_ID, SMILES, CONTROL]]
            .drop_duplicates(SM_NAME)
            .reset_index(drop=True)
        )

    def rows_per_cell_type(self) -> pd.DataFrame:
        """Train rows and id_map rows per cell type (the train/test imbalance)."""
        train = self.obs[CELL_TYPE].value_counts()
        test = self.id_map[CELL_TYPE].value_counts() if self.id_map is not None else pd.Series(dtype=int)
        out = pd.DataFrame({"train": train, "test": test}).fillna(0).astype(int)
        out.index.name = CELL_TYPE
        return out.reindex(self.cell_types).reset_index()

    def coverage(self) -> pd.DataFrame:
        """Compound x cell type table of ``"train"``, ``"test"`` or ``"missing"``."""
        cov = pd.DataFrame("missing", index=self.compounds[SM_NAME], columns=self.cell_types)
        if self.id_map is not None:
            for ct, sm in zip(self.id_map[CELL_TYPE], self.id_map[SM_NAME]):
                cov.loc[sm, ct] = "test"
        for ct, sm in zip(self.obs[CELL_TYPE], self.obs[SM_NAME]):
            cov.loc[sm, ct] = "train"
        return cov

    def to_frame(self) -> pd.DataFrame:
        """The Kaggle schema: metadata columns then one float64 column per gene."""
        values = pd.DataFrame(self.X.astype(np.float64), columns=list(self.genes))
        return pd.concat([self.obs.reset_index(drop=True), values], axis=1)


# ----------------------------------------------------------------------------------------------
# reading


def _read_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "upload"
    if hasattr(source, "read"):
        data = source.read()
        return data, getattr(source, "name", "upload")
    path = Path(source)
    if not path.exists():
        raise DataError(f"file not found: {str(path)!r}")
    if path.is_dir():
        raise DataError(f"expected a file, got a folder: {str(path)!r}")
    return path.read_bytes(), path.name


def _read_table(data: bytes, label: str) -> pa.Table:
    if len(data) == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    if not data.startswith(b"PAR1") or not data.endswith(b"PAR1"):
        raise DataError(f"not a parquet file (or truncated): {label!r}")
    try:
        schema = pq.read_schema(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable parquet file: {label!r} ({str(exc).splitlines()[0]})") from None
    index_cols = set()
    meta = schema.pandas_metadata or {}
    for col in meta.get("index_columns", []):
        if isinstance(col, str):
            index_cols.add(col)
    gene_names = pd.Index([n for n in schema.names if n not in META_COLUMNS and n not in index_cols])
    if len(gene_names) > MAX_GENE_COLUMNS:
        raise DataError(f"too many gene columns: {len(gene_names)} (limit {MAX_GENE_COLUMNS})")
    dup_genes = gene_names[gene_names.duplicated()].unique().tolist()
    if dup_genes:
        raise DataError(f"duplicated gene columns: {_preview(dup_genes)}")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable parquet file: {label!r} ({str(exc).splitlines()[0]})") from None
    if index_cols:
        table = table.drop_columns([c for c in index_cols if c in table.column_names])
    return table


def _check_meta(obs: pd.DataFrame, label: str) -> pd.DataFrame:
    obs = obs.copy()
    for col in (CELL_TYPE, SM_NAME, SM_LINCS_ID, SMILES):
        if obs[col].isna().any():
            bad = obs.index[obs[col].isna()].tolist()
            raise DataError(f"missing values in column {col!r} at rows {_preview(bad)}")
        obs[col] = obs[col].astype(str)
    ctrl = obs[CONTROL]
    if ctrl.dtype != bool:
        mapping = {"true": True, "false": False, "1": True, "0": False}
        as_text = ctrl.astype(str).str.strip().str.lower()
        bad = sorted(set(as_text[~as_text.isin(mapping)]))
        if bad:
            raise DataError(f"column {CONTROL!r} must be boolean; found {_preview(bad)}")
        obs[CONTROL] = as_text.map(mapping).astype(bool)
    dup = obs.duplicated([CELL_TYPE, SM_NAME], keep=False)
    if dup.any():
        pairs = obs.loc[dup, [CELL_TYPE, SM_NAME]].drop_duplicates()
        shown = [f"({c}, {s})" for c, s in pairs.itertuples(index=False)]
        raise DataError(f"duplicated (cell_type, sm_name) rows: {_preview(shown)}")
    per_compound = obs.groupby(SM_NAME, sort=False)[SMILES].nunique()
    if (per_compound > 1).any():
        raise DataError(f"compounds with more than one SMILES: {_preview(per_compound.index[per_compound > 1])}")
    return obs


def _check_smiles(obs: pd.DataFrame) -> None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    bad = []
    for name, smi in obs[[SM_NAME, SMILES]].drop_duplicates(SM_NAME).itertuples(index=False):
        mol = Chem.MolFromSmiles(smi) if smi and len(smi) <= 2000 else None
        if mol is None:
            bad.append(f"{name} ({smi[:60]!r})")
    if bad:
        raise DataError(f"SMILES that RDKit cannot parse for {len(bad)} compound(s): {', '.join(bad[:_SHOW])}")


def _gene_matrix(table: pa.Table, genes: list[str]) -> np.ndarray:
    bad = [(g, str(table.schema.field(g).type)) for g in genes
           if not (pa.types.is_floating(table.schema.field(g).type) or pa.types.is_integer(table.schema.field(g).type))]
    if bad:
        shown = [f"{g!r} ({t})" for g, t in bad[:_SHOW]]
        more = f" ({len(bad)} in all)" if len(bad) > _SHOW else ""
        raise DataError(f"non-numeric gene columns: {', '.join(shown)}{more}")
    X = np.empty((table.num_rows, len(genes)), dtype=np.float32)
    for j, g in enumerate(genes):
        col = table.column(g)
        if col.null_count:
            X[:, j] = col.to_numpy(zero_copy_only=False).astype(np.float64)
            X[np.asarray(col.is_null()), j] = np.nan
        else:
            X[:, j] = col.to_numpy()
    finite = np.isfinite(X)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        where = [f"row {r} gene {genes[c]!r}" for r, c in zip(rows[:_SHOW], cols[:_SHOW])]
        raise DataError(f"{len(rows)} NaN or inf values, e.g. {'; '.join(where)}")
    return X


def load_de_train(source: Source, *, name: str | None = None, check_smiles: bool = True) -> PerturbData:
    """Read and validate a Kaggle ``de_train.parquet``.

    Args:
        source: a path, the file's bytes, or a binary file object (e.g. a Streamlit upload).
        name: label shown in the UI; default the file name.
        check_smiles: parse every compound's SMILES with RDKit (an unparsable one is an error).

    Returns:
        A :class:`PerturbData` with ``X`` of shape ``(rows, genes)``, float32; gene columns are all
        columns that are not metadata, in file order.

    Raises:
        DataError: one line naming the problem.
    """
    data, label = _read_bytes(source)
    table = _read_table(data, label)
    missing = [c for c in META_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"missing metadata columns: {', '.join(map(repr, missing))}")
    if table.num_rows == 0:
        raise DataError(f"empty dataset: {label!r} has no rows")
    genes = [c for c in table.column_names if c not in META_COLUMNS]
    if not genes:
        raise DataError(f"no gene columns in {label!r}: only the metadata columns are present")
    obs = table.select(list(META_COLUMNS)).to_pandas()
    obs = _check_meta(obs.reset_index(drop=True), label)
    X = _gene_matrix(table, genes)
    if check_smiles:
        _check_smiles(obs)
    log.info("loaded %s: %d rows x %d genes", label, *X.shape)
    from .formats.marker import is_marked_simulated

    return PerturbData(obs=obs, X=X, genes=tuple(genes), name=name or label, key=sha256_bytes(data)[:16],
                       simulated=is_marked_simulated(table.schema.metadata))


def load_id_map(source: Source, data: PerturbData | None = None) -> pd.DataFrame:
    """Read and validate an ``id_map.csv`` (``id, cell_type, sm_name``).

    With ``data``, every pair must name a compound of the data, and a cell type of the data.
    """
    raw, label = _read_bytes(source)
    if len(raw) == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype={CELL_TYPE: str, SM_NAME: str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"not a readable CSV file: {label!r} ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ID_MAP_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"id_map is missing columns: {', '.join(map(repr, missing))}")
    if df.empty:
        raise DataError(f"empty id_map: {label!r} has no rows")
    ids = pd.to_numeric(df[ID], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        raise DataError(f"id_map column 'id' must hold integers; found {_preview(df.loc[ids.isna() | (ids != ids.round()), ID].astype(str))}")
    df[ID] = ids.astype(np.int64)
    if df[ID].duplicated().any():
        raise DataError(f"duplicated ids in id_map: {_preview(df.loc[df[ID].duplicated(), ID].tolist())}")
    if df.duplicated([CELL_TYPE, SM_NAME]).any():
        pairs = [f"({c}, {s})" for c, s in df.loc[df.duplicated([CELL_TYPE, SM_NAME]), [CELL_TYPE, SM_NAME]].itertuples(index=False)]
        raise DataError(f"duplicated (cell_type, sm_name) pairs in id_map: {_preview(pairs)}")
    if data is not None:
        known_sm = set(data.obs[SM_NAME])
        known_ct = set(data.obs[CELL_TYPE])
        bad_sm = df.loc[~df[SM_NAME].isin(known_sm)]
        if len(bad_sm):
            first = bad_sm.iloc[0]
            raise DataError(f"id_map id={first[ID]} refers to unknown compound {first[SM_NAME]!r} ({len(bad_sm)} such rows)")
        bad_ct = df.loc[~df[CELL_TYPE].isin(known_ct)]
        if len(bad_ct):
            first = bad_ct.iloc[0]
            raise DataError(f"id_map id={first[ID]} refers to unknown cell type {first[CELL_TYPE]!r} ({len(bad_ct)} such rows)")
    return df[list(ID_MAP_COLUMNS)].reset_index(drop=True)


def with_id_map(data: PerturbData, id_map: pd.DataFrame | None, truth: np.ndarray | None = None) -> PerturbData:
    """Return a copy of ``data`` carrying ``id_map`` (and its held-out ``truth``, if known)."""
    from dataclasses import replace

    return replace(data, id_map=id_map, truth=truth)


def load_dataset(spec: Source, id_map: Source | None = None, *, name: str | None = None,
                 layer: str | None = None) -> PerturbData:
    """Open a dataset: ``"demo"`` for the embedded demo, else a de_train.parquet or a de_train.h5ad
    (path, bytes or file; ``layer`` picks the .h5ad value layer, see :mod:`.formats.h5ad`).

    Without an ``id_map``, a user file gets the embedded real Kaggle id_map when every pair of it
    refers to the file's compounds and cell types (as it does for the real de_train.parquet).
    """
    from . import assets
    from .constants import DEMO

    if isinstance(spec, str) and spec == DEMO:
        from .demo import load_demo

        data = load_demo()
        if id_map is not None:
            data = with_id_map(data, load_id_map(id_map, data), None)
        return data
    from .formats.h5ad import load_h5ad, looks_like_h5ad

    if looks_like_h5ad(spec):
        data = load_h5ad(spec, layer=layer, name=name)
    elif layer is not None:
        raise DataError(f"layer {layer!r} given, but the dataset is not an .h5ad file")
    else:
        data = load_de_train(spec, name=name)
    if id_map is not None:
        return with_id_map(data, load_id_map(id_map, data))
    try:
        return with_id_map(data, load_id_map(assets.ID_MAP, data))
    except DataError:
        return data
