"""The "simulated values" marker of files written by ``demo-data``.

A parquet file carries it in its key-value (schema) metadata, an ``.h5ad`` file in ``uns``; the
loaders turn it into ``PerturbData.simulated``, so a re-loaded demo file is labelled as simulated.
"""
from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..constants import MARK_DATASET, MARK_SIMULATED

_TRUE = b"true"


def parquet_marker(name: str) -> dict[bytes, bytes]:
    """Key-value metadata that marks a parquet file as holding simulated values of dataset ``name``."""
    return {MARK_SIMULATED.encode(): _TRUE, MARK_DATASET.encode(): name.encode("utf-8")}


def is_marked_simulated(metadata: dict[bytes, bytes] | None) -> bool:
    """True when a parquet schema's key-value ``metadata`` carries the simulated marker."""
    return bool(metadata) and metadata.get(MARK_SIMULATED.encode(), b"").strip().lower() == _TRUE


def write_marked_parquet(frame: pd.DataFrame, path: str | os.PathLike, *, simulated: bool, name: str) -> None:
    """Write ``frame`` (no index) to ``path``; with ``simulated`` the schema metadata carries the marker.

    The pandas metadata is kept, so ``pd.read_parquet`` reads the file as before.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if simulated:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **parquet_marker(name)})
    pq.write_table(table, path)
