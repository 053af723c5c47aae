"""The two networks of the seed report, built from one block and one output head.

Both take a batch of features (:class:`~scperturb_core.models.features.Features` as tensors: ``cell``,
``stats``, ``chem``, ``base``) and return ``[batch, k]`` target components; the fixed gene basis of the
feature pipeline maps them to ``[batch, n_genes]`` (:meth:`PerturbNet.genes`). The output head adds a
learned correction to the readout's prediction (``base``); its last layer starts at zero, so an
untrained network predicts the readout.

* :class:`MLP` -- a cell tower and a compound tower (two Linear-BatchNorm-ReLU-Dropout blocks each),
  concatenated, then an MLP head.
* :class:`Transformer` -- a cell-type token and a compound token (built from the compound's chemistry,
  so a new SMILES has one), one encoder layer with ``n_heads`` heads, the two encoded tokens
  concatenated with the numeric statistics, then two fully connected layers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from ..io import dataclass_from_dict

ModelKind = Literal["mlp", "transformer"]
MODEL_KINDS: tuple[str, ...] = ("mlp", "transformer")


#: largest width of any layer (hidden, d_model, ff_dim): a config asking for more is refused before allocation
MAX_WIDTH = 8192
#: most attention heads
MAX_HEADS = 64


def _check_positive(obj, *names: str, limit: int = MAX_WIDTH) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(obj).__name__}.{name} must be an int >= 1, got {str(value)[:40]}")
        if value > limit:
            shown = str(value) if value < 10**20 else f"a number of {len(str(value))} digits"
            raise ValueError(f"{type(obj).__name__}.{name} must be <= {limit}, got {shown}")


def _check_dropout(obj) -> None:
    if isinstance(obj.dropout, bool) or not isinstance(obj.dropout, int | float) or not 0.0 <= float(obj.dropout) < 1.0:
        raise ValueError(f"{type(obj).__name__}.dropout must be in [0, 1), got {obj.dropout!r}")


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of the MLP: tower and head width, dropout."""

    hidden: int = 256
    dropout: float = 0.2

    def __post_init__(self) -> None:
        _check_positive(self, "hidden")
        _check_dropout(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MLPConfig:
        return dataclass_from_dict(cls, d)


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the Transformer: token width, heads, encoder feed-forward width, head width, dropout."""

    d_model: int = 64
    n_heads: int = 8
    ff_dim: int = 128
    hidden: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _check_positive(self, "d_model", "ff_dim", "hidden")
        _check_positive(self, "n_heads", limit=MAX_HEADS)
        _check_dropout(self)
        if self.d_model % self.n_heads:
            raise ValueError(f"TransformerConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TransformerConfig:
        return dataclass_from_dict(cls, d)


def mlp_block(d_in: int, d_out: int, dropout: float) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Dropout."""
    return nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(), nn.Dropout(dropout))


class ComponentHead(nn.Module):
    """Maps a hidden vector to a correction of the readout, in target-component units.

    ``forward(h, base) = base + (h @ W + b) * target_scale``; ``W`` and ``b`` start at zero.
    """

    def __init__(self, d_in: int, k: int):
        super().__init__()
        self.linear = nn.Linear(d_in, k)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("target_scale", torch.ones(k))

    def forward(self, h: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return base + self.linear(h) * self.target_scale


class PerturbNet(nn.Module):
    """Common parts: feature sizes, the output head's scale, and the gene-space map."""

    kind: ModelKind

    def __init__(self, dims: dict[str, int]):
        super().__init__()
        missing = sorted({"cell", "stats", "chem", "base"} - set(dims))
        if missing:
            raise ValueError(f"feature sizes lack {missing}")
        self.dims = dict(dims)
        self.k = int(dims["base"])

    def set_target_scale(self, scale: torch.Tensor) -> None:
        """Per-component scale of the targets ``(k,)`` (the head predicts in these units)."""
        self.head.target_scale.copy_(torch.as_tensor(scale, dtype=torch.float32).clamp_min(1e-6))

    def scaled_base(self, base: torch.Tensor) -> torch.Tensor:
        return base / self.head.target_scale

    def genes(self, feats: dict[str, torch.Tensor], basis: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """Gene values ``[batch, n_genes]`` = components ``@ basis + mu``."""
        return self(feats) @ basis + mu


class MLP(PerturbNet):
    """Cell tower + compound tower (2 blocks each), concatenated, MLP head -> ``[batch, k]``."""

    kind: ModelKind = "mlp"

    def __init__(self, dims: dict[str, int], cfg: MLPConfig | None = None):
        super().__init__(dims)
        self.cfg = cfg = cfg or MLPConfig()
        h, p = cfg.hidden, cfg.dropout
        d_comp = dims["stats"] + dims["chem"] + dims["base"]
        self.cell_tower = nn.Sequential(mlp_block(dims["cell"], h, p), mlp_block(h, h, p))
        self.compound_tower = nn.Sequential(mlp_block(d_comp, h, p), mlp_block(h, h, p))
        self.body = mlp_block(2 * h, h, p)
        self.head = ComponentHead(h, self.k)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        base = feats["base"]
        comp = torch.cat([feats["stats"], feats["chem"], self.scaled_base(base)], dim=1)
        z = torch.cat([self.cell_tower(feats["cell"]), self.compound_tower(comp)], dim=1)
        return self.head(self.body(z), base)


class Transformer(PerturbNet):
    """Cell and compound tokens -> one encoder layer -> concat with statistics -> 2 FC layers."""

    kind: ModelKind = "transformer"

    def __init__(self, dims: dict[str, int], cfg: TransformerConfig | None = None):
        super().__init__(dims)
        self.cfg = cfg = cfg or TransformerConfig()
        d = cfg.d_model
        self.cell_token = nn.Linear(dims["cell"], d)
        self.compound_token = nn.Linear(dims["chem"], d)
        self.token_type = nn.Parameter(torch.zeros(2, d))
        nn.init.normal_(self.token_type, std=0.02)
        self.encoder = nn.TransformerEncoderLayer(d_model=d, nhead=cfg.n_heads, dim_feedforward=cfg.ff_dim,
                                                  dropout=cfg.dropout, batch_first=True)
        d_num = dims["stats"] + dims["cell"] + dims["base"]
        self.fc = nn.Sequential(nn.Linear(2 * d + d_num, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.head = ComponentHead(cfg.hidden, self.k)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        base = feats["base"]
        tokens = torch.stack([self.cell_token(feats["cell"]), self.compound_token(feats["chem"])], dim=1)
        encoded = self.encoder(tokens + self.token_type).flatten(1)
        numeric = torch.cat([feats["stats"], feats["cell"], self.scaled_base(base)], dim=1)
        return self.head(self.fc(torch.cat([encoded, numeric], dim=1)), base)


def build_model(kind: str, dims: dict[str, int], cfg: MLPConfig | TransformerConfig | dict | None = None) -> PerturbNet:
    """An untrained network of ``kind`` (``"mlp"`` or ``"transformer"``) for features of ``dims``."""
    if kind == "mlp":
        cfg = MLPConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
        return MLP(dims, cfg)
    if kind == "transformer":
        cfg = TransformerConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
        return Transformer(dims, cfg)
    raise ValueError(f"unknown model {kind!r}; choose one of {list(MODEL_KINDS)}")
