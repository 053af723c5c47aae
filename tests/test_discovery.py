"""New-SMILES input parsing, alignment of predictions with input rows, applicability domain, rank among known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES
from scperturb_core.discovery.rank import build_cube, rank_compounds
from scperturb_core.discovery.smiles import (
    AD_THRESHOLD, MAX_MOLECULES, parse_smiles_table, predict_smiles, read_smiles_file,
)
from tests.fake_predictor import FakePredictor

MIXED = """# my molecules
CCO ethanol
C1CC bad ring

c1ccccc1O, phenol
not_a_smiles
CC(=O)Oc1ccccc1C(=O)O\taspirin acid
"""


@pytest.fixture(scope="module")
def fake(tiny):
    return FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5)


def test_parse_text_keeps_every_row_in_order():
    t = parse_smiles_table(MIXED)
    assert t["row"].tolist() == [2, 3, 5, 6, 7]
    assert t["name"].tolist() == ["ethanol", "bad ring", "phenol", "mol6", "aspirin acid"]
    assert t["ok"].tolist() == [True, False, True, False, True]
    assert t.loc[1, "reason"].startswith("unparsable") and t.loc[3, "reason"].startswith("disallowed characters")
    assert t.loc[0, "canonical"] == "CCO" and t.loc[2, SMILES] == "c1ccccc1O"


def test_parse_csv_bytes_and_frames():
    csv = b"id,Smiles,other\nm1,CCO,x\nm2,C(,y\n"
    t = parse_smiles_table(csv)
    assert t["name"].tolist() == ["m1", "m2"] and t["ok"].tolist() == [True, False] and t["row"].tolist() == [1, 2]
    t2 = parse_smiles_table(pd.DataFrame({"SMILES": ["CCN", "", "O=C=O"]}))
    assert t2["ok"].tolist() == [True, False, True] and t2["name"].tolist() == ["mol1", "mol2", "mol3"]
    pasted = parse_smiles_table("name,SMILES\nfoo,CCC\nbar,CCCC\n")
    assert pasted["name"].tolist() == ["foo", "bar"] and pasted[SMILES].tolist() == ["CCC", "CCCC"]
    header_only = parse_smiles_table("smiles\nCCO\n")
    assert header_only[SMILES].tolist() == ["CCO"]
    assert parse_smiles_table(["CCO", None])["ok"].tolist() == [True, False]


@pytest.mark.parametrize("source, message", [
    (b"name,structure\na,CCO\n", "no SMILES column in the SMILES file; its columns are: 'name', 'structure'"),
    (b"", "the SMILES file is empty"),
    ("\n\n# only comments\n", "no molecules given"),
    ("\n".join(["CCO"] * (MAX_MOLECULES + 1)), f"too many molecules: {MAX_MOLECULES + 1}"),
])
def test_parse_errors_are_one_line(source, message):
    with pytest.raises(ValueError) as err:
        parse_smiles_table(source)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_read_smiles_file(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text("SMILES,name\nCCO,e\n")
    assert read_smiles_file(str(p))["name"].tolist() == ["e"]
    s = tmp_path / "in.smi"
    s.write_text("CCO e\nCCN\n")
    assert read_smiles_file(str(s))["name"].tolist() == ["e", "mol2"]
    with pytest.raises(ValueError, match="SMILES file not found"):
        read_smiles_file(str(tmp_path / "nope.csv"))


def test_mixed_upload_keeps_alignment(tiny, fake):
    """Invalid rows are reported and skipped; valid ones are predicted exactly as if given alone."""
    preds = predict_smiles(fake, MIXED)
    assert preds.valid.tolist() == [0, 2, 4]
    assert preds.values.shape == (3, len(tiny.cell_types), tiny.n_genes)
    assert preds.invalid["row"].tolist() == [3, 6]
    for pos, smi in zip(preds.valid, ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]):
        alone = predict_smiles(fake, [smi])
        np.testing.assert_array_equal(preds.values[list(preds.valid).index(pos)], alone.values[0])
    np.testing.assert_allclose(preds.spread, 1.0, rtol=1e-3)
    long = preds.long_frame(genes=["CD69"])
    T = len(tiny.cell_types)
    assert list(long.columns) == ["row", "name", SMILES, "known_compound", CELL_TYPE, "source", "max_tanimoto",
                                  "nearest_compound", "CD69", "CD69_lower", "CD69_upper"]
    np.testing.assert_allclose(long["CD69_upper"] - long["CD69"], 0.5, rtol=1e-2)  # fake half-width
    assert set(long["source"]) == {"predicted"}
    assert long["name"].tolist() == [n for n in ["ethanol", "phenol", "aspirin acid"] for _ in range(T)]
    assert long[CELL_TYPE].tolist() == tiny.cell_types * 3
    full = preds.long_frame()
    assert full.shape == (3 * T, 8 + 3 * tiny.n_genes)
    assert preds.long_frame(intervals=False).shape == (3 * T, 8 + tiny.n_genes)
    vals = preds.gene_values(["cd69"], "NK cells")
    assert vals["row"].tolist() == [2, 3, 5, 6, 7]
    assert vals["CD69"].isna().tolist() == [False, True, False, True, False]


def test_applicability_domain_and_nearest(tiny, fake):
    known = tiny.compounds[SMILES].iloc[3]
    preds = predict_smiles(fake, [known, "CCO", "C("])
    t = preds.table
    assert t.loc[0, "max_tanimoto"] == pytest.approx(1.0)
    assert t.loc[0, "nearest_compound"] == tiny.compounds[SM_NAME].iloc[3]
    assert bool(t.loc[0, "in_domain"]) and not bool(t.loc[1, "in_domain"])
    assert t.loc[1, "max_tanimoto"] < AD_THRESHOLD
    assert pd.isna(t.loc[2, "in_domain"]) and np.isnan(t.loc[2, "max_tanimoto"])
    # the known compound is predicted under its training name, new ones without one
    names = {s: n for _, s, n in fake.calls[-len(tiny.cell_types) * 2:]}
    assert names["CCO"] is None
    assert set(names.values()) == {None, tiny.compounds[SM_NAME].iloc[3]}


def test_top_genes(tiny):
    signs = np.where(np.arange(tiny.n_genes) % 2 == 0, 1.0, -1.0)
    table = {(ct, "CCO"): signs * (np.arange(tiny.n_genes) + 1) for ct in tiny.cell_types}
    fake = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, table)
    preds = predict_smiles(fake, ["CCO"])
    top = preds.top_genes(0, "NK cells", n=3)
    g = tiny.n_genes
    assert top["value"].tolist() == [g - 1, g - 3, g - 5, -g, -(g - 2), -(g - 4)]  # g is even
    assert top["direction"].tolist() == ["up"] * 3 + ["down"] * 3
    assert top["gene"].tolist()[0] == tiny.genes[g - 2]
    positive = predict_smiles(FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds), ["CCO"])
    assert set(positive.top_genes(0, "NK cells", n=3)["direction"]) == {"up"}  # no negative value, no "down"
    with pytest.raises(ValueError, match="not a valid molecule"):
        predict_smiles(fake, ["CCO", "C("]).top_genes(1, "NK cells")


def test_rank_among_known(tiny, fake):
    cube = build_cube(tiny, fake)
    known = rank_compounds(cube, "CD69", "B cells")
    scores = known["score"].to_numpy()
    # fake formula: a bigger molecule has larger (more up) values -> lower score than a tiny one
    preds = predict_smiles(fake, ["C", "C(", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"])
    out = preds.rank_among_known(cube, "cd69", "B cells", by="estimate")
    assert out["row"].tolist() == [1, 2, 3]
    assert np.isnan(out.loc[1, "score"]) and np.isnan(out.loc[1, "rank_among_known"])
    for i in (0, 2):
        s = out.loc[i, "score"]
        assert out.loc[i, "rank_among_known"] == 1 + (scores > s).sum()
        assert out.loc[i, "n_known"] == len(scores)
    assert out.loc[0, "rank_among_known"] < out.loc[2, "rank_among_known"]
    assert out.loc[0, "uncertainty"] == pytest.approx(0.5, rel=1e-2)
    # by confidence: the molecule's lower bound against the known compounds' lower bounds
    conf = preds.rank_among_known(cube, "cd69", "B cells")
    lows = rank_compounds(cube, "CD69", "B cells")["score_lower"].to_numpy()
    assert conf.loc[0, "rank_among_known"] == 1 + (lows > conf.loc[0, "score_lower"]).sum()
    assert conf.loc[0, "score_lower"] == pytest.approx(conf.loc[0, "score"] - 0.5, abs=1e-2)


def test_known_compound_reports_measured_values(tiny, fake):
    """A pasted screen compound (here as a salt, atoms in another order) is that compound: measured
    values where it was measured, predictions only for the other cell types."""
    from rdkit import Chem

    cube = build_cube(tiny, fake)
    b = tiny.cell_types.index("B cells")
    c = int(np.nonzero(cube.source[:, b] == 1)[0][0])  # a compound measured in B cells
    name, smi = cube.compounds[SM_NAME].iloc[c], cube.compounds[SMILES].iloc[c]
    mol = Chem.MolFromSmiles(smi)
    other_order = Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1, canonical=False)
    fake.calls.clear()
    preds = predict_smiles(fake, [f"{other_order}.Cl", "CCO"], cube=cube)
    assert preds.table["known_compound"].tolist() == [name, None]
    for t, ct in enumerate(preds.cell_types):
        measured = cube.source[c, tiny.cell_types.index(ct)] == 1
        assert preds.source[0, t] == (1 if measured else 2), ct
        if measured:
            np.testing.assert_array_equal(preds.values[0, t], cube.profile(name, ct))
            np.testing.assert_allclose(preds.upper[0, t].astype(float) - preds.values[0, t], 0.25 * 1.2816,
                                       rtol=1e-2)
    # only the unmeasured cell types of the known compound were sent to the models
    n_measured = int((preds.source[0] == 1).sum())
    assert n_measured >= 1 and len(fake.calls) == 2 * len(preds.cell_types) - n_measured
    table = preds.measured_values()
    assert table["source"].value_counts()["measured"] == n_measured
    long = preds.long_frame(["CD69"])
    assert long.loc[long["known_compound"] == name, "source"].tolist() == [
        "measured" if s == 1 else "predicted" for s in preds.source[0]]


def test_no_valid_rows_and_bad_cell_type(fake):
    with pytest.raises(ValueError, match=r"no valid SMILES among 2 input\(s\); row 1: unparsable"):
        predict_smiles(fake, ["C(", "xx"])
    with pytest.raises(ValueError, match="unknown cell type 'Neurons'"):
        predict_smiles(fake, ["CCO"], cell_types=["Neurons"])
