"""Morgan (ECFP-like) fingerprints with RDKit's ``rdFingerprintGenerator``."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from ..io import dataclass_from_dict
from .parse import as_mols

#: largest radius accepted (ECFP uses 2, i.e. ECFP4; larger radii only add noise)
MAX_RADIUS = 6
#: largest fingerprint length accepted
MAX_BITS = 1 << 16


@dataclass(frozen=True)
class FingerprintConfig:
    """Morgan fingerprint settings, saved with a model (``asdict``) and rebuilt on load.

    Attributes:
        radius: neighbourhood radius in bonds (2 = ECFP4).
        n_bits: fingerprint length (number of hashed bits / count slots).
        counts: True for hashed counts, False for presence bits.
        chirality: include chirality in the atom invariants.
    """

    radius: int = 2
    n_bits: int = 2048
    counts: bool = False
    chirality: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.radius, int) or isinstance(self.radius, bool) or not 0 <= self.radius <= MAX_RADIUS:
            raise ValueError(f"radius must be an int in 0..{MAX_RADIUS}, got {self.radius!r}")
        if not isinstance(self.n_bits, int) or isinstance(self.n_bits, bool) or not 1 <= self.n_bits <= MAX_BITS:
            raise ValueError(f"n_bits must be an int in 1..{MAX_BITS}, got {self.n_bits!r}")
        for name in ("counts", "chirality"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FingerprintConfig:
        return dataclass_from_dict(cls, d)


@lru_cache(maxsize=16)
def morgan_generator(radius: int, n_bits: int, chirality: bool) -> rdFingerprintGenerator.FingerprintGenerator64:
    """A cached RDKit Morgan generator."""
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits, includeChirality=chirality)


class MorganFeaturizer:
    """Morgan fingerprints as a featurizer: ``MorganFeaturizer(cfg)(items) -> (n, n_bits) float32``.

    ``items`` are RDKit molecules or SMILES (parsed with :func:`~.parse.parse_smiles`: salts keep
    their largest fragment; an invalid SMILES raises ``ValueError`` naming its row and reason).
    A single SMILES or molecule gives one row.
    """

    def __init__(self, cfg: FingerprintConfig | None = None):
        self.cfg = cfg or FingerprintConfig()
        self._gen = morgan_generator(self.cfg.radius, self.cfg.n_bits, self.cfg.chirality)

    def __len__(self) -> int:
        return self.cfg.n_bits

    def __repr__(self) -> str:
        return f"MorganFeaturizer({self.cfg})"

    def __call__(self, items: Sequence[str | Chem.Mol] | str | Chem.Mol) -> np.ndarray:
        """Fingerprints, shape ``(n, n_bits)`` float32 (0/1 bits, or counts when ``cfg.counts``)."""
        mols = as_mols(items)
        out = np.zeros((len(mols), self.cfg.n_bits), dtype=np.float32)
        for i, mol in enumerate(mols):
            if self.cfg.counts:
                out[i] = self._gen.GetCountFingerprintAsNumPy(mol)
            else:
                out[i] = self._gen.GetFingerprintAsNumPy(mol)
        return out

    def bit_vectors(self, items: Sequence[str | Chem.Mol] | str | Chem.Mol) -> list[DataStructs.ExplicitBitVect]:
        """Explicit bit vectors (presence bits, whatever ``cfg.counts``) for Tanimoto similarity."""
        return [self._gen.GetFingerprint(m) for m in as_mols(items)]

    def on_bits(self, item: str | Chem.Mol) -> list[int]:
        """Sorted indices of the set bits of one molecule."""
        return list(self.bit_vectors([item])[0].GetOnBits())
