"""Chemistry with RDKit: SMILES parsing, Morgan fingerprints, fragments, similarity, drawings, maps,
searchable compound libraries.

Everything takes RDKit molecules or SMILES strings; a SMILES is parsed with :func:`parse_smiles`
(salts keep their largest fragment), and an invalid one raises ``ValueError`` with a one-line reason
(see :mod:`.parse` for the list of reasons). RDKit's log is captured, never printed.
"""
from __future__ import annotations

from .draw import DESCRIPTORS, descriptors, fragment_atom_matches, fragment_grid_svg, mol_svg
from .fingerprints import FingerprintConfig, MorganFeaturizer, morgan_generator
from .fragments import (
    FRAGMENT_METHODS,
    UNSEEN_COLUMN,
    FragmentHit,
    FragmentMethod,
    FragmentVocabulary,
    fragment_counts,
    fragment_instances,
    fragments_of,
)
from .library import CompoundLibrary, compound_library
from .maps import CompoundProfiles, compound_map, compound_profiles, distance_matrix, fingerprint_map, profile_map
from .parse import (
    MAX_HEAVY_ATOMS,
    MAX_RINGS,
    MAX_SMILES_CHARS,
    ParsedSmiles,
    Reason,
    as_mol,
    as_mols,
    parse_smiles,
    parse_smiles_batch,
)
from .similarity import SimilarityIndex, tanimoto_matrix, tanimoto_nearest

__all__ = [
    "DESCRIPTORS", "FRAGMENT_METHODS", "MAX_HEAVY_ATOMS", "MAX_RINGS", "MAX_SMILES_CHARS", "UNSEEN_COLUMN",
    "CompoundLibrary", "CompoundProfiles", "FingerprintConfig", "FragmentHit", "FragmentMethod",
    "FragmentVocabulary", "MorganFeaturizer", "ParsedSmiles", "Reason", "SimilarityIndex",
    "as_mol", "as_mols", "compound_library", "compound_map", "compound_profiles", "descriptors",
    "distance_matrix", "fingerprint_map", "fragment_atom_matches", "fragment_counts", "fragment_grid_svg",
    "fragment_instances", "fragments_of", "mol_svg", "morgan_generator", "parse_smiles", "parse_smiles_batch",
    "profile_map", "tanimoto_matrix", "tanimoto_nearest",
]
