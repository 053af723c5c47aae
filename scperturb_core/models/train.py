"""One training loop for every model.

:func:`fit` trains any :class:`~scperturb_core.models.networks.PerturbNet` with AdamW on a loss in gene space
(MRRMSE by default; MSE or Huber on the row RMSE as options), full-batch or mini-batch, keeps a
per-epoch train / validation history, stops early on the validation MRRMSE and restores the best
weights. :func:`seed_everything` is the one place that seeds.

:class:`ModelSpec` (features, networks, training) is what a trained model is saved with;
:func:`internal_split` and :func:`choose_weight` serve the networks' ensemble without a stack. Training
a whole predictor from a table of rows is :func:`scperturb_core.models.predictor.train_ensemble`.
"""
from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from ..constants import CELL_TYPE
from ..io import dataclass_from_dict
from .features import FeatureConfig, Features
from .networks import MODEL_KINDS, MLPConfig, PerturbNet, TransformerConfig

log = logging.getLogger(__name__)

LossName = Literal["mrrmse", "mse", "huber"]
Device = Literal["auto", "cpu", "cuda"]
ModelChoice = Literal["mlp", "transformer", "ensemble"]
MODEL_CHOICES: tuple[str, ...] = ("mlp", "transformer", "ensemble")

#: ``on_epoch(model_kind, epoch, history)``
EpochCallback = Callable[[str, int, "History"], None]
#: ``on_progress(fraction, message)``
ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`fit` (saved with the model).

    Attributes:
        epochs: most epochs; patience: stop after this many epochs without a better validation MRRMSE.
        min_epochs: the kept state is the best one after at least this many epochs (0 also allows the
            untrained network, i.e. the readout alone, when no epoch improves validation).
        batch_size: rows per step; 0 trains on all rows at once (full batch).
        val_fraction: share of each cell type's training rows held out of the gradient steps for early
            stopping and the ensemble weight (0 disables both: all epochs run, equal weights).
        threads: CPU threads for torch and BLAS (0 keeps the libraries' defaults). One thread is the
            default: the networks are small, and spinning OpenMP teams slow down by 10-50x on a busy
            shared machine (measured on 2 cores).
        stack: train the default predictor (:mod:`scperturb_core.models.stack`): shift-true folds choose the
            epochs, the stack weights over baselines, readout and networks, the new-compound shrinkage
            and the intervals. False (or data without a sparse cell type): the networks' ensemble with
            ``val_fraction`` early stopping, as before.
        shift_folds: grouped folds over the compounds measured in the sparse cell types;
            new_compound_folds: leave-compounds-out folds for the new-molecule shrinkage (0: none).
    """

    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 0
    loss: LossName = "mrrmse"
    huber_delta: float = 1.0
    patience: int = 40
    min_epochs: int = 1
    val_fraction: float = 0.15
    seed: int = 0
    device: Device = "auto"
    threads: int = 1
    stack: bool = True
    shift_folds: int = 5
    new_compound_folds: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.shift_folds, int) or isinstance(self.shift_folds, bool) or self.shift_folds < 2:
            raise ValueError(f"TrainConfig.shift_folds must be an int >= 2, got {self.shift_folds!r}")
        nf = self.new_compound_folds
        if not isinstance(nf, int) or isinstance(nf, bool) or nf < 0 or nf == 1:
            raise ValueError(f"TrainConfig.new_compound_folds must be 0 or an int >= 2, got {nf!r}")
        for name in ("epochs", "patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be an int >= 1, got {v!r}")
        if not isinstance(self.min_epochs, int) or isinstance(self.min_epochs, bool) or not 0 <= self.min_epochs <= self.epochs:
            raise ValueError(f"TrainConfig.min_epochs must be an int in 0..epochs, got {self.min_epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 0:
            raise ValueError(f"TrainConfig.batch_size must be an int >= 0, got {self.batch_size!r}")
        if self.loss not in ("mrrmse", "mse", "huber"):
            raise ValueError(f"unknown loss {self.loss!r}; choose mrrmse, mse or huber")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"unknown device {self.device!r}; choose auto, cpu or cuda")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.huber_delta > 0):
            raise ValueError("TrainConfig needs lr > 0, weight_decay >= 0 and huber_delta > 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return dataclass_from_dict(cls, d)


@dataclass
class History:
    """Per-epoch losses of one training run (validation = MRRMSE, NaN without validation rows).

    ``best_epoch`` is 1-based; 0 means no epoch improved on the untrained network (whose validation
    loss is ``initial_val_loss``), which is then kept.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    initial_val_loss: float = float("nan")

    def to_dict(self) -> dict:
        return {"train_loss": [float(x) for x in self.train_loss],
                "val_loss": [None if math.isnan(x) else float(x) for x in self.val_loss],
                "best_epoch": self.best_epoch, "seconds": round(self.seconds, 3), "stopped_early": self.stopped_early,
                "initial_val_loss": None if math.isnan(self.initial_val_loss) else float(self.initial_val_loss)}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(train_loss=list(d.get("train_loss", [])),
                   val_loss=[float("nan") if x is None else x for x in d.get("val_loss", [])],
                   best_epoch=int(d.get("best_epoch", 0)), seconds=float(d.get("seconds", 0.0)),
                   stopped_early=bool(d.get("stopped_early", False)),
                   initial_val_loss=float("nan") if d.get("initial_val_loss") is None else float(d["initial_val_loss"]))


@dataclass
class TrainData:
    """Features, target components ``(n, k)`` and out-of-basis residuals ``(n,)`` of ``n`` rows."""

    features: Features
    targets: np.ndarray
    residual: np.ndarray
    n_genes: int

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, idx: np.ndarray) -> TrainData:
        return TrainData(self.features.take(idx), self.targets[idx], self.residual[idx], self.n_genes)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the only place that seeds)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def row_sq_error(pred: torch.Tensor, target: torch.Tensor, residual: torch.Tensor, n_genes: int) -> torch.Tensor:
    """Mean squared error of each row in gene space ``(n,)``, exact for an orthonormal basis."""
    return (torch.sum((pred - target) ** 2, dim=1) + residual) / n_genes


def loss_fn(name: str, pred: torch.Tensor, target: torch.Tensor, residual: torch.Tensor, n_genes: int,
            huber_delta: float = 1.0) -> torch.Tensor:
    """``mrrmse``: mean row RMSE; ``mse``: mean squared error; ``huber``: Huber of the row RMSE."""
    sq = row_sq_error(pred, target, residual, n_genes)
    if name == "mse":
        return sq.mean()
    rmse = torch.sqrt(sq + 1e-12)
    if name == "mrrmse":
        return rmse.mean()
    if name == "huber":
        quad = 0.5 * rmse**2 / huber_delta
        return torch.where(rmse <= huber_delta, quad, rmse - 0.5 * huber_delta).mean()
    raise ValueError(f"unknown loss {name!r}")


def _tensors(data: TrainData, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    feats = {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in data.features.as_dict().items()}
    return (feats, torch.as_tensor(data.targets, dtype=torch.float32, device=device),
            torch.as_tensor(data.residual, dtype=torch.float32, device=device))


def fit(model: PerturbNet, train: TrainData, cfg: TrainConfig, val: TrainData | None = None,
        on_epoch: EpochCallback | None = None, val_trace: list | None = None) -> History:
    """Train ``model`` in place; return its :class:`History`.

    The best state after at least ``cfg.min_epochs`` epochs (lowest validation MRRMSE; with
    ``min_epochs=0`` the untrained network counts as epoch 0; the last epoch without validation rows)
    is restored.
    ``on_epoch(model.kind, epoch, history)`` is called after every epoch (1-based).
    ``val_trace``, when a list, receives the validation rows' predicted components ``(n_val, k)``
    float32 of the untrained network (epoch 0) and after every epoch, so a caller can pick an epoch
    on folds without retraining.
    """
    if len(train) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(train)}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # weights decaying towards zero become denormal floats, which are ~50x slower on CPU
    torch.set_flush_denormal(True)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model.to(device)
    with torch.no_grad():
        model.set_target_scale(torch.as_tensor(train.targets.std(axis=0), device=device))
    x, y, r = _tensors(train, device)
    has_val = val is not None and len(val) > 0
    if has_val:
        xv, yv, rv = _tensors(val, device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(train)
    bs = n if cfg.batch_size == 0 else min(cfg.batch_size, n)
    gen = torch.Generator().manual_seed(cfg.seed)
    hist = History()
    best_val, best_state = math.inf, None
    start = time.perf_counter()
    if has_val:  # epoch 0: the untrained network (its head starts at zero, so this is the readout)
        model.eval()
        with torch.no_grad():
            out = model(xv)
            hist.initial_val_loss = float(loss_fn("mrrmse", out, yv, rv, val.n_genes))
        if val_trace is not None:
            val_trace.append(out.detach().cpu().numpy().astype(np.float32))
        if cfg.min_epochs == 0:
            best_val, best_state = hist.initial_val_loss, copy.deepcopy(model.state_dict())
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        total, seen = 0.0, 0
        for s in range(0, n, bs):
            idx = order[s:s + bs]
            if len(idx) < 2:  # BatchNorm needs two rows
                continue
            opt.zero_grad(set_to_none=True)
            pred = model({k: v[idx] for k, v in x.items()})
            loss = loss_fn(cfg.loss, pred, y[idx], r[idx], train.n_genes, cfg.huber_delta)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        hist.train_loss.append(total / max(seen, 1))
        if has_val:
            model.eval()
            with torch.no_grad():
                out = model(xv)
                v = float(loss_fn("mrrmse", out, yv, rv, val.n_genes))
            if val_trace is not None:
                val_trace.append(out.detach().cpu().numpy().astype(np.float32))
            hist.val_loss.append(v)
            if epoch >= cfg.min_epochs and v < best_val - 1e-7:
                best_val, hist.best_epoch = v, epoch
                best_state = copy.deepcopy(model.state_dict())
        else:
            hist.val_loss.append(float("nan"))
            hist.best_epoch = epoch
        if on_epoch is not None:
            on_epoch(model.kind, epoch, hist)
        if has_val and epoch >= cfg.min_epochs and epoch - max(hist.best_epoch, cfg.min_epochs) >= cfg.patience:
            hist.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.to("cpu")
    hist.seconds = time.perf_counter() - start
    log.info("%s: %d epochs in %.1f s, best epoch %d (val %.4f)", model.kind, len(hist.train_loss),
             hist.seconds, hist.best_epoch, best_val)
    return hist


def predict_components(model: PerturbNet, features: Features, batch: int = 4096) -> np.ndarray:
    """Target components ``(n, k)`` float32 of a trained model (eval mode, CPU)."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(features), batch):
            part = features.take(np.arange(s, min(s + batch, len(features))))
            feats = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in part.as_dict().items()}
            out.append(model(feats).numpy())
    k = int(features.base.shape[1])
    return np.concatenate(out, axis=0).astype(np.float32) if out else np.zeros((0, k), dtype=np.float32)


# ------------------------------------------------------------------------------------------ ensemble


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a trained model directory (saved as config.json)."""

    model: ModelChoice = "ensemble"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model not in MODEL_CHOICES:
            raise ValueError(f"unknown model {self.model!r}; choose one of {list(MODEL_CHOICES)}")

    @property
    def members(self) -> list[str]:
        return list(MODEL_KINDS) if self.model == "ensemble" else [self.model]

    def to_dict(self) -> dict:
        return {"model": self.model, "features": self.features.to_dict(), "mlp": self.mlp.to_dict(),
                "transformer": self.transformer.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        unknown = sorted(set(d) - {"model", "features", "mlp", "transformer", "train"})
        if unknown:
            raise ValueError(f"unknown model config field(s) {unknown}")
        return cls(model=d.get("model", "ensemble"),
                   features=FeatureConfig.from_dict(d.get("features", {})),
                   mlp=MLPConfig.from_dict(d.get("mlp", {})),
                   transformer=TransformerConfig.from_dict(d.get("transformer", {})),
                   train=TrainConfig.from_dict(d.get("train", {})))


def internal_split(obs: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a random ``fraction`` of each cell type's rows (stratified), for validation.

    The held-out rows still enter the feature statistics and the readout (leave-one-out, like every
    training row); they are only kept out of the networks' gradient steps. Empty when the data are
    too small to spare rows.
    """
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    cts = obs[CELL_TYPE].astype(str).to_numpy()
    picked = []
    for t in sorted(set(cts)):
        rows = np.flatnonzero(cts == t)
        n_val = int(round(fraction * len(rows)))
        if n_val and len(rows) - n_val >= 2:
            picked.append(rng.choice(rows, size=n_val, replace=False))
    val = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
    if len(val) < 2 or len(obs) - len(val) < 4:
        return np.zeros(0, dtype=np.int64)
    return val.astype(np.int64)


def choose_weight(preds: dict[str, np.ndarray], data: TrainData, step: float = 0.05) -> dict[str, float]:
    """Convex weights of two members minimizing the validation MRRMSE (grid ``step``; ties go to the
    most even mix); one member -> 1."""
    names = list(preds)
    if len(names) == 1:
        return {names[0]: 1.0}
    if len(names) != 2:
        raise ValueError(f"ensemble weights are chosen for two members, got {names}")
    if data is None or len(data) == 0:
        return {names[0]: 0.5, names[1]: 0.5}
    a, b = preds[names[0]].astype(np.float64), preds[names[1]].astype(np.float64)
    best_w, best = 0.5, math.inf
    grid = np.round(np.arange(0.0, 1.0 + 1e-9, step), 6)
    for w in sorted(grid, key=lambda v: abs(v - 0.5)):  # ties go to the most even mix
        c = w * a + (1 - w) * b
        err = np.mean(np.sqrt((np.sum((c - data.targets) ** 2, axis=1) + data.residual) / data.n_genes))
        if err < best - 1e-12:
            best_w, best = float(w), err
    return {names[0]: best_w, names[1]: round(1.0 - best_w, 6)}
