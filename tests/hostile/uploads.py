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


# ------------------------------------------------------------------------------------------------
# round two: footer metadata, column types, names that only look valid, value ranges, id bounds


def _table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _pq_table(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _with_pandas_meta(meta: bytes) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    """The valid file with the footer's pandas metadata replaced by ``meta``."""
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        return _pq_table(table.replace_schema_metadata({**(table.schema.metadata or {}), b"pandas": meta}))
    return build


def _index_named(pick: Callable[[pd.DataFrame], str]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    """Footer metadata that claims an existing column is the pandas index."""
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        import json

        table = _table(df)
        meta = json.loads(table.schema.metadata[b"pandas"])
        meta["index_columns"] = [pick(df)]
        return _pq_table(table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()}))
    return build


def _column_as(col: str, make: Callable[[int], pa.Array]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    """The valid file with metadata column ``col`` replaced by ``make(n_rows)``."""
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        i = table.column_names.index(col)
        return _pq_table(table.set_column(i, col, make(len(df))))
    return build


def _rename_gene(k: int, new: Callable[[str], str]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        names = list(table.column_names)
        names[len(META_COLUMNS) + k] = new(names[len(META_COLUMNS) + k])
        return _pq_table(table.rename_columns(names))
    return build


def _extra_gene(name: Callable[[str], str], values: float = 1.0) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    """An added gene column named ``name(first gene)`` (e.g. the first gene in another case)."""
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        return _pq_table(table.append_column(name(_gene(df, 0)), pa.array(np.full(len(df), values))))
    return build


def _dup_meta_column(col: str) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        return _pq_table(table.append_column(pa.field(col, table.schema.field(col).type), table.column(col)))
    return build


def _cell(col: str, row: int, value) -> Callable[[pd.DataFrame], None]:
    def fn(df: pd.DataFrame) -> None:
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
    return fn


def _gene_value(row: int, k: int, value) -> Callable[[pd.DataFrame], None]:
    def fn(df: pd.DataFrame) -> None:
        df.loc[row, _gene(df, k)] = value
    return fn


def _gene_typed(k: int, make: Callable[[int], pa.Array]) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        table = _table(df)
        i = len(META_COLUMNS) + k
        return _pq_table(table.set_column(i, table.column_names[i], make(len(df))))
    return build


def _many_rows(n: int) -> Callable[[pd.DataFrame, pd.DataFrame], bytes]:
    def build(_df: pd.DataFrame, _m: pd.DataFrame) -> bytes:
        text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["x"]))
        cols = {c: text for c in META_COLUMNS[:4]}
        cols[CONTROL] = pa.array(np.zeros(n, dtype=bool))
        cols["g0"] = pa.array(np.zeros(n))
        return _pq_table(pa.table(cols))
    return build


def _id_cell(row: int, value: str) -> Callable[[pd.DataFrame], None]:
    def fn(m: pd.DataFrame) -> None:
        m[ID] = m[ID].astype(object)
        m.loc[row, ID] = value
    return fn


def _map_cell(col: str, row: int, value: str) -> Callable[[pd.DataFrame], None]:
    def fn(m: pd.DataFrame) -> None:
        m.loc[row, col] = value
    return fn


_TEXT = (CELL_TYPE, SM_NAME, SMILES)
_TYPES = {
    "list<string>": (lambda n: pa.array([["NK cells"]] * n), r"list<(item|element): string>"),
    "binary": (lambda n: pa.array([b"NK cells"] * n, type=pa.binary()), r"binary"),
    "int64": (lambda n: pa.array(np.arange(n)), r"int64"),
    "double": (lambda n: pa.array(np.linspace(0, 1, n)), r"double"),
    "struct": (lambda n: pa.array([{"a": "x"}] * n), r"struct<a: string>"),
    "null": (lambda n: pa.nulls(n), r"null"),
}

ROUND_TWO: list[UploadCase] = [
    # ---- footer metadata that names an existing column as the index (pandas would move it away)
    UploadCase("pandas index names a gene", _index_named(lambda df: _gene(df, 0)),
               r"^column '[^']+' is stored as the pandas index; write the table with index=False$"),
    UploadCase("pandas index names the last gene", _index_named(lambda df: df.columns[-1]),
               r"^column '[^']+' is stored as the pandas index; write the table with index=False$"),
    UploadCase("pandas index names cell_type", _index_named(lambda df: CELL_TYPE),
               r"^column 'cell_type' is stored as the pandas index; write the table with index=False$"),
    UploadCase("pandas index names sm_name", _index_named(lambda df: SM_NAME),
               r"^column 'sm_name' is stored as the pandas index; write the table with index=False$"),
    # ---- metadata columns of the wrong type
    *[UploadCase(f"{col} stored as {t}", _column_as(col, make), rf"^column '{col}' must hold text; found {shown}$")
      for col in _TEXT for t, (make, shown) in _TYPES.items()],
    UploadCase("sm_lincs_id stored as list<string>", _column_as(SM_LINCS_ID, _TYPES["list<string>"][0]),
               r"^column 'sm_lincs_id' must hold text; found list<(item|element): string>$"),
    UploadCase("sm_lincs_id stored as binary", _column_as(SM_LINCS_ID, _TYPES["binary"][0]),
               r"^column 'sm_lincs_id' must hold text; found binary$"),
    UploadCase("control stored as list<string>", _column_as(CONTROL, _TYPES["list<string>"][0]),
               r"^column 'control' must hold boolean; found list<(item|element): string>$"),
    UploadCase("control stored as binary", _column_as(CONTROL, _TYPES["binary"][0]),
               r"^column 'control' must hold boolean; found binary$"),
    UploadCase("control stored as double", _column_as(CONTROL, _TYPES["double"][0]),
               r"^column 'control' must hold boolean; found double$"),
    UploadCase("duplicated cell_type column", _dup_meta_column(CELL_TYPE), r"^duplicated metadata columns: 'cell_type'$"),
    UploadCase("duplicated control column", _dup_meta_column(CONTROL), r"^duplicated metadata columns: 'control'$"),
    # ---- gene names that only look valid
    UploadCase("gene named ''", _rename_gene(0, lambda g: ""), r"^blank gene column name '' \(gene column 1\)$"),
    UploadCase("gene named three spaces", _rename_gene(2, lambda g: "   "), r"^blank gene column name '   ' \(gene column 3\)$"),
    UploadCase("gene named a tab", _rename_gene(1, lambda g: "\t"), r"^blank gene column name '\\t' \(gene column 2\)$"),
    UploadCase("gene with a leading space", _rename_gene(0, lambda g: " " + g),
               r"^gene column name ' \S+' has surrounding spaces \(gene column 1\)$"),
    UploadCase("gene with a trailing space", _rename_gene(3, lambda g: g + " "),
               r"^gene column name '\S+ ' has surrounding spaces \(gene column 4\)$"),
    UploadCase("gene with a newline", _rename_gene(0, lambda g: g + "\nX"),
               r"^gene column name '\S+\\nX' contains control characters \(gene column 1\)$"),
    UploadCase("gene with a NUL", _rename_gene(0, lambda g: "A\x00B"),
               r"^gene column name 'A\\x00B' contains control characters \(gene column 1\)$"),
    UploadCase("gene with a zero-width space", _rename_gene(0, lambda g: g + "\u200b"),
               r"^gene column name '\S+\\u200b' contains control characters \(gene column 1\)$"),
    UploadCase("gene with a right-to-left mark", _rename_gene(0, lambda g: "\u202e" + g),
               r"^gene column name '\\u202e\S+' contains control characters \(gene column 1\)$"),
    UploadCase("gene name of 300 characters", _rename_gene(0, lambda g: "G" * 300),
               r"^gene column name 'G{40}'\.\.\. is longer than 200 characters \(gene column 1\)$"),
    UploadCase("gene twice in other case", _extra_gene(lambda g: g.lower()),
               r"^gene columns '[^']+' and '[^']+' differ only in case \(gene lookup ignores case\)$"),
    UploadCase("XYZ1 and xyz1", lambda df, m: _pq_table(_table(df).append_column("XYZ1", pa.array(np.ones(len(df))))
                                                        .append_column("xyz1", pa.array(np.zeros(len(df))))),
               r"^gene columns 'XYZ1' and 'xyz1' differ only in case \(gene lookup ignores case\)$"),
    UploadCase("STRASSE and strasse by casefold", lambda df, m: _pq_table(
        _table(df).append_column("STRASSE", pa.array(np.ones(len(df)))).append_column("straße", pa.array(np.ones(len(df))))),
        r"^gene columns 'STRASSE' and 'straße' differ only in case \(gene lookup ignores case\)$"),
    # ---- metadata values that only look valid
    UploadCase("blank cell_type", _edit(_cell(CELL_TYPE, 4, "")), r"^blank cell_type at rows 4$"),
    UploadCase("spaces-only cell_type", _edit(_cell(CELL_TYPE, 7, "   ")), r"^blank cell_type at rows 7$"),
    UploadCase("blank sm_name", _edit(_cell(SM_NAME, 0, "")), r"^blank sm_name at rows 0$"),
    UploadCase("tab-only sm_name", _edit(_cell(SM_NAME, 2, "\t")), r"^blank sm_name at rows 2$"),
    UploadCase("lower-case cell type beside NK cells", _edit(_cell(CELL_TYPE, 0, "nk cells")),
               r"^cell types 'NK cells' and 'nk cells' differ only in case or spacing$"),
    UploadCase("upper-case cell type beside B cells", _edit(lambda df: df.__setitem__(
        CELL_TYPE, df[CELL_TYPE].where(df.index != df.index[df[CELL_TYPE] == "T cells CD4+"][0], "T CELLS CD4+"))),
        r"^cell types 'T CELLS CD4\+' and 'T cells CD4\+' differ only in case or spacing$"),
    UploadCase("double space inside a cell type", _edit(_cell(CELL_TYPE, 0, "NK  cells")),
               r"^cell types 'NK  cells' and 'NK cells' differ only in case or spacing$"),
    UploadCase("cell type with a newline", _edit(_cell(CELL_TYPE, 3, "NK cells\nB cells")),
               r"^cell_type 'NK cells\\nB cells' contains control characters \(row 3\)$"),
    UploadCase("cell type with a NUL", _edit(_cell(CELL_TYPE, 1, "NK\x00cells")),
               r"^cell_type 'NK\\x00cells' contains control characters \(row 1\)$"),
    UploadCase("sm_name with an escape sequence", _edit(_cell(SM_NAME, 5, "Drug\x1b[31m")),
               r"^sm_name 'Drug\\x1b\[31m' contains control characters \(row 5\)$"),
    UploadCase("sm_lincs_id with a carriage return", _edit(_cell(SM_LINCS_ID, 6, "LSM-1\r")),
               r"^sm_lincs_id 'LSM-1\\r' contains control characters \(row 6\)$"),
    UploadCase("cell type of 5000 characters", _edit(_cell(CELL_TYPE, 0, "N" * 5000)),
               r"^cell_type 'N{40}'\.\.\. is longer than 200 characters \(row 0\)$"),
    UploadCase("sm_name of 1000 characters", _edit(_cell(SM_NAME, 0, "D" * 1000)),
               r"^sm_name 'D{40}'\.\.\. is longer than 200 characters \(row 0\)$"),
    # ---- values
    UploadCase("value 1e308", _edit(_gene_value(0, 0, 1e308)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 0 gene '[^']+' = 1e\+308$"),
    UploadCase("value -1e308", _edit(_gene_value(2, 1, -1e308)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 2 gene '[^']+' = -1e\+308$"),
    UploadCase("value 1e39 (overflows float32)", _edit(_gene_value(1, 0, 1e39)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 1 gene '[^']+' = 1e\+39$"),
    UploadCase("value 3.4e38", _edit(_gene_value(1, 0, 3.4e38)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 1 gene '[^']+' = 3\.4e\+38$"),
    UploadCase("value 1e5", _edit(_gene_value(9, 3, 1e5)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 9 gene '[^']+' = 100000$"),
    UploadCase("largest double", _edit(_gene_value(0, 0, np.finfo(np.float64).max)),
               r"^1 values outside \[-10000, 10000\], e\.g\. row 0 gene '[^']+' = 1\.79769e\+308$"),
    UploadCase("int64 gene column near 2**62", _gene_typed(0, lambda n: pa.array(np.full(n, 2**62, dtype=np.int64))),
               r"^\d+ values outside \[-10000, 10000\], e\.g\. row 0 gene '[^']+' = 4\.61169e\+18(; row [1-4] gene '[^']+' = 4\.61169e\+18){4}$"),
    UploadCase("uint64 maximum", _gene_typed(0, lambda n: pa.array(np.full(n, 2**64 - 1, dtype=np.uint64))),
               r"^\d+ values outside \[-10000, 10000\], e\.g\. row 0 gene '[^']+' = 1\.84467e\+19(; row [1-4] gene '[^']+' = 1\.84467e\+19){4}$"),
    UploadCase("NaN in a float32 column", _gene_typed(1, lambda n: pa.array(np.r_[np.nan, np.zeros(n - 1)].astype(np.float32))),
               r"^1 NaN or inf values, e\.g\. row 0 gene '[^']+'$"),
    UploadCase("null in a gene column", _gene_typed(0, lambda n: pa.array([None] + [0.0] * (n - 1), type=pa.float64())),
               r"^1 NaN or inf values, e\.g\. row 0 gene '[^']+'$"),
    UploadCase("decimal gene column", _gene_typed(0, lambda n: pa.array([0] * n, type=pa.decimal128(5, 2))),
               r"^non-numeric gene columns: '[^']+' \(decimal128\(5, 2\)\)$"),
    UploadCase("date gene column", _gene_typed(0, lambda n: pa.array([0] * n, type=pa.date32())),
               r"^non-numeric gene columns: '[^']+' \(date32\[day\]\)$"),
    UploadCase("list gene column", _gene_typed(0, lambda n: pa.array([[1.0]] * n)),
               r"^non-numeric gene columns: '[^']+' \(list<(item|element): double>\)$"),
    UploadCase("1,000,001 rows", _many_rows(1_000_001), r"^too many rows: 1000001 \(limit 1000000\)$"),
    # ---- id_map: numbers and names
    UploadCase("id_map id 2**70", _edit_id_map(_id_cell(0, str(2**70))),
               r"^id_map id '1180591620717411303424' is out of range \(ids are integers in \[0, 1000000000000\]\)$", kind="id_map"),
    UploadCase("id_map negative id", _edit_id_map(_id_cell(1, "-1")),
               r"^id_map id '-1' is out of range \(ids are integers in \[0, 1000000000000\]\)$", kind="id_map"),
    UploadCase("id_map id 10**13", _edit_id_map(_id_cell(0, str(10**13))),
               r"^id_map id '10000000000000' is out of range \(ids are integers in \[0, 1000000000000\]\)$", kind="id_map"),
    UploadCase("id_map id of 60 digits", _edit_id_map(_id_cell(0, "9" * 60)),
               r"^id_map column 'id' must hold integers; found '9{60}'$", kind="id_map"),
    UploadCase("id_map id 1e3", _edit_id_map(_id_cell(0, "1e3")), r"^id_map column 'id' must hold integers; found '1e3'$", kind="id_map"),
    UploadCase("id_map id nan", _edit_id_map(_id_cell(0, "nan")), r"^id_map column 'id' must hold integers; found 'nan'$", kind="id_map"),
    UploadCase("id_map id inf", _edit_id_map(_id_cell(0, "inf")), r"^id_map column 'id' must hold integers; found 'inf'$", kind="id_map"),
    UploadCase("id_map id 0x10", _edit_id_map(_id_cell(0, "0x10")), r"^id_map column 'id' must hold integers; found '0x10'$", kind="id_map"),
    UploadCase("id_map id 1_000", _edit_id_map(_id_cell(0, "1_000")), r"^id_map column 'id' must hold integers; found '1_000'$", kind="id_map"),
    UploadCase("id_map blank id", _edit_id_map(_id_cell(2, "")), r"^id_map column 'id' must hold integers; found ''$", kind="id_map"),
    UploadCase("id_map Arabic-Indic digits", _edit_id_map(_id_cell(0, "\u0663")),
               r"^id_map column 'id' must hold integers; found '\u0663'$", kind="id_map"),
    UploadCase("id_map lower-case cell type", _edit_id_map(_map_cell(CELL_TYPE, 0, "b cells")),
               r"^id_map id=\d+ refers to unknown cell type 'b cells' \(1 such rows\); did you mean 'B cells'\?$", kind="id_map"),
    UploadCase("id_map double space in cell type", _edit_id_map(_map_cell(CELL_TYPE, 0, "B  cells")),
               r"^id_map id=\d+ refers to unknown cell type 'B  cells' \(1 such rows\); did you mean 'B cells'\?$", kind="id_map"),
    UploadCase("id_map blank cell type", _edit_id_map(_map_cell(CELL_TYPE, 1, "")),
               r"^id_map id=\d+ has a blank cell_type$", kind="id_map"),
    UploadCase("id_map spaces-only sm_name", _edit_id_map(_map_cell(SM_NAME, 0, "   ")),
               r"^id_map id=\d+ has a blank sm_name$", kind="id_map"),
    UploadCase("id_map sm_name with a bell", _edit_id_map(_map_cell(SM_NAME, 0, "Drug\x07")),
               r"^id_map id=\d+ has a sm_name with control characters$", kind="id_map"),
]
CASES += ROUND_TWO


@dataclass(frozen=True)
class WarnCase:
    """A file accepted with a note: normalising is the documented choice."""

    name: str
    build: Callable[[pd.DataFrame, pd.DataFrame], bytes]
    note: str  # regex one of the dataset's notes must match


WARN_CASES: list[WarnCase] = [
    WarnCase("pandas metadata is a JSON list", _with_pandas_meta(b"[1, 2, 3]"), r"^ignored unusable pandas metadata"),
    WarnCase("pandas metadata is a string", _with_pandas_meta(b'"index"'), r"^ignored unusable pandas metadata"),
    WarnCase("pandas metadata is invalid JSON", _with_pandas_meta(b"{index_columns: ["), r"^ignored unusable pandas metadata"),
    WarnCase("pandas metadata nested 100,000 deep", _with_pandas_meta(b"[" * 100_000 + b"]" * 100_000),
             r"^ignored unusable pandas metadata"),
    WarnCase("pandas index_columns is a number", _with_pandas_meta(b'{"index_columns": 5}'), r"^ignored unusable pandas metadata"),
    WarnCase("pandas index names an integer", _with_pandas_meta(b'{"index_columns": [5]}'), r"^ignored unusable pandas metadata"),
    WarnCase("pandas metadata with NaN", _with_pandas_meta(b'{"index_columns": [NaN]}'), r"^ignored unusable pandas metadata"),
    WarnCase("pandas metadata not UTF-8", _with_pandas_meta(b"\xff\xfe{}"), r"^ignored unusable pandas metadata"),
    WarnCase("cell types with a trailing space", _edit(lambda df: df.__setitem__(CELL_TYPE, df[CELL_TYPE] + " ")),
             r"^stripped surrounding spaces from 192 cell_type value\(s\), e\.g\. '[^']+ ' at row 0$"),
    WarnCase("one compound with a leading space", _edit(lambda df: df.__setitem__(
        SM_NAME, df[SM_NAME].where(df[SM_NAME] != df[SM_NAME].iloc[0], " " + df[SM_NAME].iloc[0]))),
        r"^stripped surrounding spaces from \d+ sm_name value\(s\), e\.g\. ' [^']+' at row 0$"),
]
