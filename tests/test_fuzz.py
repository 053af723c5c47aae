"""Property-based layer (hypothesis): for any input in a family -- SMILES text, gene lists, small
mutated parquet files, id_map text, JSON bytes -- the boundary either accepts it with its invariants
or refuses it with a one-line ``ValueError``; nothing else escapes and nothing takes long.

Bounded for CI: each property runs a fixed number of examples (``derandomize``: the same ones on every
run) with a per-example deadline. Floats are drawn without subnormals: a library loaded by other tests
may switch the process to flush-to-zero, where hypothesis cannot draw them.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scperturb_core.chem import parse_smiles
from scperturb_core.constants import CELL_TYPE, CONTROL, META_COLUMNS, SM_LINCS_ID, SM_NAME, SMILES
from scperturb_core.data import MAX_ABS_VALUE, MAX_ID, DataError, load_de_train, load_id_map
from scperturb_core.genes import parse_gene_list, resolve_genes
from scperturb_core.safeio import MAX_JSON_DEPTH, InputError, json_depth, parse_json

FAST = settings(max_examples=80, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FILES = settings(FAST, max_examples=60)

SMILES_ALPHABET = "CNOSPFIBrcnosp()[]=#@+-\\/%0123456789.*HlaeiuZ\x00 \t\n\u00e9\u200b"


def _one_line(exc: BaseException) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)


# ------------------------------------------------------------------------------------ SMILES


@FAST
@given(st.one_of(st.text(max_size=300), st.text(alphabet=SMILES_ALPHABET, max_size=120)))
def test_any_text_parses_to_a_molecule_or_a_reason(text):
    p = parse_smiles(text)
    if p.ok:
        assert p.mol is not None and p.canonical and p.reason is None
    else:
        assert p.mol is None and p.reason and "\n" not in p.reason and "\r" not in p.reason
        assert len(p.message) < 300


@FAST
@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=True, allow_subnormal=False), st.binary(max_size=50),
                 st.lists(st.text(max_size=5), max_size=3)))
def test_non_text_is_a_reason_not_an_exception(value):
    p = parse_smiles(value)
    assert not p.ok or isinstance(value, str)


# ------------------------------------------------------------------------------------ gene lists

GENES = ("CD69", "GZMB", "IL2RA", "HLA-A", "MT-CO1", "AC004771.4", "STAT1")


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(st.text(max_size=20), max_size=20)))
def test_any_gene_list_resolves_or_names_the_unknown(text):
    names = parse_gene_list(text)
    assert all(n and n == n.strip() for n in names)
    assert len({n.upper() for n in names}) == len(names)
    try:
        out = resolve_genes(text, GENES, what="--genes")
    except ValueError as exc:
        _one_line(exc)
        assert str(exc).startswith("--genes: ")
    else:
        assert out and set(out) <= set(GENES)


# ------------------------------------------------------------------------------------ parquet


@pytest.fixture(scope="module")
def small(tiny) -> pd.DataFrame:
    """A 24-row x 6-gene slice of the tiny dataset in the Kaggle schema."""
    df = tiny.to_frame()
    return df.iloc[:24, : len(META_COLUMNS) + 6].reset_index(drop=True)


def _pq(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _check_loaded(data) -> None:
    """Invariants of every accepted file."""
    assert np.isfinite(data.X).all() and (np.abs(data.X) <= MAX_ABS_VALUE).all()
    assert len({g.upper() for g in data.genes}) == len(data.genes)
    assert all(g.strip() == g and g for g in data.genes)
    for col in (CELL_TYPE, SM_NAME):
        assert all(v and v == v.strip() for v in data.obs[col])
    assert len({" ".join(c.split()).casefold() for c in data.cell_types}) == len(data.cell_types)


def _load(raw: bytes):
    try:
        data = load_de_train(raw, check_smiles=False)
    except DataError as exc:
        _one_line(exc)
        return None
    _check_loaded(data)
    return data


@FILES
@given(data=st.data())
def test_mutated_parquet_bytes_load_or_refuse(small, data):
    raw = bytearray(_pq(pa.Table.from_pandas(small, preserve_index=False)))
    op = data.draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
    pos = data.draw(st.integers(0, len(raw) - 1))
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    elif op == "cut":
        raw = raw[:pos] + raw[pos + data.draw(st.integers(1, 64)):]
    elif op == "insert":
        raw = raw[:pos] + data.draw(st.binary(min_size=1, max_size=32)) + raw[pos:]
    else:
        raw[pos:pos + 16] = b"\x00" * len(raw[pos:pos + 16])
    _load(bytes(raw))


NAME = st.text(max_size=12)
VALUE = st.floats(allow_nan=True, allow_infinity=True, width=64, allow_subnormal=False)


@FILES
@given(genes=st.lists(NAME, min_size=1, max_size=5), values=st.lists(VALUE, min_size=3, max_size=3),
       cell_types=st.lists(st.sampled_from(["NK cells", "nk cells", "NK cells ", " ", "", "B cells", "B\tcells",
                                            "T cells CD4+", "x\x00"]), min_size=3, max_size=3))
def test_mutated_columns_load_or_refuse(small, genes, values, cell_types):
    df = small.iloc[:3].copy()
    df[CELL_TYPE] = cell_types
    df[SM_NAME] = [f"drug{i}" for i in range(3)]
    cols = {c: pa.array(df[c].tolist()) for c in META_COLUMNS}
    table = pa.table(cols)
    for k, name in enumerate(genes):
        if name in table.column_names:
            continue
        table = table.append_column(name, pa.array([values[(k + i) % 3] for i in range(3)], type=pa.float64()))
    _load(_pq(table))


@FILES
@given(col=st.sampled_from([CELL_TYPE, SM_NAME, SM_LINCS_ID, SMILES, CONTROL]),
       kind=st.sampled_from(["int", "float", "bool", "binary", "list", "null", "text"]))
def test_metadata_columns_of_any_type_load_or_refuse(small, col, kind):
    table = pa.Table.from_pandas(small, preserve_index=False)
    n = table.num_rows
    arrays = {"int": pa.array(np.arange(n)), "float": pa.array(np.linspace(0, 1, n)),
              "bool": pa.array([True] * n), "binary": pa.array([b"x"] * n), "list": pa.array([["x"]] * n),
              "null": pa.nulls(n), "text": pa.array([f"t{i}" for i in range(n)])}
    i = table.column_names.index(col)
    _load(_pq(table.set_column(i, col, arrays[kind])))


# ------------------------------------------------------------------------------------ id_map, JSON


@FAST
@given(st.one_of(st.text(max_size=300), st.lists(st.tuples(st.text(max_size=25), st.sampled_from(
    ["B cells", "b cells", " B cells", "", "NK cells"]), st.text(max_size=10)), max_size=6).map(
    lambda rows: "id,cell_type,sm_name\n" + "\n".join(",".join(r) for r in rows))))
def test_any_id_map_text_loads_or_refuses(text):
    try:
        df = load_id_map(text.encode("utf-8", "surrogatepass"))
    except DataError as exc:
        _one_line(exc)
        return
    assert df["id"].between(0, MAX_ID).all() and not df["id"].duplicated().any()
    assert all(v.strip() == v and v for v in df["cell_type"])


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.floats(allow_subnormal=False) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=30)


@FAST
@given(st.one_of(st.binary(max_size=200), JSON_VALUE.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 5000).map(lambda d: b"[" * d + b"]" * d)))
def test_any_bytes_parse_as_json_or_refuse(raw):
    try:
        obj = parse_json(raw, "doc", want=None)
    except InputError as exc:
        _one_line(exc)
        assert str(exc).startswith("doc ")
    else:
        assert json_depth(obj) <= MAX_JSON_DEPTH
