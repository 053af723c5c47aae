"""One entry to every dataset: :func:`load_dataset` opens the embedded demo, a de_train.parquet or a
de_train.h5ad, and gives it the real Kaggle id_map when that fits.

It sits above the readers it dispatches to (:mod:`.data` for the parquet, :mod:`.demo`,
:mod:`.formats.h5ad`), which all build a :class:`~scperturb_core.data.PerturbData`.
"""
from __future__ import annotations

from . import assets
from .constants import DEMO
from .data import DataError, PerturbData, Source, load_de_train, load_id_map, with_id_map
from .demo import load_demo
from .formats.h5ad import load_h5ad, looks_like_h5ad


def load_dataset(spec: Source, id_map: Source | None = None, *, name: str | None = None,
                 layer: str | None = None) -> PerturbData:
    """Open a dataset: ``"demo"`` for the embedded demo, else a de_train.parquet or a de_train.h5ad
    (path, bytes or file; ``layer`` picks the .h5ad value layer, see :mod:`.formats.h5ad`).

    Without an ``id_map``, a user file gets the embedded real Kaggle id_map when every pair of it
    refers to the file's compounds and cell types (as it does for the real de_train.parquet).
    """
    if isinstance(spec, str) and spec == DEMO:
        data = load_demo()
        if id_map is not None:
            data = with_id_map(data, load_id_map(id_map, data), None)
        return data
    if looks_like_h5ad(spec):
        data = load_h5ad(spec, layer=layer, name=name)
    elif layer is not None:
        raise DataError(f"layer {layer!r} given, but the dataset is not an .h5ad file")
    else:
        data = load_de_train(spec, name=name)
    if id_map is not None:
        return with_id_map(data, load_id_map(id_map, data))
    try:
        return with_id_map(data, load_id_map(assets.ID_MAP, data))
    except DataError:
        return data
