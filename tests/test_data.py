"""Loading and validating de_train.parquet / id_map.csv: every documented error, one line each."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scperturb_core.constants import CELL_TYPE, CONTROL, META_COLUMNS, SM_NAME, SMILES
from scperturb_core.data import DataError, load_de_train, load_id_map
from scperturb_core.loader import load_dataset


def _write(df: pd.DataFrame, tmp_path, name="de_train.parquet"):
    path = tmp_path / name
    df.to_parquet(path, index=False)
    return path


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_round_trip_keeps_schema_and_values(tiny, tiny_parquet):
    data = load_de_train(tiny_parquet)
    assert data.genes == tiny.genes
    assert data.X.dtype == np.float32 and data.X.shape == tiny.X.shape
    np.testing.assert_array_equal(data.X, tiny.X)
    assert list(data.obs.columns) == list(META_COLUMNS)
    assert data.obs[CONTROL].dtype == bool
    assert not data.simulated and len(data.key) == 16


def test_bytes_and_path_give_same_key(tiny_parquet):
    assert load_de_train(tiny_parquet.read_bytes()).key == load_de_train(tiny_parquet).key


def test_empty_file(tmp_path):
    p = tmp_path / "empty.parquet"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as exc:
        load_de_train(p)
    _one_line(exc)


def test_not_a_parquet(tmp_path):
    p = tmp_path / "x.parquet"
    p.write_text("cell_type,sm_name\nNK cells,foo\n")
    with pytest.raises(DataError, match="not a parquet file") as exc:
        load_de_train(p)
    _one_line(exc)


def test_truncated_parquet(tiny_parquet, tmp_path):
    raw = tiny_parquet.read_bytes()
    p = tmp_path / "trunc.parquet"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="not a parquet file \\(or truncated\\)"):
        load_de_train(p)
    # keeps both magic numbers but the footer is garbage
    p.write_bytes(raw[:100] + raw[-4:])
    with pytest.raises(DataError, match="not a readable parquet file"):
        load_de_train(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_de_train(tmp_path / "nope.parquet")


def test_missing_metadata_columns(tiny, tmp_path):
    df = tiny.to_frame().drop(columns=[SMILES, CONTROL])
    with pytest.raises(DataError, match="missing metadata columns: 'SMILES', 'control'") as exc:
        load_de_train(_write(df, tmp_path))
    _one_line(exc)


def test_no_rows(tiny, tmp_path):
    with pytest.raises(DataError, match="no rows"):
        load_de_train(_write(tiny.to_frame().iloc[:0], tmp_path))


def test_non_numeric_gene_column(tiny, tmp_path):
    df = tiny.to_frame()
    gene = tiny.genes[3]
    df[gene] = df[gene].astype(str)
    with pytest.raises(DataError, match=f"non-numeric gene columns: '{gene}' \\(") as exc:
        load_de_train(_write(df, tmp_path))
    _one_line(exc)


def test_nan_and_inf_are_counted_and_located(tiny, tmp_path):
    df = tiny.to_frame()
    g0, g1 = tiny.genes[0], tiny.genes[5]
    df.loc[2, g0] = np.nan
    df.loc[7, g1] = np.inf
    df.loc[9, g1] = -np.inf
    with pytest.raises(DataError) as exc:
        load_de_train(_write(df, tmp_path))
    msg = _one_line(exc)
    assert msg.startswith("3 NaN or inf values")
    assert f"row 2 gene '{g0}'" in msg and f"row 7 gene '{g1}'" in msg


def test_duplicated_pairs(tiny, tmp_path):
    df = tiny.to_frame()
    df = pd.concat([df, df.iloc[[4]]], ignore_index=True)
    ct, sm = df.loc[4, CELL_TYPE], df.loc[4, SM_NAME]
    with pytest.raises(DataError, match="duplicated \\(cell_type, sm_name\\) rows") as exc:
        load_de_train(_write(df, tmp_path))
    assert f"({ct}, {sm})" in _one_line(exc)


def test_unparsable_smiles_named_per_compound(tiny, tmp_path):
    df = tiny.to_frame()
    name = df.loc[0, SM_NAME]
    df.loc[df[SM_NAME] == name, SMILES] = "C1CC(("
    with pytest.raises(DataError, match="SMILES that RDKit cannot parse for 1 compound") as exc:
        load_de_train(_write(df, tmp_path))
    assert name in _one_line(exc)


def test_too_many_columns_refused_before_reading(tmp_path):
    from scperturb_core.data import MAX_GENE_COLUMNS

    n = MAX_GENE_COLUMNS + 1
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {c: pa.array(["x"]) for c in META_COLUMNS}
    cols.update({f"g{i}": pa.array([0.0]) for i in range(n)})
    p = tmp_path / "wide.parquet"
    pq.write_table(pa.table(cols), p)
    with pytest.raises(DataError, match=f"too many gene columns: {n}"):
        load_de_train(p)


def test_extra_columns_become_genes_and_are_validated(tiny, tmp_path):
    df = tiny.to_frame()
    df["notes"] = "hello"
    with pytest.raises(DataError, match="non-numeric gene columns: 'notes'"):
        load_de_train(_write(df, tmp_path))


def test_bad_control_values(tiny, tmp_path):
    df = tiny.to_frame()
    df[CONTROL] = df[CONTROL].astype(str)
    df.loc[0, CONTROL] = "maybe"
    with pytest.raises(DataError, match="column 'control' must be boolean; found 'maybe'"):
        load_de_train(_write(df, tmp_path))


def test_id_map_validation(tiny, tmp_path):
    good = tiny.id_map
    p = tmp_path / "id_map.csv"
    good.to_csv(p, index=False)
    assert load_id_map(p, tiny).equals(good)

    bad = good.copy()
    bad.loc[3, SM_NAME] = "Unobtainium"
    bad.to_csv(p, index=False)
    with pytest.raises(DataError, match=f"id_map id={bad.loc[3, 'id']} refers to unknown compound 'Unobtainium'"):
        load_id_map(p, tiny)

    bad = good.copy()
    bad.loc[0, CELL_TYPE] = "Neurons"
    bad.to_csv(p, index=False)
    with pytest.raises(DataError, match="unknown cell type 'Neurons'"):
        load_id_map(p, tiny)

    good.drop(columns=["id"]).to_csv(p, index=False)
    with pytest.raises(DataError, match="id_map is missing columns: 'id'"):
        load_id_map(p, tiny)

    dup = pd.concat([good, good.iloc[[0]]], ignore_index=True)
    dup.to_csv(p, index=False)
    with pytest.raises(DataError, match="duplicated ids in id_map"):
        load_id_map(p, tiny)

    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        load_id_map(p, tiny)


def test_user_file_gets_embedded_id_map_only_when_it_matches(tiny_parquet):
    # the tiny file lacks most id_map compounds, so the embedded map does not apply
    data = load_dataset(tiny_parquet)
    assert data.id_map is None


def test_any_cell_types_and_compounds_are_accepted(tiny, tmp_path):
    df = tiny.to_frame()
    df[CELL_TYPE] = df[CELL_TYPE].replace({"NK cells": "Platelets"})
    data = load_de_train(_write(df, tmp_path))
    assert "Platelets" in data.cell_types


def test_pickle_carries_the_fields_not_the_caches(tiny):
    """The warm-up hands datasets to worker processes by pickle while pages fill cached properties: only
    the declared fields are pickled (read at once), and the copy rebuilds its caches."""
    import pickle

    from scperturb_core.data import PerturbData

    data = PerturbData(tiny.obs, tiny.X, tiny.genes, tiny.id_map, tiny.truth, tiny.name, tiny.simulated, tiny.key)
    assert data.gene_to_idx[data.genes[3]] == 3 and len(data.compounds) == 40  # caches filled
    state = data.__getstate__()
    assert set(state) == {"obs", "X", "genes", "id_map", "truth", "name", "simulated", "key", "notes"}
    copy = pickle.loads(pickle.dumps(data))
    assert "gene_to_idx" not in vars(copy)
    assert copy.key == data.key and copy.genes == data.genes and copy.name == data.name
    np.testing.assert_array_equal(copy.X, data.X)
    pd.testing.assert_frame_equal(copy.obs, data.obs)
    pd.testing.assert_frame_equal(copy.compounds, data.compounds)
    assert copy.gene_to_idx == data.gene_to_idx


def test_coverage_marks_every_pair_train_test_or_missing(tiny):
    from dataclasses import replace

    cov = tiny.coverage()
    assert list(cov.columns) == tiny.cell_types and cov.index.name == SM_NAME
    assert list(cov.index) == list(tiny.compounds[SM_NAME])
    assert (cov == "train").to_numpy().sum() == len(tiny.obs.drop_duplicates([SM_NAME, CELL_TYPE]))
    for ct, sm in zip(tiny.obs[CELL_TYPE], tiny.obs[SM_NAME]):
        assert cov.at[sm, ct] == "train"
    for ct, sm in zip(tiny.id_map[CELL_TYPE], tiny.id_map[SM_NAME]):
        assert cov.at[sm, ct] == ("train" if ((tiny.obs[SM_NAME] == sm) & (tiny.obs[CELL_TYPE] == ct)).any()
                                  else "test")
    assert set(cov.to_numpy().ravel()) == {"train", "test", "missing"}
    # a pair asked for but never measured, of a compound only the id_map names: its own row, the rest missing
    extra = pd.DataFrame({"id": [len(tiny.id_map)], CELL_TYPE: [tiny.cell_types[0]], SM_NAME: ["Only-in-test"]})
    cov2 = replace(tiny, id_map=pd.concat([tiny.id_map, extra], ignore_index=True)).coverage()
    assert cov2.index[-1] == "Only-in-test" and cov2.loc["Only-in-test"].tolist().count("test") == 1
    assert (cov2.loc["Only-in-test"] != "test").sum() == len(tiny.cell_types) - 1
    pd.testing.assert_frame_equal(cov2.iloc[:-1], cov)
