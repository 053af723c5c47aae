"""App downloads as ``.h5ad`` bytes: values in a layer, row facts (and intervals) in ``obs``,
provenance in ``uns``."""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..constants import LAYER_PREDICTION, UNS_SIMULATED
from .h5ad import _obs_frame, to_bytes

#: the uns key holding the provenance mapping
UNS_PROVENANCE = "provenance"
#: the value column (and layer) of a compound ranking
RANK_SCORE = "score"


def _uns_safe(value):
    """A value h5ad can store: str / number / bool, mappings of those; anything else as JSON text."""
    if isinstance(value, dict):
        return {str(k): _uns_safe(v) for k, v in value.items()}
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=object) if value else ""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in value):
        return np.asarray(value, dtype=np.float64) if value else ""
    return json.dumps(value, default=str)


def frame_to_h5ad_bytes(frame: pd.DataFrame, value_columns: Sequence[str], *, layer: str = LAYER_PREDICTION,
                        extra_layers: dict[str, np.ndarray] | None = None, provenance: dict | None = None,
                        simulated: bool = False) -> bytes:
    """Turn a result table into ``.h5ad`` bytes.

    Args:
        frame: ``R`` rows; ``value_columns`` become ``var_names`` and ``layers[layer]`` (``(R, V)``
            float32); every other column goes to ``obs`` (e.g. names, SMILES, cell type, intervals).
        value_columns: the value columns (genes, or e.g. ``["score"]``).
        layer: the layer holding the values.
        extra_layers: more ``(R, V)`` arrays, e.g. an uncertainty or interval bounds per value.
        provenance: facts stored under ``uns["provenance"]`` (dataset, model, settings).
        simulated: sets ``uns["scperturb_simulated"]`` (the values derive from simulated data).

    Raises:
        ValueError: unknown value columns or a layer of the wrong shape.
    """
    import anndata as ad

    value_columns = list(value_columns)
    missing = [c for c in value_columns if c not in frame.columns]
    if missing:
        raise ValueError(f"value columns not in the table: {missing[:5]}")
    if not value_columns:
        raise ValueError("no value columns to export")
    values = frame[value_columns].to_numpy(np.float32)
    layers = {layer: values}
    for name, arr in (extra_layers or {}).items():
        arr = np.asarray(arr, dtype=np.float32)
        if arr.shape != values.shape:
            raise ValueError(f"layer {name!r} has shape {arr.shape}, expected {values.shape}")
        layers[name] = arr
    obs = _obs_frame(frame.drop(columns=value_columns), range(len(frame)))
    uns = {UNS_PROVENANCE: _uns_safe({**(provenance or {}),
                                      "exported_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}),
           UNS_SIMULATED: bool(simulated)}
    adata = ad.AnnData(obs=obs, var=pd.DataFrame(index=[str(c) for c in value_columns]), layers=layers, uns=uns)
    return to_bytes(adata)


def predictions_to_h5ad_bytes(preds, *, provenance: dict | None = None, simulated: bool = False) -> bytes:
    """New-molecule predictions (``NewMoleculePredictions``) as ``.h5ad``: one obs row per valid
    molecule x cell type (name, SMILES, cell type, max Tanimoto, nearest compound), the genes as var,
    ``layers["prediction"]`` and, when the predictions carry intervals, ``layers["lower"]`` / ``layers["upper"]``."""
    frame = preds.long_frame()
    genes = list(preds.genes)
    extra = {}
    for name in ("lower", "upper"):  # interval bounds, when the predictions carry them
        bound = getattr(preds, name, None)
        if bound is not None:
            bound = np.asarray(bound, dtype=np.float32)
            extra[name] = bound.reshape(-1, bound.shape[-1])
    return frame_to_h5ad_bytes(frame, genes, extra_layers=extra, provenance=provenance, simulated=simulated)


def ranking_to_h5ad_bytes(table: pd.DataFrame, *, provenance: dict | None = None, simulated: bool = False) -> bytes:
    """A compound ranking (one row per compound x cell type) as ``.h5ad``: ``layers["score"]``
    ``(R, 1)``, every other column (names, cell type, source, uncertainty) in ``obs``, the query and
    dataset in ``uns["provenance"]``."""
    return frame_to_h5ad_bytes(table, [RANK_SCORE], layer=RANK_SCORE, provenance=provenance, simulated=simulated)
