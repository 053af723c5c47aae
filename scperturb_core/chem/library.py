"""A compound list made searchable: canonical SMILES, fragment vocabulary and similarity index.

The Molecules page shows, for any molecule, its fragment count vector over the dataset's fragment
vocabulary and its nearest dataset compounds; both need the whole compound list parsed, fragmented
and fingerprinted first (~0.5 s for the screen's 146 compounds). :func:`compound_library` does that
for one list; :func:`scperturb_core.warmup.compound_library` keeps the result for the process.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .fragments import FragmentVocabulary
from .parse import parse_smiles
from .similarity import SimilarityIndex


@dataclass(frozen=True)
class CompoundLibrary:
    """``canonical[i]``: the canonical SMILES of compound ``i``, None when it does not parse;
    ``vocabulary``/``index``: fitted on the compounds that parse (None when none does)."""

    canonical: tuple[str | None, ...]
    vocabulary: FragmentVocabulary | None
    index: SimilarityIndex | None

    @property
    def usable(self) -> list[bool]:
        return [c is not None for c in self.canonical]


def compound_library(smiles: Sequence[str], names: Sequence[str]) -> CompoundLibrary:
    """Parse ``smiles`` (named ``names``), fit the BRICS fragment vocabulary and the Tanimoto index on
    those that parse."""
    if len(smiles) != len(names):
        raise ValueError(f"compound_library: {len(smiles)} SMILES but {len(names)} names")
    canonical = tuple(parse_smiles(s).canonical for s in smiles)
    ok = [i for i, c in enumerate(canonical) if c is not None]
    if not ok:
        return CompoundLibrary(canonical, None, None)
    kept = [smiles[i] for i in ok]
    return CompoundLibrary(canonical, FragmentVocabulary().fit(kept), SimilarityIndex(kept, [names[i] for i in ok]))
