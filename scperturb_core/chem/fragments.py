"""Break molecules into fragments and count them in a sparse compounds x fragments matrix.

Methods:

- ``"brics"`` (default): every BRICS bond of the molecule is cut at once
  (``BRICS.BreakBRICSBonds``), so the fragments partition the heavy atoms and their counts are
  well defined (Clotrimazole -> ``[16*]c1ccccc1`` x2, ``[16*]c1ccccc1Cl``, ``[8*]C([8*])([8*])[8*]``,
  ``[9*]n1ccnc1``). Dummy atoms carry the BRICS environment label as isotope (``[16*]``). This
  differs from ``BRICS.BRICSDecompose``, which searches break orders and returns a *set* of leaves
  that may overlap; a BRICS double-bond (L7) cut keeps its ``=[7*]`` attachment.
- ``"recap"``: RDKit's RECAP rules (``Recap.reactionDefs``, unlabelled ``*`` dummies) applied along
  one cut order -- each step applies the first rule that fits, with RDKit's rule against tiny
  pieces -- until no rule applies. ``Recap.RecapDecompose`` instead explores every cut order, which
  takes seconds to minutes on branched molecules, and returns the union of leaves of all orders;
  on 123 of the 146 screen compounds both give the same set, otherwise ours is a subset of it.
  RECAP rules remove some linker atoms (urea carbonyls, ether oxygens, amine nitrogens).
- ``"murcko"``: the Bemis-Murcko scaffold (ring systems and linkers), one per molecule; none for
  acyclic molecules.

A molecule without any breakable bond is its own single fragment (BRICS, RECAP).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
import scipy.sparse as sp
from rdkit import Chem, rdBase
from rdkit.Chem import BRICS, Recap, rdChemReactions
from rdkit.Chem.Scaffolds import MurckoScaffold

from .parse import MAX_SMILES_CHARS, as_mol, as_mols, shorten

log = logging.getLogger(__name__)

FragmentMethod = Literal["brics", "recap", "murcko"]
FRAGMENT_METHODS: tuple[str, ...] = get_args(FragmentMethod)
#: the name of the last column of a fragment count matrix
UNSEEN_COLUMN = "<unseen>"
#: version of :meth:`FragmentVocabulary.to_dict`
VOCAB_FORMAT = 1


@dataclass(frozen=True)
class FragmentHit:
    """One fragment occurrence: its canonical SMILES (with dummy atoms) and its atoms in the parent."""

    smiles: str
    atoms: tuple[int, ...]


def _check_method(method: str) -> None:
    if method not in FRAGMENT_METHODS:
        raise ValueError(f"unknown fragment method {method!r}; choose one of {list(FRAGMENT_METHODS)}")


def fragment_mol(smiles: str) -> Chem.Mol:
    """A fragment SMILES (dummy atoms allowed) as a sanitized molecule; ``ValueError`` names a bad one."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise ValueError(f"invalid fragment SMILES {smiles!r}: empty or not a string")
    if len(smiles) > MAX_SMILES_CHARS:
        raise ValueError(f"invalid fragment SMILES {shorten(smiles)!r}: too long")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None:
        raise ValueError(f"invalid fragment SMILES {shorten(smiles)!r}: RDKit cannot parse it")
    return mol


@lru_cache(maxsize=1)
def _dummy_pattern() -> Chem.Mol:
    return Chem.MolFromSmarts("[#0]")


def _strip_dummies(frag: Chem.Mol) -> Chem.Mol:
    """The fragment without its dummy (``*``) atoms, as a substructure query (ring info kept: a
    query without it crashes RDKit's matcher)."""
    query = Chem.DeleteSubstructs(frag, _dummy_pattern())
    query.UpdatePropertyCache(strict=False)
    return query


def substructure_atoms(parent: Chem.Mol, fragment_smiles: str) -> list[tuple[int, ...]]:
    """All matches of a fragment (dummy atoms removed) in ``parent``, as tuples of parent atom indices."""
    query = _strip_dummies(fragment_mol(fragment_smiles))
    if query.GetNumAtoms() == 0:
        return []
    return [tuple(sorted(m)) for m in parent.GetSubstructMatches(query, uniquify=True, maxMatches=1000)]


def _brics(mol: Chem.Mol) -> list[FragmentHit]:
    n = mol.GetNumAtoms()
    with rdBase.BlockLogs():
        broken = BRICS.BreakBRICSBonds(mol)
        atom_sets = Chem.GetMolFrags(broken, asMols=False, sanitizeFrags=False)
        parts = Chem.GetMolFrags(broken, asMols=True, sanitizeFrags=False)
        return [FragmentHit(Chem.MolToSmiles(p), tuple(sorted(i for i in atoms if i < n)))
                for p, atoms in zip(parts, atom_sets)]


@lru_cache(maxsize=1)
def _recap_reactions() -> tuple:
    reactions = tuple(rdChemReactions.ReactionFromSmarts(r) for r in Recap.reactionDefs)
    for rxn in reactions:
        rxn.Initialize()  # now, not lazily inside concurrent RunReactants calls
    return reactions


#: RDKit's RECAP refuses a cut that leaves one of these (dummies and empty branches removed)
_RECAP_TOO_SMALL = ("", "C", "CC", "CCC")


def _recap_split(mol: Chem.Mol) -> tuple[Chem.Mol, ...] | None:
    """The products of the first RECAP rule (in RDKit's rule order) that applies, or None."""
    for rxn in _recap_reactions():
        for products in rxn.RunReactants((mol,)):
            ok = True
            for prod in products:
                try:
                    Chem.SanitizeMol(prod)
                except (Chem.rdchem.MolSanitizeException, ValueError, RuntimeError):
                    ok = False
                    break
                if Chem.MolToSmiles(prod).replace("*", "").replace("()", "") in _RECAP_TOO_SMALL:
                    ok = False
                    break
            if ok:
                return products
    return None


def _recap(mol: Chem.Mol) -> list[FragmentHit]:
    """RECAP leaves along one cut order (each step applies the first rule that fits)."""
    pending = [(mol, list(range(mol.GetNumAtoms())))]
    hits = []
    with rdBase.BlockLogs():
        while pending:
            current, to_parent = pending.pop()
            products = _recap_split(current)
            if products is None:
                atoms = tuple(sorted(i for i in to_parent if i >= 0))
                hits.append(FragmentHit(Chem.MolToSmiles(current), atoms))
                continue
            for prod in products:
                mapping = [to_parent[a.GetIntProp("react_atom_idx")] if a.HasProp("react_atom_idx") else -1
                           for a in prod.GetAtoms()]
                pending.append((prod, mapping))
    return hits


def _murcko(mol: Chem.Mol) -> list[FragmentHit]:
    with rdBase.BlockLogs():
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    if scaffold.GetNumAtoms() == 0:
        return []
    smi = Chem.MolToSmiles(scaffold)
    match = mol.GetSubstructMatch(scaffold)
    return [FragmentHit(smi, tuple(sorted(match)))]


def fragment_instances(mol_or_smiles: Chem.Mol | str, method: FragmentMethod = "brics") -> list[FragmentHit]:
    """Every fragment occurrence of one molecule, sorted by (SMILES, atoms).

    ``atoms`` are the fragment's heavy atoms as indices into the parsed parent molecule
    (``parse_smiles(s).mol``); for Murcko they come from a substructure match.
    """
    _check_method(method)
    mol = as_mol(mol_or_smiles)
    hits = {"brics": _brics, "recap": _recap, "murcko": _murcko}[method](mol)
    return sorted(hits, key=lambda h: (h.smiles, h.atoms))


def fragments_of(mol_or_smiles: Chem.Mol | str, method: FragmentMethod = "brics") -> list[str]:
    """Canonical fragment SMILES of one molecule, sorted, repeated once per occurrence."""
    return [h.smiles for h in fragment_instances(mol_or_smiles, method)]


def fragment_counts(mol_or_smiles: Chem.Mol | str, method: FragmentMethod = "brics") -> Counter[str]:
    """How many times each fragment occurs in one molecule."""
    return Counter(fragments_of(mol_or_smiles, method))


class FragmentVocabulary:
    """Fragments seen in the training compounds, and their count matrix.

    ``fit`` keeps the fragments that occur in at least ``min_count`` training compounds (document
    frequency), ordered by decreasing frequency, then SMILES. ``transform`` gives a sparse count
    matrix ``(n, len(self))``: one column per kept fragment, and a last column
    (:data:`UNSEEN_COLUMN`) counting the occurrences of every other fragment (new, or too rare in
    training). Calling the vocabulary gives the same counts as a dense float32 array (a featurizer).
    """

    def __init__(self) -> None:
        self.method: FragmentMethod = "brics"
        self.min_count: int = 1
        self.n_compounds: int = 0
        self._fragments: list[str] | None = None
        self._doc_freq: list[int] = []
        self._index: dict[str, int] = {}

    # -------------------------------------------------------------------------------- fitting

    def fit(self, smiles_or_mols: Sequence[str | Chem.Mol], method: FragmentMethod = "brics",
            min_count: int = 1) -> FragmentVocabulary:
        """Learn the vocabulary from training compounds (an invalid SMILES raises ``ValueError``)."""
        _check_method(method)
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            raise ValueError(f"min_count must be an int >= 1, got {min_count!r}")
        mols = as_mols(smiles_or_mols)
        doc_freq: Counter[str] = Counter()
        for mol in mols:
            doc_freq.update(set(fragments_of(mol, method)))
        kept = sorted((f for f, c in doc_freq.items() if c >= min_count), key=lambda f: (-doc_freq[f], f))
        self.method, self.min_count, self.n_compounds = method, min_count, len(mols)
        self._set(kept, [doc_freq[f] for f in kept])
        log.info("fragment vocabulary: %d %s fragments (min_count %d) from %d compounds",
                 len(kept), method, min_count, len(mols))
        return self

    def _set(self, fragments: list[str], doc_freq: list[int]) -> None:
        self._fragments = list(fragments)
        self._doc_freq = list(doc_freq)
        self._index = {f: i for i, f in enumerate(self._fragments)}

    def _require_fitted(self) -> list[str]:
        if self._fragments is None:
            raise ValueError("the fragment vocabulary is not fitted; call fit() first")
        return self._fragments

    @property
    def fragments(self) -> list[str]:
        """Fragment SMILES in column order (without the unseen bucket)."""
        return list(self._require_fitted())

    @property
    def doc_freq(self) -> list[int]:
        """Training compounds containing each fragment, in column order."""
        self._require_fitted()
        return list(self._doc_freq)

    @property
    def columns(self) -> list[str]:
        """Column names of :meth:`transform`: the fragments, then :data:`UNSEEN_COLUMN`."""
        return self.fragments + [UNSEEN_COLUMN]

    def __len__(self) -> int:
        """Number of matrix columns, including the unseen-fragment bucket."""
        return len(self._require_fitted()) + 1

    def __repr__(self) -> str:
        size = "unfitted" if self._fragments is None else f"{len(self._fragments)} fragments + unseen"
        return f"FragmentVocabulary({self.method}, min_count={self.min_count}, {size})"

    # -------------------------------------------------------------------------------- transform

    def count_row(self, mol_or_smiles: Chem.Mol | str) -> dict[int, int]:
        """Column -> count for one molecule (unseen fragments in the last column)."""
        self._require_fitted()
        unseen = len(self._fragments)
        row: Counter[int] = Counter()
        for frag, count in fragment_counts(mol_or_smiles, self.method).items():
            row[self._index.get(frag, unseen)] += count
        return dict(row)

    def transform(self, smiles_or_mols: Sequence[str | Chem.Mol]) -> sp.csr_matrix:
        """Sparse fragment counts, shape ``(n, len(self))`` float32; last column = unseen fragments."""
        self._require_fitted()
        mols = as_mols(smiles_or_mols)
        indptr, indices, values = [0], [], []
        for mol in mols:
            row = self.count_row(mol)
            for col in sorted(row):
                indices.append(col)
                values.append(row[col])
            indptr.append(len(indices))
        return sp.csr_matrix((np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(mols), len(self)))

    def __call__(self, smiles_or_mols: Sequence[str | Chem.Mol]) -> np.ndarray:
        """Dense counts, shape ``(n, len(self))`` float32 (a featurizer)."""
        return self.transform(smiles_or_mols).toarray()

    # -------------------------------------------------------------------------------- persistence

    def to_dict(self) -> dict:
        """JSON-serialisable state (str / int / list only)."""
        return {"format": VOCAB_FORMAT, "method": self.method, "min_count": self.min_count,
                "n_compounds": self.n_compounds, "fragments": self.fragments, "doc_freq": self.doc_freq}

    @classmethod
    def from_dict(cls, d: dict) -> FragmentVocabulary:
        """Rebuild a fitted vocabulary from :meth:`to_dict`; ``ValueError`` names a bad field."""
        if not isinstance(d, dict):
            raise ValueError(f"fragment vocabulary state must be a dict, got {type(d).__name__}")
        need = {"format", "method", "min_count", "n_compounds", "fragments", "doc_freq"}
        missing = sorted(need - set(d))
        if missing:
            raise ValueError(f"fragment vocabulary state lacks {missing}")
        if d["format"] != VOCAB_FORMAT:
            raise ValueError(f"unsupported fragment vocabulary format {d['format']!r} (expected {VOCAB_FORMAT})")
        _check_method(d["method"])
        frags, freq = d["fragments"], d["doc_freq"]
        if not isinstance(frags, list) or not all(isinstance(f, str) for f in frags):
            raise ValueError("fragment vocabulary 'fragments' must be a list of str")
        if not isinstance(freq, list) or len(freq) != len(frags) or not all(isinstance(c, int) for c in freq):
            raise ValueError(f"fragment vocabulary 'doc_freq' must be {len(frags)} ints")
        if len(set(frags)) != len(frags):
            raise ValueError("fragment vocabulary 'fragments' has duplicates")
        vocab = cls()
        vocab.method, vocab.min_count, vocab.n_compounds = d["method"], int(d["min_count"]), int(d["n_compounds"])
        vocab._set(frags, freq)
        return vocab
