"""Hostile strings through the SMILES parser: each gives its documented reason, fast, never an exception."""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from scperturb_core import assets
from scperturb_core.chem import (
    FRAGMENT_METHODS,
    MorganFeaturizer,
    Reason,
    descriptors,
    fragment_instances,
    mol_svg,
    parse_smiles,
    parse_smiles_batch,
)
from scperturb_core.chem import parse as parse_module

CORPUS = Path(__file__).parent / "data" / "hostile_smiles.py"
#: seconds one input may take (the parser checks length and characters before RDKit)
TIME_BOUND = 1.0


def _load() -> list[tuple[object, str, str]]:
    namespace: dict = {}
    exec(compile(CORPUS.read_text(encoding="utf-8"), str(CORPUS), "exec"), namespace)  # noqa: S102 -- test data
    return namespace["HOSTILE"]


HOSTILE = _load()
OK = "ok"


def test_corpus_is_large_and_covers_every_reason():
    assert len(HOSTILE) >= 50
    assert {expected for _, expected, _ in HOSTILE} == {str(r) for r in Reason} | {OK}
    assert sum(1 for _, expected, _ in HOSTILE if expected != OK) >= 50


def test_every_reason_is_documented_in_the_module_docstring():
    for reason in Reason:
        assert f"``{reason}``" in parse_module.__doc__


@pytest.mark.parametrize("text, expected, why", HOSTILE, ids=[why for _, _, why in HOSTILE])
def test_hostile_input_gives_its_reason_in_time(text, expected, why):
    t0 = time.perf_counter()
    p = parse_smiles(text)
    elapsed = time.perf_counter() - t0
    assert elapsed < TIME_BOUND, f"{why}: {elapsed:.2f} s"
    if expected == OK:
        assert p.ok and p.reason is None and p.canonical
        return
    assert not p.ok and p.mol is None and p.canonical is None
    assert p.code == expected, f"{why}: got {p.reason!r}"
    assert p.reason.startswith(f"{expected}: ") and len(p.reason) > len(expected) + 2
    for line in (p.reason, p.message):
        assert "\n" not in line and "\r" not in line
    assert len(p.message) < 300  # a 10,000-character input is shortened in the message
    with pytest.raises(ValueError):
        p.require()


def test_batch_keeps_rows_aligned():
    texts = [t for t, _, _ in HOSTILE]
    out = parse_smiles_batch(texts)
    assert len(out) == len(texts)
    assert [("ok" if p.ok else str(p.code)) for p in out] == [e for _, e, _ in HOSTILE]


def test_specific_reasons_read_well():
    assert parse_smiles("C\x00C").reason == (
        "disallowed characters: character '\\x00' at position 2 is not printable ASCII")
    assert parse_smiles("[Xx]").reason == "unparsable: unknown element 'Xx' in '[Xx]' at position 1"
    assert parse_smiles("Na").reason == (
        "unparsable: element 'Na' at position 1 must be written in brackets, e.g. [Na]")
    assert parse_smiles("C1CC").reason == "unparsable: unclosed ring"
    assert parse_smiles("N(C)(C)(C)C").reason == (
        "invalid chemistry: Explicit valence for atom # 0 N, 4, is greater than permitted")
    assert parse_smiles("CC>>CO").reason == "reaction SMILES: '>' at position 3: a reaction is not a compound"
    assert parse_smiles("C" * 151).reason == "too large: 151 heavy atoms (limit 150)"


def test_rdkit_prints_nothing(capfd):
    for text, _, _ in HOSTILE:
        parse_smiles(text)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_random_mutations_never_raise_and_valid_ones_go_through_the_pipeline():
    """Seeded fuzzing: mutated screen SMILES and random strings over the SMILES alphabet."""
    rng = random.Random(0)
    smiles = assets.compounds()["SMILES"].tolist()
    alphabet = list("CNOSPFIBrcl()[]=#123456789%@+-./\\*H")
    featurize = MorganFeaturizer()
    n_ok = 0
    for k in range(400):
        if k % 2:
            s = list(rng.choice(smiles))
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(s))
                if rng.random() < 0.5:
                    s.pop(i)
                else:
                    s.insert(i, rng.choice(alphabet))
            text = "".join(s)
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        t0 = time.perf_counter()
        p = parse_smiles(text)
        if p.ok:
            n_ok += 1
            for method in FRAGMENT_METHODS:
                fragment_instances(p.mol, method)
            featurize([p.mol])
            descriptors(p.mol)
            mol_svg(p.mol)
        else:
            assert p.reason and "\n" not in p.reason
        assert time.perf_counter() - t0 < TIME_BOUND, text
    assert n_ok > 10  # some mutations stay valid and went through fragments, fingerprints, drawing
