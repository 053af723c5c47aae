"""Where a number came from: the provenance columns every exported table and CLI output carries.

One :class:`Provenance` per result, built once by :func:`provenance_for`:

* ``dataset`` -- the dataset's name; ``dataset_hash`` -- its content hash (``PerturbData.key``);
* ``dataset_values`` -- ``"simulated"`` (the demo, or a file marked as simulated) or ``"measured"``;
* ``model_id`` -- the SHA-256 (first 16 hex digits) of the model folder's ``manifest.json``, which
  itself holds the SHA-256 of every model file, so the id names the exact weights; ``"none"`` when
  no model was used;
* ``interval`` -- how the ``lower`` / ``upper`` columns were made (e.g. ``"calibrated 80%"``, or
  ``"uncalibrated (MLP-vs-Transformer spread)"`` for model folders saved before calibration).

:meth:`Provenance.add_columns` appends these as constant columns to a table (so they survive any
later filtering or concatenation); :meth:`Provenance.header` gives ``# key: value`` lines for plain
text output.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass

import pandas as pd

log = logging.getLogger(__name__)

# column names
DATASET = "dataset"
DATASET_HASH = "dataset_hash"
DATASET_VALUES = "dataset_values"
MODEL_ID = "model_id"
INTERVAL = "interval"
PROVENANCE_COLUMNS: tuple[str, ...] = (DATASET, DATASET_HASH, DATASET_VALUES, MODEL_ID, INTERVAL)

SIMULATED = "simulated"
MEASURED_VALUES = "measured"
NO_MODEL = "none"
#: attribute under which a predictor's id is cached after the first computation
_ID_ATTR = "_provenance_model_id"


@dataclass(frozen=True)
class Provenance:
    """The provenance of one result (see the module docstring for each field)."""

    dataset: str
    dataset_hash: str
    dataset_values: str
    model_id: str
    interval: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def add_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` with the provenance columns appended (one constant value each)."""
        out = frame.copy()
        for name, value in self.as_dict().items():
            out[name] = value
        return out

    def header(self) -> list[str]:
        """``# key: value`` lines, one per field."""
        return [f"# {k}: {v}" for k, v in self.as_dict().items()]

    def parquet_metadata(self) -> dict[bytes, bytes]:
        """The fields as parquet key-value metadata (``scperturb.<field>``)."""
        return {f"scperturb.{k}".encode(): str(v).encode() for k, v in self.as_dict().items()}


def model_id(predictor: object | None) -> str:
    """A stable id of a predictor's exact weights: SHA-256 (16 hex digits) of its ``manifest.json``.

    Uses the predictor's own ``model_id`` attribute when it has one; otherwise serializes the model
    the way :func:`scperturb_core.models.checkpoint.save` writes it and hashes the manifest (computed once,
    then cached on the object). Objects that cannot be serialized (test doubles) get
    ``"unsaved:<class name>"``; no predictor gives ``"none"``.
    """
    if predictor is None:
        return NO_MODEL
    own = getattr(predictor, "model_id", None)
    if isinstance(own, str) and own:
        return own
    cached = getattr(predictor, _ID_ATTR, None)
    if isinstance(cached, str):
        return cached
    try:
        from ..models.checkpoint import MANIFEST, serialize

        ident = hashlib.sha256(serialize(predictor)[MANIFEST]).hexdigest()[:16]
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        log.debug("model id of %r: not serializable (%s)", type(predictor).__name__, exc)
        ident = f"unsaved:{type(predictor).__name__}"
    try:
        setattr(predictor, _ID_ATTR, ident)
    except AttributeError:
        pass
    return ident


def manifest_id(model_dir) -> str:
    """:func:`model_id` of a saved model folder, from its ``manifest.json`` bytes."""
    from pathlib import Path

    from ..models.checkpoint import MANIFEST

    return hashlib.sha256((Path(model_dir) / MANIFEST).read_bytes()).hexdigest()[:16]


def provenance_for(data, predictor: object | None = None, interval: str = "") -> Provenance:
    """The :class:`Provenance` of a result computed from ``data`` (a ``PerturbData``) and ``predictor``.

    ``interval`` describes the interval columns (see :func:`scperturb_core.discovery.rank.interval_label`).
    """
    return Provenance(
        dataset=str(getattr(data, "name", "") or "dataset"),
        dataset_hash=str(getattr(data, "key", "") or "unhashed"),
        dataset_values=SIMULATED if getattr(data, "simulated", False) else MEASURED_VALUES,
        model_id=model_id(predictor),
        interval=interval or "none",
    )
