"""Trained models behind one object: predict any (cell type, compound) pairs, including new SMILES.

:class:`Predictor` bundles the fitted feature pipeline, the trained networks ("mlp", "transformer"),
their ensemble weights and the stack state (:class:`~scperturb_core.models.stack.StackState`: stack weights
over baselines, readout and networks, the baseline fallback, new-compound shrinkage, calibrated
intervals and the measurement noise level), all chosen on shift-true folds.
:func:`train_ensemble` trains one from a table of rows: on data with shift-true folds
(:func:`~scperturb_core.validation.splits.shift_folds`) the stack of :mod:`scperturb_core.models.stack` --
features and networks fitted per fold on the fold's training rows, epochs, stack weights,
new-compound shrinkage and intervals chosen on the held-out rows, then a final fit on all rows.
Without such folds (or with ``TrainConfig.stack=False``) it trains the networks' ensemble with a random
share of each cell type's rows held out of the gradient steps for early stopping and the ensemble weight.

:func:`ensure_default_models` gives every page and command the default models of a dataset: loaded
from the cache when present and valid, else trained on all training rows (with progress) and saved
atomically.
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..constants import SM_NAME, SMILES
from ..data import PerturbData
from ..io import cache_dir
from ..validation.splits import leave_compounds_out, shift_folds
from . import checkpoint
from .checkpoint import ModelDirError
from .features import FeaturePipeline
from .networks import PerturbNet, build_model
from .stack import (COMPOUND_MEAN, CT_MEAN, GENE_MEAN, LEVELS, POOLED, StackState, apply_weights,
                    candidate_predictions, disabled_state, fit_stacked, row_scale, row_strength, shrink, sim_bin)
from .train import (EpochCallback, History, ModelSpec, ProgressCallback, TrainConfig, TrainData, choose_weight, fit,
                    internal_split, predict_components, seed_everything)

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
        return checkpoint.save(self, model_dir, overwrite=overwrite)

    @classmethod
    def load(cls, model_dir: str | os.PathLike, genes: Sequence[str] | None = None) -> Predictor:
        """Read a model directory; :class:`~scperturb_core.models.checkpoint.ModelDirError` (a ``ValueError``)
        with one line on a missing, incomplete, corrupt or foreign directory."""
        return checkpoint.load(model_dir, genes, build=cls)


# ----------------------------------------------------------------------------------------- training

def train_ensemble(obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str], spec: ModelSpec | None = None,
                   on_progress: ProgressCallback | None = None, on_epoch: EpochCallback | None = None) -> Predictor:
    """Fit features and the networks of ``spec`` on the rows given; return a Predictor.

    Args:
        obs: ``n`` training rows (cell_type, sm_name, SMILES, ...); X: ``(n, g)`` their values.
        on_progress: ``(fraction, message)`` after the features and every epoch.
        on_epoch: ``(model_kind, epoch, history)`` after every epoch (live loss curves).
    """
    spec = spec or ModelSpec()
    limit = spec.train.threads or None
    with threadpool_limits(limits=limit):  # BLAS threads, like torch's (see TrainConfig.threads)
        return _train_ensemble(obs.reset_index(drop=True), X, genes, spec, on_progress, on_epoch)


def validation_folds(obs: pd.DataFrame, cfg: TrainConfig) -> tuple[list, list]:
    """The shift-true folds and the leave-compounds-out folds of ``obs`` (empty lists when the data have
    no sparse cell type or too few shared compounds; the second list is empty if ``new_compound_folds``
    is 0 or there are too few compounds)."""
    view = SimpleNamespace(obs=obs)
    try:
        folds = shift_folds(view, n_folds=cfg.shift_folds, seed=cfg.seed)
    except ValueError as exc:
        log.info("no shift-true folds: %s", exc)
        return [], []
    lco = []
    if cfg.new_compound_folds:
        try:
            lco = leave_compounds_out(view, n_folds=cfg.new_compound_folds, seed=cfg.seed)
        except ValueError as exc:
            log.info("no leave-compounds-out folds: %s", exc)
    return folds, lco


def _train_ensemble(obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str], spec: ModelSpec,
                    on_progress: ProgressCallback | None, on_epoch: EpochCallback | None) -> Predictor:
    X = np.asarray(X, dtype=np.float32)
    folds, lco = validation_folds(obs, spec.train) if spec.train.stack else ([], [])
    if folds:
        pipe, models, weights, histories, info, state = fit_stacked(obs, X, genes, spec, folds, lco,
                                                                    on_progress=on_progress, on_epoch=on_epoch)
        return Predictor(pipe, models, weights, spec, histories, info, stack=state)
    pred = _train_networks(obs, X, genes, spec, on_progress, on_epoch)
    reason = "disabled in the training settings" if not spec.train.stack else "no shift-true folds in these data"
    pred.stack = disabled_state(X, {"validation": f"random {spec.train.val_fraction:.0%} of rows ({reason})"})
    pred.info["stack"] = {"uses_stack": False, "fallback": None, "message": pred.stack.message}
    return pred


def _train_networks(obs: pd.DataFrame, X: np.ndarray, genes: Sequence[str], spec: ModelSpec,
                    on_progress: ProgressCallback | None, on_epoch: EpochCallback | None) -> Predictor:
    """The networks' ensemble with a random validation share (no stack): data without a sparse cell type."""
    report = on_progress or (lambda frac, msg: None)
    t0 = time.perf_counter()
    report(0.0, "fitting features (statistics, gene basis, fingerprints, fragments)")
    pipe = FeaturePipeline(spec.features).fit(obs, X, genes)
    feat_seconds = time.perf_counter() - t0
    targets, residual = pipe.targets(X)
    data = TrainData(pipe.train_features(), targets, residual, len(genes))
    val_idx = internal_split(obs, spec.train.val_fraction, spec.train.seed)
    fit_idx = np.setdiff1d(np.arange(len(obs)), val_idx)
    train_part, val_part = data.take(fit_idx), (data.take(val_idx) if len(val_idx) else None)
    members = spec.members
    total_epochs = spec.train.epochs * len(members)
    models, histories, val_preds = {}, {}, {}
    for m_i, kind in enumerate(members):
        cfg = spec.mlp if kind == "mlp" else spec.transformer
        seed_everything(spec.train.seed)  # the initial weights depend on the seed only
        model = build_model(kind, pipe.dims(), cfg)

        def epoch_cb(k: str, epoch: int, hist: History, m_i=m_i) -> None:
            done = m_i * spec.train.epochs + epoch
            val = hist.val_loss[-1]
            msg = f"{k}: epoch {epoch}, train {hist.train_loss[-1]:.4f}" + ("" if math.isnan(val) else f", val {val:.4f}")
            report(min(done / total_epochs, 1.0), msg)
            if on_epoch is not None:
                on_epoch(k, epoch, hist)

        histories[kind] = fit(model, train_part, spec.train, val_part, on_epoch=epoch_cb)
        models[kind] = model
        if val_part is not None:
            val_preds[kind] = predict_components(model, val_part.features)
    weights = choose_weight(val_preds, val_part) if val_part is not None else {k: 1.0 / len(members) for k in members}
    report(1.0, "done")
    info = {"n_rows": int(len(obs)), "n_val_rows": int(len(val_idx)), "feature_seconds": round(feat_seconds, 3),
            "train_seconds": {k: round(h.seconds, 3) for k, h in histories.items()},
            "readout_alpha": pipe.readout_alpha}
    if val_part is not None:
        def score(c: np.ndarray) -> float:
            return float(np.mean(np.sqrt((np.sum((c - val_part.targets) ** 2, axis=1) + val_part.residual)
                                         / val_part.n_genes)))
        info["val_mrrmse"] = {k: score(p) for k, p in val_preds.items()}
        if len(val_preds) > 1:
            info["val_mrrmse"]["ensemble"] = score(sum(weights[k] * p for k, p in val_preds.items()))
        info["val_mrrmse"]["readout (ridge)"] = score(val_part.features.base)
    return Predictor(pipe, models, weights, spec, histories, info)


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
    target = default_model_dir(data)
    with _lock(str(target)):
        if (target / "manifest.json").exists():
            try:
                return Predictor.load(target, data.genes)
            except ModelDirError as exc:
                log.warning("cached models unusable, retraining: %s", exc)
        if on_progress is not None:
            on_progress(0.0, f"training the default models on {data.n_rows} rows x {data.n_genes} genes")
        pred = train_ensemble(data.obs, data.X, data.genes, spec or default_spec(), on_progress=on_progress)
        try:
            checkpoint.save(pred, target, overwrite=False)
        except FileExistsError:
            try:
                return Predictor.load(target, data.genes)  # another process finished first
            except ModelDirError:
                checkpoint.save(pred, target, overwrite=True)
        return pred
