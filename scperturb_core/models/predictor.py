"""Trained models behind one object: predict any (cell type, compound) pairs, including new SMILES.

:class:`Predictor` bundles the fitted feature pipeline, the trained networks ("mlp", "transformer"),
their ensemble weights and the stack state (:class:`~scperturb_core.models.stack.StackState`: stack weights
over baselines, readout and networks, the baseline fallback, new-compound shrinkage, calibrated
intervals and the measurement noise level), all chosen on shift-true folds.
:func:`ensure_default_models` gives every page and command the default models of a dataset: loaded
from the cache when present and valid, else trained on all training rows (with progress) and saved
atomically.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import SM_NAME, SMILES
from ..data import PerturbData
from ..io import cache_dir
from .features import FeaturePipeline
from .networks import PerturbNet
from .stack import (COMPOUND_MEAN, CT_MEAN, GENE_MEAN, LEVELS, POOLED, StackState, apply_weights,
                    candidate_predictions, row_scale, row_strength, shrink, sim_bin)
from .train import History, ModelSpec, predict_components, train_ensemble

log = logging.getLogger(__name__)

#: most pairs featurized and predicted at once (bounds memory: rows x genes float32)
PREDICT_CHUNK = 1000
#: the cache sub-folder of user-named models
SAVED = "saved"


class Predictor:
    """The ensemble of trained networks and its feature pipeline.

    Attributes:
        genes: the ``g`` output genes, in the training data's column order.
        cell_types: cell types the models can predict (those of the training rows).
        compounds: the training compounds (``sm_name``, ``SMILES``).
        weights: ensemble weight of each member (sum 1), chosen on validation rows.
        histories: per-member training history (train / validation loss per epoch).
        info: training facts (rows, seconds, validation scores).
        stack: the stacked predictor's state (weights, fallback, shrinkage, intervals, noise level);
            ``predict`` uses it when enabled, else the networks' ensemble.
    """

    def __init__(self, pipeline: FeaturePipeline, models: dict[str, PerturbNet], weights: dict[str, float],
                 spec: ModelSpec, histories: dict[str, History] | None = None, info: dict | None = None,
                 stack: StackState | None = None):
        if not models:
            raise ValueError("a predictor needs at least one trained model")
        self.pipeline = pipeline
        self.models = dict(models)
        self.weights = {k: float(weights[k]) for k in self.models}
        self.spec = spec
        self.histories = dict(histories or {})
        self.info = dict(info or {})
        self.genes: tuple[str, ...] = tuple(pipeline.genes)
        self.cell_types: list[str] = list(pipeline.cell_types)
        self.compounds = pd.DataFrame({SM_NAME: pipeline.compound_names, SMILES: pipeline.compound_smiles})
        self.stack = stack

    def __repr__(self) -> str:
        members = ", ".join(f"{k}={w:.2f}" for k, w in self.weights.items())
        if self.stacked:
            members += ", stack" if not self.stack.fallback else f", fallback {self.stack.fallback}"
        return f"Predictor({len(self.genes)} genes, {len(self.cell_types)} cell types, {members})"

    @property
    def members(self) -> list[str]:
        return list(self.models)

    # ------------------------------------------------------------------------------------- predict

    def _components(self, cell_types: Sequence[str], smiles: Sequence[str],
                    names: Sequence[str | None] | None) -> dict[str, np.ndarray]:
        cell_types = list(cell_types)
        smiles = list(smiles)
        if names is not None:
            names = list(names)
        feats = self.pipeline.transform(cell_types, smiles, names)
        return {kind: predict_components(model, feats) for kind, model in self.models.items()}

    def _chunks(self, n: int):
        for start in range(0, n, PREDICT_CHUNK):
            yield slice(start, min(start + PREDICT_CHUNK, n))

    def _check_lengths(self, cell_types, smiles, names) -> None:
        if len(cell_types) != len(smiles):
            raise ValueError(f"got {len(cell_types)} cell types for {len(smiles)} SMILES")
        if names is not None and len(names) != len(smiles):
            raise ValueError(f"got {len(names)} names for {len(smiles)} SMILES")

    @property
    def stacked(self) -> bool:
        """True when ``predict`` uses the stack (or its baseline fallback) chosen on shift-true folds."""
        return self.stack is not None and self.stack.enabled

    @property
    def fallback_message(self) -> str | None:
        """One line when the predictor does not use the stack (e.g. "the stack did not beat compound
        mean on shift-true validation; predicting with compound mean"), else None."""
        return None if self.stack is None else self.stack.message

    @property
    def noise_sd(self) -> np.ndarray:
        """Per-gene measurement noise ``(g,)`` float32 of the training matrix
        (:func:`~scperturb_core.models.uncertainty.measurement_noise`), stored with the model."""
        if self.stack is None:
            raise ValueError("this model carries no measurement noise level; retrain it")
        return self.stack.noise_sd

    def predict(self, cell_types: Sequence[str], smiles: Sequence[str],
                names: Sequence[str | None] | None = None) -> np.ndarray:
        """The default prediction, float32 ``(n, g)`` for the pairs ``(cell_types[i], smiles[i])``.

        With the stack: a known training compound (by ``names[i]``, else by canonical SMILES) gets the
        stack of its target cell type over the baselines, the readout and the networks (or the baseline
        fallback); a new SMILES gets the cell-type mean plus the shrunk model correction for its
        Tanimoto similarity to the training compounds. Without the stack: the networks' ensemble. An
        invalid SMILES or unknown cell type raises ``ValueError`` naming it.
        """
        return self._predict(cell_types, smiles, names)[0]

    def _predict(self, cell_types, smiles, names, with_groups: bool = False):
        cell_types, smiles = list(cell_types), list(smiles)
        names = None if names is None else list(names)
        self._check_lengths(cell_types, smiles, names)
        out = np.zeros((len(smiles), len(self.genes)), dtype=np.float32)
        known = np.ones(len(smiles), dtype=bool)
        bins = np.zeros(len(smiles), dtype=np.int64)
        strength = np.zeros(len(smiles), dtype=np.float64)  # of the compound's measured response (intervals)
        for sl in self._chunks(len(smiles)):
            nm = None if names is None else names[sl]
            if not self.stacked:
                comps = self._components(cell_types[sl], smiles[sl], nm)
                mixed = sum(self.weights[k] * c for k, c in comps.items())
                out[sl] = self.pipeline.to_genes(mixed)
                if with_groups:
                    known[sl] = self.pipeline.resolve(smiles[sl], nm if nm is not None else [None] * len(smiles[sl]))[0] >= 0
                continue
            st = self.stack
            cands, comp_idx = candidate_predictions(self.pipeline, st.means, self.models, cell_types[sl],
                                                    smiles[sl], nm)
            chunk = apply_weights(st.weights, [cands[c] for c in st.candidates],
                                  [t if t in st.weights else POOLED for t in cell_types[sl]])
            new = np.flatnonzero(comp_idx < 0)
            if new.size:
                new_smiles = [smiles[sl][i] for i in new]
                sims = np.array([nb[0][1] if nb else 0.0 for nb in self.pipeline.nearest(new_smiles, k=1)])
                b = sim_bin(sims)
                chunk[new] = shrink(cands[st.new_member][new], cands[CT_MEAN][new], st.shrink, b)
                bins[sl][new] = b
            known[sl] = comp_idx >= 0
            strength[sl] = row_strength(cands[COMPOUND_MEAN], cands[GENE_MEAN])
            out[sl] = chunk
        return out, known, bins, strength

    def predict_interval(self, cell_types: Sequence[str], smiles: Sequence[str],
                         names: Sequence[str | None] | None = None,
                         level: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(estimate, lower, upper)``, each float32 ``(n, g)``: :meth:`predict` and a ``level`` interval.

        Half-widths are a multiplier times a per-gene scale (times, for a measured compound, a row scale
        that grows with the strength of its measured response), the multiplier calibrated on cross-fitted
        out-of-fold residuals per target cell type (measured compounds) or similarity bin (new
        compounds). Levels: :data:`~scperturb_core.models.stack.LEVELS`; others raise ``ValueError``.
        """
        if not self.stacked:
            raise ValueError("this model has no calibrated intervals (trained without shift-true folds)")
        if not any(abs(float(level) - lv) < 1e-9 for lv in LEVELS):
            raise ValueError(f"unsupported interval level {level!r}; choose one of {list(LEVELS)}")
        level = min(LEVELS, key=lambda lv: abs(lv - float(level)))
        est, known, bins, strength = self._predict(cell_types, smiles, names, with_groups=True)
        cts, st = list(cell_types), self.stack
        rows = np.where(known, row_scale(strength, st.row_beta, st.row_ref), 1.0)  # new compounds: bins only
        half = np.empty(len(est), dtype=np.float32)
        for i in range(len(est)):
            half[i] = st.multiplier(level, bool(known[i]), cts[i], int(bins[i])) * rows[i]
        width = half[:, None] * self.stack.scale[None, :]
        return est, (est - width).astype(np.float32), (est + width).astype(np.float32)

    def predict_members(self, cell_types: Sequence[str], smiles: Sequence[str],
                        names: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """Each member's float32 ``(n, g)`` prediction, keyed ``"mlp"`` / ``"transformer"``."""
        cell_types, smiles = list(cell_types), list(smiles)
        names = None if names is None else list(names)
        self._check_lengths(cell_types, smiles, names)
        out = {k: np.zeros((len(smiles), len(self.genes)), dtype=np.float32) for k in self.models}
        for sl in self._chunks(len(smiles)):
            comps = self._components(cell_types[sl], smiles[sl], None if names is None else names[sl])
            for k, c in comps.items():
                out[k][sl] = self.pipeline.to_genes(c)
        return out

    def nearest(self, smiles: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """For each SMILES, the ``k`` most similar training compounds as ``(name, tanimoto)``."""
        return self.pipeline.nearest(list(smiles), k=k)

    # ------------------------------------------------------------------------------------- io

    def save(self, model_dir: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write the model directory atomically (see :mod:`scperturb_core.models.checkpoint`)."""
        from .checkpoint import save

        return save(self, model_dir, overwrite=overwrite)

    @classmethod
    def load(cls, model_dir: str | os.PathLike, genes: Sequence[str] | None = None) -> Predictor:
        """Read a model directory; :class:`~scperturb_core.models.checkpoint.ModelDirError` (a ``ValueError``)
        with one line on a missing, incomplete, corrupt or foreign directory."""
        from .checkpoint import load

        return load(model_dir, genes)


# ----------------------------------------------------------------------------------------- defaults

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def default_model_dir(data: PerturbData) -> Path:
    """Where the default models of ``data`` are cached (one folder per dataset content hash)."""
    return cache_dir("models", data.key or "unkeyed")


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")


def saved_model_dir(name: str) -> Path:
    """The cache folder of a user-named model (letters, digits, ``_ . -``; at most 60 characters)."""
    if not isinstance(name, str) or not _NAME_OK.match(name) or ".." in name:
        raise ValueError(f"invalid model name {name!r}: use letters, digits, '_', '.' or '-' (at most 60)")
    return cache_dir("models", SAVED) / name


def list_model_dirs() -> list[Path]:
    """Model folders in the cache (default models per dataset, then saved ones), newest first."""
    root = cache_dir("models")
    found = [p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").is_file()]
    saved = root / SAVED
    if saved.is_dir():
        found += [p for p in saved.iterdir() if p.is_dir() and (p / "manifest.json").is_file()]
    return sorted(found, key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)


def default_spec() -> ModelSpec:
    """The default models: the stack over the baselines, the readout, the MLP and the Transformer at
    default settings, chosen on shift-true folds."""
    return ModelSpec()


def ensure_default_models(data: PerturbData, on_progress: Callable[[float, str], None] | None = None,
                          spec: ModelSpec | None = None) -> Predictor:
    """The default models of ``data``: loaded if cached and valid, else trained on all rows and saved.

    Training happens once per dataset: an in-process lock per dataset serializes sessions of one
    server, and across processes the model is written to a temporary folder and renamed into place
    (the first writer wins; a later one loads its result). ``on_progress(fraction, message)``.
    """
    from .checkpoint import ModelDirError, load, save

    target = default_model_dir(data)
    with _lock(str(target)):
        if (target / "manifest.json").exists():
            try:
                return load(target, data.genes)
            except ModelDirError as exc:
                log.warning("cached models unusable, retraining: %s", exc)
        if on_progress is not None:
            on_progress(0.0, f"training the default models on {data.n_rows} rows x {data.n_genes} genes")
        pred = train_ensemble(data.obs, data.X, data.genes, spec or default_spec(), on_progress=on_progress)
        try:
            save(pred, target, overwrite=False)
        except FileExistsError:
            try:
                return load(target, data.genes)  # another process finished first
            except ModelDirError:
                save(pred, target, overwrite=True)
        return pred
