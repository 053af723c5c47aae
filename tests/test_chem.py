"""scperturb_core.chem: parsing, fingerprints, fragments, vocabulary, similarity, drawings, maps, CLI."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scperturb_core import assets
from scperturb_core.chem import (
    DESCRIPTORS,
    UNSEEN_COLUMN,
    FingerprintConfig,
    FragmentVocabulary,
    MorganFeaturizer,
    Reason,
    SimilarityIndex,
    compound_map,
    compound_profiles,
    descriptors,
    distance_matrix,
    fingerprint_map,
    fragment_atom_matches,
    fragment_counts,
    fragment_grid_svg,
    fragment_instances,
    fragments_of,
    mol_svg,
    parse_smiles,
    parse_smiles_batch,
    tanimoto_matrix,
    tanimoto_nearest,
)
from scperturb_core.constants import SM_NAME, SMILES
from scperturb_core.io import atomic_write_text
from tests.conftest import ROOT

BENZENE = "c1ccccc1"
TOLUENE = "Cc1ccccc1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CLOTRIMAZOLE = "Clc1ccccc1C(c1ccccc1)(c1ccccc1)n1ccnc1"

# Morgan radius 2, 2048 bits (ECFP4-like), computed once with RDKit's rdFingerprintGenerator and pinned.
BENZENE_BITS = [389, 1088, 1873]
ASPIRIN_BITS = [389, 456, 650, 695, 807, 909, 1017, 1035, 1047, 1057, 1088, 1199, 1380, 1410, 1447, 1468,
                1616, 1729, 1750, 1775, 1873, 1917, 1970, 1991]
ASPIRIN_BITS_R1_1024 = [11, 33, 64, 356, 389, 456, 650, 695, 705, 726, 807, 849, 893, 946, 967, 1017]


@pytest.fixture(scope="module")
def screen() -> pd.DataFrame:
    """The 146 compounds of the screen (real SMILES)."""
    return assets.compounds()


@pytest.fixture(scope="module")
def vocab(screen) -> FragmentVocabulary:
    return FragmentVocabulary().fit(screen[SMILES].tolist())


# ------------------------------------------------------------------------------------ parsing


def test_parse_canonical_and_fields():
    p = parse_smiles("OC(=O)c1ccccc1OC(C)=O")
    assert p.ok and p.reason is None and p.note is None and p.code is None
    assert p.canonical == ASPIRIN and p.mol.GetNumHeavyAtoms() == 13
    assert p.message == "ok"
    assert parse_smiles("  CCO\n").canonical == "CCO"


def test_parse_salt_keeps_largest_fragment_with_note():
    p = parse_smiles("CC(=O)[O-].[Na+]")
    assert p.ok and p.canonical == "CC(=O)[O-]"
    assert p.note == "kept largest fragment of 2 (dropped [Na+])"
    # the kept fragment is a fully usable molecule (ring info set)
    assert fragments_of("c1ccccc1CC(=O)O.Cl") == ["[16*]c1ccccc1", "[8*]CC(=O)O"]


def test_parse_invalid_gives_one_line_reason_naming_the_input():
    p = parse_smiles("CC(C")
    assert not p.ok and p.mol is None and p.canonical is None and p.code == Reason.UNPARSABLE
    assert p.reason == "unparsable: unbalanced brackets: '(' at position 3 is never closed"
    assert p.message == "invalid SMILES 'CC(C': " + p.reason
    with pytest.raises(ValueError, match=r"invalid SMILES 'CC\(C'"):
        p.require()
    long = parse_smiles("C" * 10_000)
    assert long.reason == "too long: 10000 characters (limit 500)" and len(long.message) < 150


def test_parse_batch_is_aligned_and_tolerates_non_strings():
    rows = ["CCO", None, float("nan"), "", "c1ccccc1", "CC>>O"]
    out = parse_smiles_batch(rows)
    assert [p.ok for p in out] == [True, False, False, False, True, False]
    assert [p.code for p in out] == [None, Reason.NOT_A_STRING, Reason.NOT_A_STRING, Reason.EMPTY, None,
                                     Reason.REACTION]
    assert out[2].reason == "not a string: missing value (NaN)"
    assert parse_smiles_batch(pd.Series(["CCO", "CCN"]))[1].canonical == "CCN"
    with pytest.raises(TypeError):
        parse_smiles_batch("CCO")


def test_all_screen_compounds_parse_to_rdkit_canonical(screen):
    from rdkit import Chem

    parsed = parse_smiles_batch(screen[SMILES].tolist())
    assert all(p.ok and p.note is None for p in parsed)
    assert [p.canonical for p in parsed] == [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in screen[SMILES]]
    assert len({p.canonical for p in parsed}) == 146


# ------------------------------------------------------------------------------------ fingerprints


def test_pinned_morgan_bits():
    f = MorganFeaturizer()
    assert len(f) == 2048
    assert f.on_bits(BENZENE) == BENZENE_BITS
    assert f.on_bits(ASPIRIN) == ASPIRIN_BITS
    assert MorganFeaturizer(FingerprintConfig(radius=1, n_bits=1024)).on_bits(ASPIRIN) == ASPIRIN_BITS_R1_1024
    X = f([BENZENE, ASPIRIN])
    assert X.shape == (2, 2048) and X.dtype == np.float32
    assert np.flatnonzero(X[1]).tolist() == ASPIRIN_BITS and set(np.unique(X)) == {0.0, 1.0}


def test_morgan_counts_chirality_and_inputs():
    counts = MorganFeaturizer(FingerprintConfig(counts=True))([ASPIRIN])
    assert counts.sum() == 35 and counts.max() > 1  # 13 atoms x 3 radii, minus 4 duplicate environments
    assert np.flatnonzero(counts[0]).tolist() == ASPIRIN_BITS
    alanine_l, alanine_d = "N[C@@H](C)C(=O)O", "N[C@H](C)C(=O)O"
    plain, chiral = MorganFeaturizer(), MorganFeaturizer(FingerprintConfig(chirality=True))
    assert plain.on_bits(alanine_l) == plain.on_bits(alanine_d)
    assert chiral.on_bits(alanine_l) != chiral.on_bits(alanine_d)
    from rdkit import Chem

    assert np.array_equal(plain(Chem.MolFromSmiles(ASPIRIN)), plain(ASPIRIN))  # a Mol or a str, one row
    with pytest.raises(ValueError, match=r"row 1: invalid SMILES 'C1CC': unparsable"):
        plain(["CCO", "C1CC"])


@pytest.mark.parametrize("kwargs, message", [
    ({"radius": -1}, "radius must be an int in 0..6, got -1"),
    ({"n_bits": 0}, "n_bits must be an int in 1..65536, got 0"),
    ({"counts": "yes"}, "counts must be a bool, got 'yes'"),
])
def test_fingerprint_config_errors_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        FingerprintConfig(**kwargs)


def test_fingerprint_config_round_trip():
    cfg = FingerprintConfig(radius=3, n_bits=1024, counts=True)
    assert FingerprintConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown FingerprintConfig field"):
        FingerprintConfig.from_dict({"radius": 2, "bits": 5})


# ------------------------------------------------------------------------------------ fragments


def test_brics_fragments_of_clotrimazole():
    assert fragments_of(CLOTRIMAZOLE) == ["[16*]c1ccccc1", "[16*]c1ccccc1", "[16*]c1ccccc1Cl",
                                          "[8*]C([8*])([8*])[8*]", "[9*]n1ccnc1"]
    assert fragment_counts(CLOTRIMAZOLE)["[16*]c1ccccc1"] == 2
    hits = fragment_instances(CLOTRIMAZOLE)
    assert [h.atoms for h in hits] == [(8, 9, 10, 11, 12, 13), (14, 15, 16, 17, 18, 19), (0, 1, 2, 3, 4, 5, 6),
                                       (7,), (20, 21, 22, 23, 24)]


def test_brics_fragments_partition_every_screen_compound(screen):
    for smi in screen[SMILES]:
        mol = parse_smiles(smi).mol
        atoms = [a for h in fragment_instances(mol) for a in h.atoms]
        assert sorted(atoms) == list(range(mol.GetNumAtoms())), smi


def test_other_methods():
    assert fragments_of("CCOC(=O)c1ccccc1", "recap") == ["*C(=O)c1ccccc1", "*OCC"]
    assert fragments_of(ASPIRIN, "murcko") == ["c1ccccc1"]
    assert fragments_of("CCO", "murcko") == []
    assert fragments_of(BENZENE) == [BENZENE]  # no breakable bond: the molecule itself
    with pytest.raises(ValueError, match="unknown fragment method 'rings'"):
        fragments_of(BENZENE, "rings")


def test_recap_is_fast_on_branched_molecules():
    import time

    arms = ["C", "CC", "CCC", "C(C)C", "CCCC", "C1CC1"]  # RDKit's RecapDecompose needs ~15 s here
    smi = "c1(%s)c(%s)c(%s)c(%s)c(%s)c1(%s)" % tuple(f"-c2ccc(C(=O)N{x})cc2" for x in arms)
    t0 = time.perf_counter()
    frags = fragments_of(smi, "recap")
    assert time.perf_counter() - t0 < 1.0
    assert frags.count("*C(=O)c1ccc(*)cc1") == 6 and "*c1c(*)c(*)c(*)c(*)c1*" in frags


# ------------------------------------------------------------------------------------ vocabulary


def test_fragment_matrix_over_the_146_compounds(screen, vocab, tmp_path):
    smiles = screen[SMILES].tolist()
    M = vocab.transform(smiles)
    assert isinstance(M, sp.csr_matrix) and M.dtype == np.float32
    assert len(vocab) == 353 and M.shape == (146, 353) and M.nnz == 813
    assert vocab.columns[-1] == UNSEEN_COLUMN and len(vocab.fragments) == 352
    assert M[:, -1].sum() == 0  # min_count=1: every training fragment has its own column
    assert M.sum() == sum(len(fragments_of(s)) for s in smiles)
    # column order: most frequent first
    assert vocab.doc_freq == sorted(vocab.doc_freq, reverse=True) and vocab.n_compounds == 146
    row = M[0].toarray()[0]  # Clotrimazole
    assert row[vocab.fragments.index("[16*]c1ccccc1")] == 2 and row.sum() == 5
    # saved as JSON and loaded back: same columns, same matrix
    path = tmp_path / "vocab.json"
    atomic_write_text(path, json.dumps(vocab.to_dict()))
    loaded = FragmentVocabulary.from_dict(json.loads(path.read_text()))
    assert loaded.fragments == vocab.fragments and loaded.method == "brics" and len(loaded) == 353
    assert (loaded.transform(smiles) != M).nnz == 0
    assert np.array_equal(loaded(smiles[:3]), M[:3].toarray())  # dense featurizer call


def test_min_count_and_unseen_bucket(screen):
    smiles = screen[SMILES].tolist()
    v2 = FragmentVocabulary().fit(smiles, min_count=2)
    assert len(v2) == 99 and min(v2.doc_freq) == 2
    M2 = v2.transform(smiles)
    assert M2[:, -1].sum() == 256  # occurrences of the fragments seen in only one compound
    assert M2.sum() == v2.transform(smiles).sum() == sum(len(fragments_of(s)) for s in smiles)
    # a new molecule: known benzene piece + an unseen fragment
    v = FragmentVocabulary().fit([CLOTRIMAZOLE])
    row = v.transform(["c1ccccc1C(=O)N1CCOCC1"]).toarray()[0]
    assert v.columns[int(np.argmax(row[:-1]))] == "[16*]c1ccccc1" and row[-1] == 2 and row.sum() == 3


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="not fitted"):
        len(FragmentVocabulary())
    with pytest.raises(ValueError, match="min_count must be an int >= 1, got 0"):
        FragmentVocabulary().fit([BENZENE], min_count=0)
    with pytest.raises(ValueError, match=r"row 1: invalid SMILES 'C1CC'"):
        FragmentVocabulary().fit([BENZENE, "C1CC"])
    state = FragmentVocabulary().fit([BENZENE]).to_dict()
    with pytest.raises(ValueError, match=r"lacks \['fragments'\]"):
        FragmentVocabulary.from_dict({k: v for k, v in state.items() if k != "fragments"})
    with pytest.raises(ValueError, match="unknown fragment method 'x'"):
        FragmentVocabulary.from_dict({**state, "method": "x"})


# ------------------------------------------------------------------------------------ similarity


def _tanimoto(a: list[int], b: list[int]) -> float:
    return len(set(a) & set(b)) / len(set(a) | set(b))


def test_tanimoto_nearest_exact():
    f = MorganFeaturizer()
    ref = [BENZENE, TOLUENE, "CCO", BENZENE]
    sims, idx = tanimoto_nearest([BENZENE, ASPIRIN], ref, k=3)
    assert sims.shape == idx.shape == (2, 3)
    assert idx[0].tolist() == [0, 3, 1]  # ties: lower index first
    assert sims[0].tolist() == pytest.approx([1.0, 1.0, _tanimoto(BENZENE_BITS, f.on_bits(TOLUENE))])
    assert sims[1, 0] == pytest.approx(_tanimoto(ASPIRIN_BITS, f.on_bits(ref[idx[1, 0]])))
    # precomputed bit vectors as reference; k larger than the reference
    sims2, idx2 = tanimoto_nearest([BENZENE], f.bit_vectors(ref), k=10)
    assert idx2.shape == (1, 4) and np.allclose(sims2[0], sims[0].tolist() + [0.0])
    assert tanimoto_matrix([BENZENE], ["CCO"])[0, 0] == 0.0


def test_similarity_index_query_exclude_self_impute_and_state(screen):
    names = ["benzene", "toluene", "ethanol", "aspirin"]
    index = SimilarityIndex([BENZENE, TOLUENE, "CCO", ASPIRIN], names)
    t = _tanimoto(BENZENE_BITS, MorganFeaturizer().on_bits(TOLUENE))
    assert index.query([BENZENE], k=2) == [[("benzene", 1.0), ("toluene", pytest.approx(t))]]
    assert index.query([BENZENE], k=2, exclude_self=True)[0][0] == ("toluene", pytest.approx(t))
    assert index.max_similarity(["CCO", BENZENE], exclude_self=True)[0] < 1.0
    values = np.array([[1.0, 0.0], [3.0, 1.0], [100.0, 5.0], [7.0, 2.0]])
    got = index.impute(values, [BENZENE], k=2, exclude_self=True)
    sims, idx = index.query_arrays([BENZENE], k=2, exclude_self=True)
    w = sims[0] / sims[0].sum()
    assert np.allclose(got[0], w @ values[idx[0]]) and idx[0, 0] == 1
    # a query dissimilar to everything: uniform weights over the k nearest
    far = index.impute(values, ["[Na+]"], k=2)
    assert np.allclose(far[0], values[[0, 1]].mean(axis=0))
    with pytest.raises(ValueError, match=r"values must be \(n_reference=4, d\)"):
        index.impute(values[:2], [BENZENE])
    rebuilt = SimilarityIndex.from_dict(json.loads(json.dumps(index.to_dict())))
    assert rebuilt.query([ASPIRIN], k=4) == index.query([ASPIRIN], k=4)
    # on the screen: Clotrimazole's nearest other compound
    screen_index = SimilarityIndex(screen[SMILES].tolist(), screen[SM_NAME].tolist())
    (first, sim), *_ = screen_index.query([CLOTRIMAZOLE], k=5, exclude_self=True)[0]
    assert first == "Clemastine" and sim == pytest.approx(0.19672131)


# ------------------------------------------------------------------------------------ drawing


def test_svg_drawing_and_highlights():
    svg = mol_svg(CLOTRIMAZOLE)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "#FF9933" not in svg
    atoms = fragment_atom_matches(CLOTRIMAZOLE, "[9*]n1ccnc1")
    assert atoms == [20, 21, 22, 23, 24]
    assert "#FF9933" in mol_svg(CLOTRIMAZOLE, highlight_atoms=atoms, size=(300, 200))
    assert fragment_atom_matches(CLOTRIMAZOLE, "Clc1ccccc1") == [0, 1, 2, 3, 4, 5, 6]  # by substructure
    assert fragment_atom_matches(CLOTRIMAZOLE, "C1CCNCC1") == []
    grid = fragment_grid_svg(sorted(set(fragments_of(CLOTRIMAZOLE))), legends=["a", "b", "c", "d"])
    assert grid.startswith("<svg") and grid.count("<svg") == 1
    assert mol_svg("[16*]c1ccccc1").startswith("<svg")  # fragments with dummies draw too
    with pytest.raises(ValueError, match="highlight atom index 99 out of range"):
        mol_svg(BENZENE, highlight_atoms=[99])
    with pytest.raises(ValueError, match="invalid SMILES 'C1CC'"):
        mol_svg("C1CC")


def test_descriptors_of_aspirin():
    d = descriptors(ASPIRIN)
    assert list(d) == list(DESCRIPTORS)
    assert d["MW"] == pytest.approx(180.159, abs=1e-3) and d["logP"] == pytest.approx(1.3101, abs=1e-4)
    assert (d["HBD"], d["HBA"], d["rings"], d["heavy atoms"]) == (1, 3, 1, 13)
    assert d["TPSA"] == pytest.approx(63.6)


# ------------------------------------------------------------------------------------ maps


def test_compound_profiles_exact():
    obs = pd.DataFrame({SM_NAME: ["b", "a", "b"]})
    X = np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    prof = compound_profiles(obs, X)
    assert prof.names == ("b", "a") and prof.n_rows.tolist() == [2, 1]
    assert np.allclose(prof.profiles, [[1.5, 2.0], [1.0, 1.0]])
    # row RMS: sqrt((9+16)/2), 1, 0 -> per compound (3.5355 + 0) / 2 and 1
    assert np.allclose(prof.strength, [math.sqrt(12.5) / 2, 1.0])
    with pytest.raises(ValueError, match=r"X must be \(n_rows=3, g\)"):
        compound_profiles(obs, X[:2])


def test_distance_matrix_exact():
    D = distance_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]]), "jaccard")
    assert np.allclose(D, [[0, 0.5, 1], [0.5, 0, 1], [1, 1, 0]])
    assert np.allclose(distance_matrix(np.array([[0.0, 0.0], [3.0, 4.0]])), [[0, 5], [5, 0]])
    with pytest.raises(ValueError, match="unknown metric 'cosine'"):
        distance_matrix(np.zeros((2, 2)), "cosine")


def test_compound_map_small_and_seeded(screen):
    assert compound_map(np.zeros((0, 3))).shape == (0, 2)
    two = compound_map(np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert np.allclose(np.abs(two[:, 0]), 1.0) and np.allclose(two[:, 1], 0.0)  # PCA layout below 5 points
    smiles = screen[SMILES].tolist()[:30]
    a = fingerprint_map(smiles, seed=0)
    assert a.shape == (30, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, fingerprint_map(smiles, seed=0))  # seeded: reproducible
    with pytest.raises(ValueError, match="features contain NaN"):
        compound_map(np.full((6, 2), np.nan))


# ------------------------------------------------------------------------------------ CLI


def test_cli_fragments(capsys):
    from scperturb_core.cli import main

    rc = main(["fragments", CLOTRIMAZOLE, "CC(C", "CC(=O)[O-].[Na+]"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out.splitlines() == [
        f"{CLOTRIMAZOLE}\t[16*]c1ccccc1 [16*]c1ccccc1 [16*]c1ccccc1Cl [8*]C([8*])([8*])[8*] [9*]n1ccnc1",
        "CC(=O)[O-]\tCC(=O)[O-]",
    ]
    assert "error: invalid SMILES 'CC(C': unparsable: unbalanced brackets" in err
    assert "kept largest fragment of 2" in err
    assert main(["fragments", "--method", "murcko", ASPIRIN]) == 0
    assert capsys.readouterr().out == f"{ASPIRIN}\tc1ccccc1\n"


def test_cli_fragments_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "scperturb_core", "fragments", BENZENE, ""],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stdout == f"{BENZENE}\t{BENZENE}\n"
    assert out.stderr.strip() == "error: invalid SMILES '': empty: no SMILES given"


def test_compound_library_skips_what_does_not_parse():
    from scperturb_core.chem import compound_library

    lib = compound_library(["CCO", "not a smiles", "c1ccccc1O"], ["ethanol", "bad", "phenol"])
    assert lib.usable == [True, False, True] and lib.canonical[1] is None
    assert lib.index.names == ["ethanol", "phenol"] and lib.vocabulary.n_compounds == 2
    empty = compound_library(["nope"], ["bad"])
    assert empty.usable == [False] and empty.vocabulary is None and empty.index is None
    with pytest.raises(ValueError, match="2 SMILES but 1 names"):
        compound_library(["CCO", "CC"], ["one"])
