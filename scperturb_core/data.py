"""Load and validate the Kaggle ``de_train.parquet`` and ``id_map.csv`` into one typed object.

Every validation problem raises :class:`DataError` (a ``ValueError``) with one line that names the
bad value; the CLI turns it into exit code 2 and the app into an error box.
"""
from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .constants import (
    CELL_TYPE,
    CONTROL,
    ID,
    ID_MAP_COLUMNS,
    MARK_DATASET,
    MARK_SIMULATED,
    MAX_UPLOAD_MB,
    META_COLUMNS,
    SM_LINCS_ID,
    SM_NAME,
    SMILES,
)
from .io import sha256_bytes
from .safeio import MAX_DATASET_BYTES, MAX_TABLE_BYTES, InputError, parse_json, read_file, read_stream

log = logging.getLogger(__name__)

#: more gene columns than this is refused before any value is read
MAX_GENE_COLUMNS = 50_000
#: more rows than this is refused before any value is read
MAX_ROWS = 1_000_000
#: more values (rows x genes) than this is refused before any value is read (the real file has 11.2 million)
MAX_VALUES = 50_000_000
#: largest total uncompressed size of a parquet file's columns, from its footer (a decompression bomb is refused)
MAX_UNCOMPRESSED_BYTES = 2**30
#: largest |value|; a signed -log10 p of a double is below 324, so anything larger is not such a value
MAX_ABS_VALUE = 1e4
#: longest gene, cell type or compound name
MAX_NAME_CHARS = 200
#: id_map ids are integers in [0, MAX_ID]
MAX_ID = 10**12
#: pandas writes an unnamed index as a column with this name
_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
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

    def __getstate__(self) -> dict:
        """The declared fields only, read at once: pickling the live ``__dict__`` fails ("dictionary
        changed size during iteration") when another thread fills a cached property meanwhile (the
        warm-up hands a dataset to its worker process while pages use it); caches are rebuilt."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

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
        names = list(self.compounds[SM_NAME])
        if self.id_map is not None:  # a test-only compound gets a row too
            known = set(names)
            names += [n for n in dict.fromkeys(self.id_map[SM_NAME]) if n not in known]
        grid = np.full((len(names), len(self.cell_types)), "missing", dtype=object)
        rows, cols = pd.Index(names), pd.Index(self.cell_types)
        for frame, status in ((self.id_map, "test"), (self.obs, "train")):  # measured wins over asked for
            if frame is not None:
                grid[rows.get_indexer(frame[SM_NAME]), cols.get_indexer(frame[CELL_TYPE])] = status
        return pd.DataFrame(grid, index=pd.Index(names, name=SM_NAME), columns=self.cell_types)

    def to_frame(self) -> pd.DataFrame:
        """The Kaggle schema: metadata columns then one float64 column per gene."""
        values = pd.DataFrame(self.X.astype(np.float64), columns=list(self.genes))
        return pd.concat([self.obs.reset_index(drop=True), values], axis=1)


# ----------------------------------------------------------------------------------------------
# reading


def _read_bytes(source: Source, limit: int = MAX_DATASET_BYTES, what: str = "dataset") -> tuple[bytes, str]:
    """The bytes of ``source`` and a label naming it; special files are refused and reads bounded."""
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            if len(source) > limit:
                raise DataError(f"upload too large: {len(source) / 2**20:.0f} MB (limit {limit / 2**20:.0f} MB)")
            return bytes(source), "upload"
        if hasattr(source, "read"):
            label = str(getattr(source, "name", "upload"))
            return read_stream(source, repr(label), limit), label
        data = read_file(os.fspath(source), what, limit)
    except InputError as exc:
        raise DataError(str(exc)) from None
    return data, Path(source).name


def _control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _check_gene_names(names: list[str]) -> None:
    """Gene column names: not blank, no control characters or surrounding spaces, unique ignoring case."""
    for pos, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"blank gene column name {name!r} (gene column {pos + 1})")
        if _control_chars(name):
            raise DataError(f"gene column name {name[:60]!r} contains control characters (gene column {pos + 1})")
        if name != name.strip():
            raise DataError(f"gene column name {name[:60]!r} has surrounding spaces (gene column {pos + 1})")
        if len(name) > MAX_NAME_CHARS:
            raise DataError(f"gene column name {name[:40]!r}... is longer than {MAX_NAME_CHARS} characters "
                            f"(gene column {pos + 1})")
    for fold in (str.upper, str.casefold):  # the gene lookup compares upper case
        seen: dict[str, str] = {}
        for name in names:
            key = fold(name)
            if key in seen and seen[key] != name:
                raise DataError(f"gene columns {seen[key]!r} and {name!r} differ only in case "
                                "(gene lookup ignores case)")
            seen.setdefault(key, name)


def _index_columns(schema: pa.Schema, notes: list[str]) -> set[str]:
    """Columns that pandas stored as the index (unnamed ones only); the footer JSON is never trusted."""
    raw = (schema.metadata or {}).get(b"pandas")
    found = {n for n in schema.names if _PANDAS_INDEX.match(n)}
    if raw is None:
        return found
    try:
        meta = parse_json(raw, "pandas metadata", want=dict)
        cols = meta.get("index_columns", [])
        if not isinstance(cols, list):
            raise InputError("index_columns is not a list")
    except InputError:
        notes.append("ignored unusable pandas metadata in the file footer")
        log.warning("ignored unusable pandas metadata in the file footer")
        return found
    if not all(isinstance(c, str) or (isinstance(c, dict) and c.get("kind") == "range") for c in cols):
        notes.append("ignored unusable pandas metadata in the file footer (index_columns)")
        log.warning("ignored unusable pandas metadata in the file footer (index_columns)")
        return found
    for col in cols:
        if isinstance(col, str) and col in schema.names and not _PANDAS_INDEX.match(col):
            raise DataError(f"column {col!r} is stored as the pandas index; write the table with index=False")
    return found


def _read_table(data: bytes, label: str, notes: list[str] | None = None) -> pa.Table:
    notes = [] if notes is None else notes
    if len(data) == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    if not data.startswith(b"PAR1") or not data.endswith(b"PAR1"):
        raise DataError(f"not a parquet file (or truncated): {label!r}")
    try:
        meta = pq.read_metadata(pa.BufferReader(data))
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise DataError(f"not a readable parquet file: {label!r} ({str(exc).splitlines()[0][:120]})") from None
    names = list(schema.names)
    if len(names) > MAX_GENE_COLUMNS + len(META_COLUMNS) + 16:
        raise DataError(f"too many gene columns: {len(names) - len(META_COLUMNS)} (limit {MAX_GENE_COLUMNS})")
    index_cols = _index_columns(schema, notes)
    gene_names = pd.Index([n for n in names if n not in META_COLUMNS and n not in index_cols])
    if len(gene_names) > MAX_GENE_COLUMNS:
        raise DataError(f"too many gene columns: {len(gene_names)} (limit {MAX_GENE_COLUMNS})")
    dup_genes = gene_names[gene_names.duplicated()].unique().tolist()
    if dup_genes:
        raise DataError(f"duplicated gene columns: {_preview(dup_genes)}")
    dup_meta = sorted(c for c in META_COLUMNS if names.count(c) > 1)  # 5 counts, not one per column
    if dup_meta:
        raise DataError(f"duplicated metadata columns: {_preview(dup_meta)}")
    _check_gene_names(list(gene_names))
    if meta.num_rows > MAX_ROWS:
        raise DataError(f"too many rows: {meta.num_rows} (limit {MAX_ROWS})")
    if meta.num_rows * max(len(gene_names), 1) > MAX_VALUES:
        raise DataError(f"too many values: {meta.num_rows} rows x {len(gene_names)} genes (limit {MAX_VALUES:,})")
    uncompressed = sum(meta.row_group(i).column(j).total_uncompressed_size
                       for i in range(meta.num_row_groups) for j in range(meta.num_columns))
    if uncompressed > MAX_UNCOMPRESSED_BYTES:
        raise DataError(f"too large uncompressed: {label!r} holds {uncompressed / 2**20:.0f} MB of columns "
                        f"(limit {MAX_UNCOMPRESSED_BYTES / 2**20:.0f} MB)")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise DataError(f"not a readable parquet file: {label!r} ({str(exc).splitlines()[0][:120]})") from None
    if index_cols:
        table = table.drop_columns([c for c in index_cols if c in table.column_names])
    # pandas metadata is never used; only the simulated marker of files written by demo-data is kept
    kept = {k: v for k, v in (table.schema.metadata or {}).items() if k in (MARK_SIMULATED.encode(), MARK_DATASET.encode())}
    return table.replace_schema_metadata(kept or None)


def _text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _check_meta_types(table: pa.Table) -> None:
    """Metadata columns hold text (``sm_lincs_id`` may be integers; ``control`` boolean, integer or text)."""
    for col in META_COLUMNS:
        t = table.schema.field(col).type
        if col == CONTROL:
            ok = pa.types.is_boolean(t) or pa.types.is_integer(t) or _text_type(t)
            want = "boolean"
        elif col == SM_LINCS_ID:
            ok = _text_type(t) or pa.types.is_integer(t)
            want = "text"
        else:
            ok = _text_type(t)
            want = "text"
        if not ok:
            raise DataError(f"column {col!r} must hold {want}; found {t}")


def _normalise_names(obs: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Strip surrounding spaces from names (with a note); refuse blank names, control characters,
    over-long names, and cell types that differ only in case or spacing."""
    for col in (CELL_TYPE, SM_NAME, SM_LINCS_ID):
        values = obs[col]
        if col != SM_LINCS_ID:
            blank = values.str.strip() == ""
            if blank.any():
                raise DataError(f"blank {col} at rows {_preview(obs.index[blank].tolist())}")
        bad = values.map(_control_chars)
        if bad.any():
            row = obs.index[bad][0]
            raise DataError(f"{col} {values[row][:60]!r} contains control characters (row {row})")
        long = values.str.len() > MAX_NAME_CHARS
        if long.any():
            row = obs.index[long][0]
            raise DataError(f"{col} {values[row][:40]!r}... is longer than {MAX_NAME_CHARS} characters (row {row})")
        stripped = values.str.strip()
        changed = stripped != values
        if changed.any():
            row = obs.index[changed][0]
            msg = (f"stripped surrounding spaces from {int(changed.sum())} {col} value(s), "
                   f"e.g. {values[row]!r} at row {row}")
            notes.append(msg)
            log.warning("%s", msg)
            obs[col] = stripped
    _check_close_cell_types(sorted(set(obs[CELL_TYPE])))
    return obs


def _cell_type_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _check_close_cell_types(names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = _cell_type_key(name)
        if key in seen:
            raise DataError(f"cell types {seen[key]!r} and {name!r} differ only in case or spacing")
        seen[key] = name


def _check_meta(obs: pd.DataFrame, label: str, notes: list[str] | None = None) -> pd.DataFrame:
    obs = obs.copy()
    for col in (CELL_TYPE, SM_NAME, SM_LINCS_ID, SMILES):
        if obs[col].isna().any():
            bad = obs.index[obs[col].isna()].tolist()
            raise DataError(f"missing values in column {col!r} at rows {_preview(bad)}")
        obs[col] = obs[col].astype(str)
    obs = _normalise_names(obs, [] if notes is None else notes)
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
    n_bad, where = 0, []
    n_big, big = 0, []
    for j, g in enumerate(genes):
        col = table.column(g)
        values = col.to_numpy(zero_copy_only=False).astype(np.float64)
        if col.null_count:
            values[np.asarray(col.is_null())] = np.nan
        finite = np.isfinite(values)
        if not finite.all():
            rows = np.flatnonzero(~finite)
            n_bad += len(rows)
            where += [f"row {r} gene {g!r}" for r in rows[:_SHOW - len(where)]]
        elif n_bad == 0:
            large = np.abs(values) > MAX_ABS_VALUE
            if large.any():
                rows = np.flatnonzero(large)
                n_big += len(rows)
                big += [f"row {r} gene {g!r} = {values[r]:.6g}" for r in rows[:_SHOW - len(big)]]
        with np.errstate(over="ignore"):
            X[:, j] = values
    if n_bad:
        raise DataError(f"{n_bad} NaN or inf values, e.g. {'; '.join(where)}")
    if n_big:
        raise DataError(f"{n_big} values outside [-{MAX_ABS_VALUE:g}, {MAX_ABS_VALUE:g}], e.g. {'; '.join(big)}")
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
    notes: list[str] = []
    table = _read_table(data, label, notes)
    missing = [c for c in META_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"missing metadata columns: {', '.join(map(repr, missing))}")
    if table.num_rows == 0:
        raise DataError(f"empty dataset: {label!r} has no rows")
    genes = [c for c in table.column_names if c not in META_COLUMNS]
    if not genes:
        raise DataError(f"no gene columns in {label!r}: only the metadata columns are present")
    _check_meta_types(table)
    try:
        obs = table.select(list(META_COLUMNS)).to_pandas()
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(f"unreadable metadata columns in {label!r} ({str(exc).splitlines()[0][:120]})") from None
    obs = _check_meta(obs.reset_index(drop=True), label, notes)
    X = _gene_matrix(table, genes)
    if check_smiles:
        _check_smiles(obs)
    log.info("loaded %s: %d rows x %d genes", label, *X.shape)
    from .formats.marker import is_marked_simulated

    return PerturbData(obs=obs, X=X, genes=tuple(genes), name=name or label, key=sha256_bytes(data)[:16],
                       simulated=is_marked_simulated(table.schema.metadata), notes=tuple(notes))


def load_id_map(source: Source, data: PerturbData | None = None) -> pd.DataFrame:
    """Read and validate an ``id_map.csv`` (``id, cell_type, sm_name``).

    With ``data``, every pair must name a compound of the data, and a cell type of the data.
    """
    raw, label = _read_bytes(source, MAX_TABLE_BYTES, "id_map")
    if len(raw) == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"not a readable CSV file: {label!r} ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ID_MAP_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"id_map is missing columns: {', '.join(map(repr, missing))}")
    if df.empty:
        raise DataError(f"empty id_map: {label!r} has no rows")
    df = df.loc[:, ~df.columns.duplicated()].copy()
    df[ID] = _parse_ids(df[ID])
    for col in (CELL_TYPE, SM_NAME):
        values = df[col].astype(str)
        blank = values.str.strip() == ""
        if blank.any():
            raise DataError(f"id_map id={df.loc[blank, ID].iloc[0]} has a blank {col}")
        bad = values.map(_control_chars)
        if bad.any():
            raise DataError(f"id_map id={df.loc[bad, ID].iloc[0]} has a {col} with control characters")
        stripped = values.str.strip()
        if (stripped != values).any():
            first = values[stripped != values].iloc[0]
            log.warning("id_map: stripped surrounding spaces from %d %s value(s), e.g. %r",
                        int((stripped != values).sum()), col, first)
        df[col] = stripped
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
            close = {_cell_type_key(c): c for c in known_ct}.get(_cell_type_key(first[CELL_TYPE]))
            hint = f"; did you mean {close!r}?" if close else ""
            raise DataError(f"id_map id={first[ID]} refers to unknown cell type {first[CELL_TYPE]!r} "
                            f"({len(bad_ct)} such rows){hint}")
    return df[list(ID_MAP_COLUMNS)].reset_index(drop=True)


_INT_TEXT = re.compile(r"^[+-]?[0-9]{1,40}(\.0*)?$")


def _parse_ids(ids: pd.Series) -> pd.Series:
    """id_map ids as int64: integers (``12`` or ``12.0``) in ``[0, MAX_ID]``; the error names the first bad one."""
    text = ids.astype(str).str.strip()
    ok = text.map(lambda t: bool(_INT_TEXT.match(t)))
    if not ok.all():
        raise DataError(f"id_map column 'id' must hold integers; found {_preview(text[~ok].tolist())}")
    values = [int(t.split(".")[0]) for t in text]
    for t, v in zip(text, values):
        if not 0 <= v <= MAX_ID:
            raise DataError(f"id_map id {t!r} is out of range (ids are integers in [0, {MAX_ID}])")
    return pd.Series(np.array(values, dtype=np.int64), index=ids.index)


def data_folder(environ: dict | None = None) -> Path | None:
    """The folder the app may read datasets from by path: ``$SCPERTURB_DATA_DIR``, else the folder of
    ``$SCPERTURB_DATA``, else None (reading by path is off; uploads still work)."""
    from .constants import ENV_DATA, ENV_DATA_DIR

    env = os.environ if environ is None else environ
    if env.get(ENV_DATA_DIR, "").strip():
        return Path(env[ENV_DATA_DIR].strip()).expanduser()
    if env.get(ENV_DATA, "").strip():
        return Path(env[ENV_DATA].strip()).expanduser().parent
    return None


def resolve_data_path(path: str, environ: dict | None = None) -> tuple[Path, float]:
    """A dataset path typed in the app: resolved inside :func:`data_folder`, a regular file; returns
    the path and its modification time (a cache key). :class:`DataError` names the path otherwise."""
    from .safeio import check_regular_file, path_in_folder

    try:
        target = path_in_folder(path, data_folder(environ), "dataset path")
        st = check_regular_file(target, "dataset")
    except InputError as exc:
        raise DataError(str(exc)) from None
    if st.st_size > MAX_UPLOAD_MB * 2**20:
        raise DataError(f"dataset: {str(target)!r} is too large ({st.st_size / 2**20:.0f} MB; limit {MAX_UPLOAD_MB} MB)")
    return target, st.st_mtime


def with_id_map(data: PerturbData, id_map: pd.DataFrame | None, truth: np.ndarray | None = None) -> PerturbData:
    """Return a copy of ``data`` carrying ``id_map`` (and its held-out ``truth``, if known)."""
    from dataclasses import replace

    return replace(data, id_map=id_map, truth=truth)
