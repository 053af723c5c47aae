"""A corpus of hostile dataset files: each case builds the bytes of one bad de_train.parquet (or
id_map.csv) from a small valid dataset, and names the one-line message it must produce.

Used by tests/test_hostile_uploads.py through the core loader and through the app.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scperturb_core.constants import CELL_TYPE, CONTROL, ID, META_COLUMNS, SM_LINCS_ID, SM_NAME, SMILES


@dataclass(frozen=True)
class UploadCase:
    name: str
    build: Callable[[pd.DataFrame, pd.DataFrame], bytes]  # (valid de_train frame, valid id_map) -> bytes
    expected: str  # regex the one-line message must match
    kind: str = "de_train"  # or "id_map" (then the de_train is the valid one)


def _pq(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _edit(fn: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(df: pd.DataFrame, _id_map: pd.DataFrame) -> bytes:
        df = df.copy()
        out = fn(df)
        return _pq(df if out is None else out)
    return build


def _edit_id_map(fn: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(_df: pd.DataFrame, id_map: pd.DataFrame) -> bytes:
        id_map = id_map.copy()
        out = fn(id_map)
        return _csv(id_map if out is None else out)
    return build


def _raw(data: bytes) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    return lambda _df, _m: data


def _truncated(fraction: float) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        raw = _pq(df)
        return raw[: max(1, int(len(raw) * fraction))]
    return build


def _footer_garbage(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
    raw = _pq(df)
    return raw[:64] + b"\x00" * 32 + b"PAR1"


def _wide(n_cols: int) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(_df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        cols = {c: pa.array(["x"]) for c in META_COLUMNS[:4]}
        cols[CONTROL] = pa.array([False])
        zeros = pa.array(np.zeros(1))
        cols.update({f"g{i}": zeros for i in range(n_cols)})
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf)
        return buf.getvalue()
    return build


def _set(col_fn: Callable[[pd.DataFrame], None]) -> Callable[[pd.DataFrame], None]:
    return col_fn


def _gene(df: pd.DataFrame, k: int = 0) -> str:
    return df.columns[len(META_COLUMNS) + k]


def _dup_gene_columns(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    g = _gene(df, 0)
    table = table.append_column(pa.field(g, pa.float64()), pa.array(np.zeros(len(df))))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _nan_at(rows: list[int], k: int, value: float):
    def fn(df: pd.DataFrame) -> None:
        df.loc[rows, _gene(df, k)] = value
    return fn


CASES: list[UploadCase] = [
    # ---- not a parquet at all
    UploadCase("zero bytes", _raw(b""), r"^empty file: "),
    UploadCase("one byte", _raw(b"P"), r"^not a parquet file \(or truncated\)"),
    UploadCase("csv renamed parquet", lambda df, m: df.iloc[:3, :8].to_csv(index=False).encode(),
               r"^not a parquet file \(or truncated\)"),
    UploadCase("json", _raw(b'{"cell_type": ["NK cells"]}'), r"^not a parquet file"),
    UploadCase("html", _raw(b"<html><body>404</body></html>"), r"^not a parquet file"),
    UploadCase("random bytes", _raw(np.random.default_rng(0).bytes(4096)), r"^not a parquet file"),
    UploadCase("zip header", _raw(b"PK\x03\x04" + b"\x00" * 100), r"^not a parquet file"),
    UploadCase("gzip header", _raw(b"\x1f\x8b\x08" + b"\x00" * 100), r"^not a parquet file"),
    UploadCase("magic only", _raw(b"PAR1"), r"^not a (readable )?parquet file"),
    UploadCase("two magics", _raw(b"PAR1PAR1"), r"^not a (readable )?parquet file"),
    UploadCase("magic + garbage + magic", _raw(b"PAR1" + b"\xff" * 500 + b"PAR1"), r"^not a readable parquet file"),
    UploadCase("garbage footer", _footer_garbage, r"^not a readable parquet file"),
    UploadCase("sql text", _raw(b"'; DROP TABLE de_train; --"), r"^not a parquet file"),
    UploadCase("python code", _raw(b"__import__('os').system('rm -rf /')"), r"^not a parquet file"),
    UploadCase("utf-16 text", _raw("cell_type,sm_name".encode("utf-16")), r"^not a parquet file"),
    *[UploadCase(f"truncated at {int(f * 100)}%", _truncated(f), r"^not a parquet file \(or truncated\)")
      for f in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)],
    # ---- parquet, wrong shape
    UploadCase("100,000 gene columns", _wide(100_000), r"^too many gene columns: 100000 \(limit \d+\)"),
    UploadCase("no rows", _edit(lambda df: df.iloc[:0]), r"^empty dataset: .* has no rows"),
    UploadCase("only metadata columns", _edit(lambda df: df[list(META_COLUMNS)]), r"^no gene columns"),
    *[UploadCase(f"missing column {c}", _edit(lambda df, c=c: df.drop(columns=[c])),
                 rf"^missing metadata columns: '{c}'") for c in META_COLUMNS],
    UploadCase("all metadata missing", _edit(lambda df: df.drop(columns=list(META_COLUMNS))),
               r"^missing metadata columns: 'cell_type', 'sm_name', 'sm_lincs_id', 'SMILES', 'control'"),
    UploadCase("renamed cell_type column", _edit(lambda df: df.rename(columns={CELL_TYPE: "celltype"})),
               r"^missing metadata columns: 'cell_type'"),
    UploadCase("duplicated gene column", _dup_gene_columns, r"^duplicated gene columns: "),
    # ---- bad values
    UploadCase("one NaN", _edit(_nan_at([3], 2, np.nan)), r"^1 NaN or inf values, e\.g\. row 3 gene "),
    UploadCase("one +inf", _edit(_nan_at([0], 0, np.inf)), r"^1 NaN or inf values, e\.g\. row 0 gene "),
    UploadCase("one -inf", _edit(_nan_at([5], 1, -np.inf)), r"^1 NaN or inf values, e\.g\. row 5 gene "),
    UploadCase("NaN column", _edit(lambda df: df.__setitem__(_gene(df, 4), np.nan)),
               r"^\d+ NaN or inf values, e\.g\. row 0 gene "),
    UploadCase("string gene column", _edit(lambda df: df.__setitem__(_gene(df, 1), "high")),
               r"^non-numeric gene columns: '.+' \((string|large_string)\)"),
    UploadCase("bool gene column", _edit(lambda df: df.__setitem__(_gene(df, 1), True)),
               r"^non-numeric gene columns: '.+' \(bool\)"),
    UploadCase("extra text column", _edit(lambda df: df.__setitem__("comment", "see notes")),
               r"^non-numeric gene columns: 'comment'"),
    UploadCase("duplicated row", _edit(lambda df: pd.concat([df, df.iloc[[0]]], ignore_index=True)),
               r"^duplicated \(cell_type, sm_name\) rows: "),
    UploadCase("all rows duplicated", _edit(lambda df: pd.concat([df, df], ignore_index=True)),
               r"^duplicated \(cell_type, sm_name\) rows: "),
    UploadCase("null cell_type", _edit(lambda df: df.__setitem__(CELL_TYPE, df[CELL_TYPE].where(df.index != 2))),
               r"^missing values in column 'cell_type' at rows 2"),
    UploadCase("null SMILES", _edit(lambda df: df.__setitem__(SMILES, df[SMILES].where(df.index != 0))),
               r"^missing values in column 'SMILES' at rows 0"),
    UploadCase("control as text", _edit(lambda df: df.__setitem__(CONTROL, "perhaps")),
               r"^column 'control' must be boolean; found 'perhaps'"),
    UploadCase("unparsable SMILES", _edit(lambda df: df.__setitem__(SMILES, df[SMILES].where(df[SM_NAME] != df[SM_NAME].iloc[0], "C1CC(("))),
               r"^SMILES that RDKit cannot parse for 1 compound"),
    UploadCase("SQL in SMILES", _edit(lambda df: df.__setitem__(SMILES, df[SMILES].where(df[SM_NAME] != df[SM_NAME].iloc[0], "'; DROP TABLE x;--"))),
               r"^SMILES that RDKit cannot parse for 1 compound"),
    UploadCase("two SMILES for one compound", _edit(lambda df: df.__setitem__(SMILES, df[SMILES].where(df.index != 0, "CCO"))),
               r"^compounds with more than one SMILES: "),
    # ---- id_map
    UploadCase("id_map zero bytes", lambda df, m: b"", r"^empty file: ", kind="id_map"),
    UploadCase("id_map header only", _edit_id_map(lambda m: m.iloc[:0]), r"^empty id_map: ", kind="id_map"),
    UploadCase("id_map missing id", _edit_id_map(lambda m: m.drop(columns=[ID])), r"^id_map is missing columns: 'id'", kind="id_map"),
    UploadCase("id_map missing sm_name", _edit_id_map(lambda m: m.drop(columns=[SM_NAME])), r"^id_map is missing columns: 'sm_name'", kind="id_map"),
    UploadCase("id_map semicolons", lambda df, m: m.to_csv(index=False, sep=";").encode(), r"^id_map is missing columns: ", kind="id_map"),
    UploadCase("id_map unknown compound", _edit_id_map(lambda m: m.__setitem__(SM_NAME, m[SM_NAME].where(m.index != 1, "Unobtainium"))),
               r"^id_map id=\d+ refers to unknown compound 'Unobtainium' \(1 such rows\)", kind="id_map"),
    UploadCase("id_map unknown cell type", _edit_id_map(lambda m: m.__setitem__(CELL_TYPE, m[CELL_TYPE].where(m.index != 0, "Neurons"))),
               r"^id_map id=\d+ refers to unknown cell type 'Neurons'", kind="id_map"),
    UploadCase("id_map duplicated id", _edit_id_map(lambda m: pd.concat([m, m.iloc[[0]].assign(**{SM_NAME: m[SM_NAME].iloc[-1]})], ignore_index=True)),
               r"^duplicated ids in id_map: ", kind="id_map"),
    UploadCase("id_map duplicated pair", _edit_id_map(lambda m: pd.concat([m, m.iloc[[0]].assign(**{ID: 10_000})], ignore_index=True)),
               r"^duplicated \(cell_type, sm_name\) pairs in id_map", kind="id_map"),
    UploadCase("id_map text ids", _edit_id_map(lambda m: m.__setitem__(ID, "abc")), r"^id_map column 'id' must hold integers; found 'abc'", kind="id_map"),
    UploadCase("id_map float ids", _edit_id_map(lambda m: m.__setitem__(ID, m[ID] + 0.5)), r"^id_map column 'id' must hold integers", kind="id_map"),
    UploadCase("id_map binary", _raw(b"\x00\xff\xfe\x00" * 50), r"^(not a readable CSV file|id_map is missing columns)", kind="id_map"),
    UploadCase("id_map parquet instead of csv", lambda df, m: _pq(m), r"^(not a readable CSV file|id_map is missing columns)", kind="id_map"),
]
