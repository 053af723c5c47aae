"""AnnData (``.h5ad``) files of the OpenProblems perturbation-prediction benchmark, in and out.

The layouts follow the benchmark's documented file API (repository
``openproblems-bio/task_perturbation_prediction``, files ``src/api/file_de_train.yaml``,
``src/api/file_de_test.yaml``, ``src/api/file_prediction.yaml`` and the control method
``src/control_methods/zeros/script.py``):

* ``de_train.h5ad`` / ``de_test.h5ad``: one row per (cell type, compound); ``obs`` columns
  ``cell_type, sm_name, sm_lincs_id, SMILES, split, control``; gene names in ``var_names``; values in
  ``layers`` (``sign_log10_pval`` = the Kaggle values, ``clipped_sign_log10_pval``, ``logFC``, ...);
  ``uns["dataset_id"]``, ``uns["dataset_name"]``, ...
* a prediction: ``layers["prediction"]`` (test rows x genes), ``obs_names`` = the id_map ids as
  strings in id_map order, ``var_names`` = the genes, ``uns["dataset_id"]`` and ``uns["method_id"]``.

Only the chosen layer is read (``anndata.io.read_elem`` on one element), so a large file with many
layers loads quickly. Every problem raises :class:`~scperturb_core.data.DataError` with one line.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import (
    BENCHMARK_DATASET_ID, CELL_TYPE, CONTROL, ID, LAYER_CLIPPED, LAYER_PREDICTION, LAYER_SIGN_LOG10_PVAL,
    LAYER_X, META_COLUMNS, SM_LINCS_ID, SM_NAME, SMILES, SPLIT, UNS_DATASET_ID, UNS_DATASET_NAME,
    UNS_METHOD_ID, UNS_SIMULATED,
)
from ..data import DataError, PerturbData, Source, _check_gene_names, _check_meta, _check_smiles, _preview
from ..io import atomic_path, sha256_bytes, sha256_file
from ..safeio import MAX_DATASET_BYTES, InputError, check_regular_file

log = logging.getLogger(__name__)

#: the first 8 bytes of an HDF5 file (an .h5ad file is an HDF5 file)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: a dense value matrix larger than this many entries is refused before it is read
MAX_ENTRIES = 200_000_000
#: the benchmark clips its default truth layer to this magnitude
CLIP = 4.0


# ----------------------------------------------------------------------------------- opening


def looks_like_h5ad(source: Source) -> bool:
    """True when ``source`` (path, bytes or file object) starts with the HDF5 signature, or is a path
    ending in ``.h5ad``. Never raises; a missing path is False (the parquet loader then names it)."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:8]) == HDF5_MAGIC
    if hasattr(source, "read"):
        if hasattr(source, "getvalue"):
            return bytes(source.getvalue()[:8]) == HDF5_MAGIC
        try:
            pos = source.tell()
            head = source.read(8)
            source.seek(pos)
            return head == HDF5_MAGIC
        except (OSError, AttributeError):
            return False
    try:
        path = Path(source)
        if path.suffix.lower() == ".h5ad":
            return True
        if not path.is_file():
            return False
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except (OSError, TypeError, ValueError):
        return False


def _resolve(source: Source) -> tuple[str | io.BytesIO, str, str]:
    """``(what h5py opens, label, content hash)`` for a path, bytes or a binary file object."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        return io.BytesIO(data), "upload", sha256_bytes(data)
    if hasattr(source, "read"):
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        return io.BytesIO(data), getattr(source, "name", "upload"), sha256_bytes(data)
    path = Path(source)
    if not path.exists():
        raise DataError(f"file not found: {str(path)!r}")
    if path.is_dir():
        raise DataError(f"expected a file, got a folder: {str(path)!r}")
    try:  # a pipe or device is refused before it is opened (hashing it would hang or never end)
        st = check_regular_file(path, "dataset")
    except InputError as exc:
        raise DataError(str(exc)) from None
    if st.st_size > MAX_DATASET_BYTES:
        raise DataError(f"file too large: {str(path)!r} is {st.st_size / 2**20:.0f} MB "
                        f"(limit {MAX_DATASET_BYTES / 2**20:.0f} MB)")
    return str(path), path.name, sha256_file(path)


def _check_magic(target: str | io.BytesIO, label: str) -> None:
    if isinstance(target, io.BytesIO):
        head = target.getvalue()[:8]
        size = len(target.getvalue())
    else:
        size = os.path.getsize(target)
        with open(target, "rb") as fh:
            head = fh.read(8)
    if size == 0:
        raise DataError(f"empty file: {label!r} has 0 bytes")
    if head != HDF5_MAGIC:
        raise DataError(f"not an HDF5 / .h5ad file: {label!r}")


@contextlib.contextmanager
def _open(source: Source) -> Iterator[tuple[object, str, str]]:
    """Open an .h5ad read-only: yields ``(h5py.File, label, content hash)``.

    Errors from the HDF5 library while reading (a truncated or damaged file) become one-line
    :class:`DataError`s naming the file.
    """
    import h5py

    target, label, digest = _resolve(source)
    _check_magic(target, label)
    try:
        fh = h5py.File(target, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable HDF5 file (truncated or damaged?): {label!r} "
                        f"({_first_line(exc)})") from None
    try:
        for group in ("obs", "var"):
            if group not in fh:
                raise DataError(f"not an AnnData file: {label!r} has no {group!r} group")
        yield fh, label, digest
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise DataError(f"unreadable .h5ad file (truncated or damaged?): {label!r} ({_first_line(exc)})") from None
    finally:
        fh.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _read(elem):
    from anndata.io import read_elem

    return read_elem(elem)


def _layer_names(fh) -> list[str]:
    names = list(fh["layers"].keys()) if "layers" in fh else []
    if "X" in fh:
        names.append(LAYER_X)
    return names


def _default_layer(names: Sequence[str], preferred: Sequence[str]) -> str | None:
    """The first of ``preferred`` that is in ``names`` (None when none is)."""
    return next((name for name in preferred if name in names), None)


def _shape(elem) -> tuple[int, ...]:
    if hasattr(elem, "shape"):
        return tuple(elem.shape)
    shape = elem.attrs.get("shape")  # a sparse matrix stored as a group
    return tuple(int(s) for s in shape) if shape is not None else ()


def _read_matrix(fh, layer: str, label: str, n_obs: int, n_var: int) -> np.ndarray:
    """The ``(n_obs, n_var)`` layer (or ``X``) as float64, dense or sparse on disk."""
    import scipy.sparse as sp

    names = _layer_names(fh)
    if layer not in names:
        found = ", ".join(map(repr, names)) if names else "none"
        raise DataError(f"layer {layer!r} not found in {label!r}; layers found: {found}")
    elem = fh["X"] if layer == LAYER_X else fh["layers"][layer]
    shape = _shape(elem)
    if shape != (n_obs, n_var):
        raise DataError(f"layer {layer!r} has shape {shape}, expected (obs, var) = ({n_obs}, {n_var})")
    if n_obs * n_var > MAX_ENTRIES:
        raise DataError(f"layer {layer!r} too large: {n_obs} x {n_var} values (limit {MAX_ENTRIES:,})")
    values = _read(elem)
    if sp.issparse(values):
        values = values.toarray()
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.astype(np.float64)
    if not np.issubdtype(values.dtype, np.number):
        raise DataError(f"layer {layer!r} is not numeric (dtype {values.dtype})")
    return values.astype(np.float64, copy=False)


def _check_finite(values: np.ndarray, genes: Sequence[str], layer: str) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        where = [f"row {r} gene {genes[c]!r}" for r, c in zip(rows[:5], cols[:5])]
        raise DataError(f"{len(rows)} NaN or inf values in layer {layer!r}, e.g. {'; '.join(where)}")


def _gene_names(var: pd.DataFrame) -> list[str]:
    genes = pd.Index(var.index.astype(str))
    if len(genes) == 0:
        raise DataError("no genes: var_names is empty")
    dup = genes[genes.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"duplicated gene names in var_names: {_preview(dup)}")
    return genes.tolist()


def _uns_value(fh, key: str):
    if "uns" not in fh or key not in fh["uns"]:
        return None
    value = _read(fh["uns"][key])
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    return value


# ----------------------------------------------------------------------------------- reading


def h5ad_layers(source: Source) -> list[str]:
    """The value layers of an .h5ad (``"X"`` last when the file has a main matrix)."""
    with _open(source) as (fh, _, _):
        return _layer_names(fh)


def default_layer(layers: Sequence[str]) -> str:
    """``sign_log10_pval`` when present, else ``X`` (when neither is, ``sign_log10_pval``: reading it
    then fails with the layers found)."""
    return _default_layer(layers, (LAYER_SIGN_LOG10_PVAL, LAYER_X)) or LAYER_SIGN_LOG10_PVAL


def load_h5ad(source: Source, *, layer: str | None = None, name: str | None = None,
              check_smiles: bool = True) -> PerturbData:
    """Read and validate a ``de_train.h5ad`` (or ``de_test.h5ad``) into a :class:`PerturbData`.

    Args:
        source: a path, the file's bytes, or a binary file object (e.g. a Streamlit upload).
        layer: the value layer; default ``sign_log10_pval`` when present, else ``X``.
        name: label shown in the UI; default the file name.
        check_smiles: parse every compound's SMILES with RDKit.

    Returns:
        ``X`` of shape ``(obs, var)`` float32 from ``layer``; ``obs`` the metadata columns (the
        ``split`` column, when present, is summarised in ``notes``); ``simulated`` from the file's
        ``uns`` marker.

    Raises:
        DataError: one line naming the problem (not HDF5 / truncated, missing obs columns or layer,
            NaN/inf, duplicated pairs, non-unique gene names, ...).
    """
    with _open(source) as (fh, label, digest):
        obs = _read(fh["obs"])
        var = _read(fh["var"])
        missing = [c for c in META_COLUMNS if c not in obs.columns]
        if missing:
            raise DataError(f"missing obs columns in {label!r}: {', '.join(map(repr, missing))}")
        if len(obs) == 0:
            raise DataError(f"empty dataset: {label!r} has no rows")
        genes = _gene_names(var)
        names = _layer_names(fh)
        chosen = layer or default_layer(names)
        values = _read_matrix(fh, chosen, label, len(obs), len(genes))
        simulated = bool(_uns_value(fh, UNS_SIMULATED) or False)
    meta = pd.DataFrame({c: obs[c].astype(object) if isinstance(obs[c].dtype, pd.CategoricalDtype) else obs[c]
                         for c in META_COLUMNS}).reset_index(drop=True)
    notes: list[str] = [f"values from layer {chosen!r} (layers: {', '.join(names)})"]
    _check_gene_names(list(genes))
    meta = _check_meta(meta, label, notes)
    _check_finite(values, genes, chosen)
    if SPLIT in obs.columns:
        counts = obs[SPLIT].astype(str).value_counts()
        notes.append(f"split column: {', '.join(f'{k} {v}' for k, v in counts.items())}")
    if check_smiles:
        _check_smiles(meta)
    log.info("loaded %s layer %s: %d rows x %d genes", label, chosen, *values.shape)
    return PerturbData(obs=meta, X=values.astype(np.float32), genes=tuple(genes), name=name or label,
                       simulated=simulated, key=f"{digest[:16]}-{chosen}", notes=tuple(notes))


# ----------------------------------------------------------------------------------- writing


def _write(adata, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def to_bytes(adata) -> bytes:
    """An AnnData as ``.h5ad`` file bytes (written to a private temporary file, then read back)."""
    with tempfile.TemporaryDirectory(prefix="scperturb-h5ad-") as tmp:
        path = Path(tmp) / "out.h5ad"
        adata.write_h5ad(path)
        return path.read_bytes()


def _obs_frame(frame: pd.DataFrame, index: Sequence[str]) -> pd.DataFrame:
    obs = frame.reset_index(drop=True).copy()
    for col in obs.columns:
        if obs[col].dtype == object or isinstance(obs[col].dtype, pd.StringDtype):
            obs[col] = obs[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    obs.index = pd.Index([str(i) for i in index])
    return obs


def dataset_anndata(data: PerturbData, *, values: np.ndarray | None = None, obs: pd.DataFrame | None = None,
                    split: Sequence[str] | None = None, dataset_id: str, summary: str = ""):
    """An AnnData in the ``de_train.h5ad`` layout: the six obs columns, layers ``sign_log10_pval`` and
    ``clipped_sign_log10_pval`` (+-4), ``uns`` dataset id/name/summary and the simulated marker.

    ``values``/``obs`` default to ``data.X``/``data.obs``; ``split`` defaults to ``control`` for the
    control rows and ``train`` for the others.
    """
    import anndata as ad

    X = np.asarray(data.X if values is None else values, dtype=np.float32)
    meta = (data.obs if obs is None else obs)[list(META_COLUMNS)].reset_index(drop=True).copy()
    if split is None:
        split = np.where(meta[CONTROL].to_numpy(dtype=bool), "control", "train")
    meta.insert(4, SPLIT, list(split))
    uns = {UNS_DATASET_ID: dataset_id, UNS_DATASET_NAME: data.name, "dataset_summary": summary,
           "dataset_description": summary, UNS_SIMULATED: bool(data.simulated)}
    return ad.AnnData(obs=_obs_frame(meta, range(len(meta))), var=pd.DataFrame(index=list(data.genes)),
                      layers={LAYER_SIGN_LOG10_PVAL: X, LAYER_CLIPPED: np.clip(X, -CLIP, CLIP)}, uns=uns)


def write_demo_h5ad(data: PerturbData, out: str | os.PathLike, *, dataset_id: str, summary: str,
                    test_split: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write ``de_train.h5ad`` (the train rows) and ``de_test.h5ad`` (the id_map rows with their
    held-out truth) into folder ``out``, atomically. ``de_test`` rows are in id_map order, so the
    benchmark's id_map (ids = row positions) and ``data.id_map`` agree.

    ``test_split`` (``sm_name``, ``kaggle_test_split``) labels the test rows ``public_test`` /
    ``private_test``; without it every test row is ``private_test``.
    """
    if data.id_map is None or data.truth is None:
        raise ValueError("writing de_test.h5ad needs a dataset with an id_map and its truth")
    out = Path(out)
    train = dataset_anndata(data, dataset_id=dataset_id, summary=summary)
    comp = data.compounds.set_index(SM_NAME)
    ids = data.id_map.reset_index(drop=True)
    test_obs = pd.DataFrame({
        CELL_TYPE: ids[CELL_TYPE].to_numpy(), SM_NAME: ids[SM_NAME].to_numpy(),
        SM_LINCS_ID: comp.loc[ids[SM_NAME], SM_LINCS_ID].to_numpy(),
        SMILES: comp.loc[ids[SM_NAME], SMILES].to_numpy(), CONTROL: False,
    })
    split = ["private_test"] * len(ids)
    if test_split is not None:
        lookup = dict(zip(test_split[SM_NAME], test_split.iloc[:, -1]))
        split = [str(lookup.get(s, "private_test")) for s in ids[SM_NAME]]
    test = dataset_anndata(data, values=data.truth, obs=test_obs, split=split, dataset_id=dataset_id,
                           summary=summary)
    test.obs_names = [str(i) for i in ids[ID]]
    paths = out / "de_train.h5ad", out / "de_test.h5ad"
    _write(train, paths[0])
    _write(test, paths[1])
    return paths


def prediction_anndata(values: np.ndarray, ids: Sequence, genes: Sequence[str], *, dataset_id: str,
                       method_id: str, uns: dict | None = None):
    """The benchmark's prediction file: ``layers["prediction"]`` ``(n_test, n_genes)`` float32,
    ``obs_names`` = ``ids`` as strings (id_map order), ``var_names`` = ``genes``,
    ``uns["dataset_id"]``, ``uns["method_id"]`` (plus any extra ``uns`` entries)."""
    import anndata as ad

    values = np.asarray(values, dtype=np.float32)
    if values.shape != (len(ids), len(genes)):
        raise ValueError(f"prediction shape {values.shape} does not match {len(ids)} ids x {len(genes)} genes")
    return ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in ids]), var=pd.DataFrame(index=list(genes)),
                      layers={LAYER_PREDICTION: values},
                      uns={**(uns or {}), UNS_DATASET_ID: dataset_id, UNS_METHOD_ID: method_id})


def write_prediction_h5ad(path: str | os.PathLike, values: np.ndarray, ids: Sequence, genes: Sequence[str], *,
                          dataset_id: str = BENCHMARK_DATASET_ID, method_id: str, uns: dict | None = None) -> None:
    """Write :func:`prediction_anndata` to ``path`` atomically."""
    _write(prediction_anndata(values, ids, genes, dataset_id=dataset_id, method_id=method_id, uns=uns), path)


def check_prediction_h5ad(source: Source, *, id_map: pd.DataFrame | None = None,
                          genes: Sequence[str] | None = None) -> dict:
    """Check a prediction file against the benchmark's documented API.

    Followed: ``openproblems-bio/task_perturbation_prediction``, ``src/api/file_prediction.yaml``
    (``layers["prediction"]`` required; ``uns`` strings ``dataset_id`` and ``method_id`` required)
    and ``src/control_methods/zeros/script.py`` (``obs`` indexed by the id_map ids in id_map order,
    ``var`` indexed by the training genes). The metrics (``src/metrics/mean_rowwise_error/script.R``)
    read the prediction layer for the truth's genes and match rows by position.

    Returns:
        ``{"rows", "genes", "dataset_id", "method_id"}``.

    Raises:
        DataError: one line naming the first violation.
    """
    with _open(source) as (fh, label, _):
        obs = _read(fh["obs"])
        var = _read(fh["var"])
        names = _layer_names(fh)
        if LAYER_PREDICTION not in names or LAYER_PREDICTION == LAYER_X:
            found = ", ".join(map(repr, names)) if names else "none"
            raise DataError(f"layer {LAYER_PREDICTION!r} not found in {label!r}; layers found: {found}")
        gene_names = _gene_names(var)
        elem = fh["layers"][LAYER_PREDICTION]
        dtype = getattr(elem, "dtype", None)
        if dtype is None or not np.issubdtype(dtype, np.floating):
            raise DataError(f"layer {LAYER_PREDICTION!r} must be a dense float matrix, got {dtype or 'a sparse group'}")
        values = _read_matrix(fh, LAYER_PREDICTION, label, len(obs), len(gene_names))
        uns = {k: _uns_value(fh, k) for k in (UNS_DATASET_ID, UNS_METHOD_ID)}
    for key, value in uns.items():
        if not isinstance(value, str) or not value:
            raise DataError(f"uns[{key!r}] must be a non-empty string in {label!r}, got {value!r}")
    _check_finite(values, gene_names, LAYER_PREDICTION)
    obs_names = [str(x) for x in obs.index]
    if id_map is not None:
        expected = [str(i) for i in id_map[ID]]
        if obs_names != expected:
            first = next((i for i, (a, b) in enumerate(zip(obs_names, expected)) if a != b),
                         min(len(obs_names), len(expected)))
            raise DataError(f"obs_names must be the {len(expected)} id_map ids in order; they differ at row {first} "
                            f"({len(obs_names)} rows in the file)")
    if genes is not None and gene_names != [str(g) for g in genes]:
        missing = [g for g in genes if g not in set(gene_names)]
        detail = f"missing {_preview(missing)}" if missing else "same genes in another order or with extras"
        raise DataError(f"var_names must be the {len(genes)} training genes in order: {detail}")
    return {"rows": len(obs_names), "genes": len(gene_names), **uns}


#: ``uns["dataset_id"]`` of the demo's .h5ad files (not the benchmark's id: the values are simulated)
DEMO_DATASET_ID = "scperturb_demo_simulated"
DEMO_SUMMARY = ("SIMULATED values on the real design of the NeurIPS 2023 screen (compounds, cell types, "
                "genes, train pairs and id_map); not measured data.")


def write_demo_h5ad_files(data: PerturbData, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write the demo as ``de_train.h5ad`` + ``de_test.h5ad`` (the real Kaggle public/private split of
    the test compounds in ``obs["split"]``), marked as simulated in ``uns``."""
    from .. import assets

    return write_demo_h5ad(data, out, dataset_id=DEMO_DATASET_ID, summary=DEMO_SUMMARY,
                           test_split=pd.read_csv(assets.TEST_SPLIT, keep_default_na=False)[[SM_NAME, "kaggle_test_split"]])
