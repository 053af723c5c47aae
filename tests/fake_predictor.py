"""A tiny hand-built predictor satisfying :class:`scperturb_core.discovery.rank.PredictorLike` (no training)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from scperturb_core.constants import SM_NAME, SMILES


class FakePredictor:
    """Predicts from a lookup table, else from a formula of the molecule's heavy-atom count.

    * ``table[(cell_type, smiles)]`` -> the ensemble row, when present;
    * otherwise ``v[j] = cell_index + heavy_atoms / 10 * (j + 1) / g`` (deterministic, structure-driven).

    Members: ``mlp = ensemble + offset``, ``transformer = ensemble - offset`` (spread = 2 * offset).
    Calibrated intervals: ``predict_interval`` gives ``ensemble +- half * z(level) / z(0.8)`` (``half``
    defaults to ``offset``, so at 80% the interval equals the member spread); ``noise_sd`` is ``noise``
    for every gene. Every call is recorded in ``calls`` as ``(cell_type, smiles, name)`` triples.
    """

    def __init__(self, genes: Sequence[str], cell_types: Sequence[str], compounds: pd.DataFrame,
                 table: dict[tuple[str, str], Sequence[float]] | None = None, offset: float = 0.5,
                 half: float | None = None, noise: float = 0.25):
        self.genes = tuple(genes)
        self.cell_types = list(cell_types)
        self.compounds = compounds[[SM_NAME, SMILES]].reset_index(drop=True)
        self.table = {k: np.asarray(v, dtype=np.float32) for k, v in (table or {}).items()}
        self.offset = offset
        self.half = offset if half is None else half
        self.noise_sd = np.full(len(self.genes), noise, dtype=np.float32)
        self.calls: list[tuple[str, str, str | None]] = []
        self._gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
        self._ref = [self._gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in self.compounds[SMILES]]

    def _row(self, ct: str, smi: str) -> np.ndarray:
        if (ct, smi) in self.table:
            return self.table[(ct, smi)]
        if ct not in self.cell_types:
            raise ValueError(f"unknown cell type {ct!r}")
        heavy = Chem.MolFromSmiles(smi).GetNumHeavyAtoms()
        g = len(self.genes)
        return (self.cell_types.index(ct) + heavy / 10 * (np.arange(g) + 1) / g).astype(np.float32)

    def predict(self, cell_types, smiles, names=None) -> np.ndarray:
        names = list(names) if names is not None else [None] * len(smiles)
        self.calls.extend(zip(cell_types, smiles, names))
        if not len(smiles):
            return np.zeros((0, len(self.genes)), dtype=np.float32)
        return np.stack([self._row(c, s) for c, s in zip(cell_types, smiles)]).astype(np.float32)

    def predict_members(self, cell_types, smiles, names=None) -> dict[str, np.ndarray]:
        ens = np.stack([self._row(c, s) for c, s in zip(cell_types, smiles)]).astype(np.float32)
        return {"mlp": ens + self.offset, "transformer": ens - self.offset}

    def nearest(self, smiles, k: int = 5) -> list[list[tuple[str, float]]]:
        out = []
        for s in smiles:
            fp = self._gen.GetFingerprint(Chem.MolFromSmiles(s))
            sims = np.array(DataStructs.BulkTanimotoSimilarity(fp, self._ref))
            order = np.argsort(-sims, kind="stable")[:k]
            out.append([(self.compounds[SM_NAME].iloc[i], float(sims[i])) for i in order])
        return out

    def predict_interval(self, cell_types, smiles, names=None, level: float = 0.8):
        from scperturb_core.discovery.rank import z_value

        est = self.predict(cell_types, smiles, names)
        half = np.float32(self.half * z_value(level) / z_value(0.8))
        return est, est - half, est + half


class LegacyFakePredictor(FakePredictor):
    """A :class:`FakePredictor` like a model folder saved before calibrated intervals existed: no
    ``predict_interval`` and no ``noise_sd`` (the member spread is the only uncertainty)."""

    predict_interval = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise_sd = None
