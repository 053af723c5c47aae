"""Model directories: write atomically, read back with every piece checked.

A model directory holds

* ``weights.pt`` -- the networks' ``state_dict`` tensors (keys ``"<member>.<param>"``), read with
  ``torch.load(weights_only=True)`` so a file carrying pickled code is refused;
* ``config.json`` -- the :class:`~scperturb_core.models.train.ModelSpec`, ensemble weights, training history;
* ``features.npz`` (plain arrays, read with ``allow_pickle=False``) and ``features.json`` -- the
  fitted feature state: statistics, gene basis, readout, fragment vocabulary, genes, cell types,
  training compounds;
* ``stack.npz`` and ``stack.json`` -- the stacked predictor: weights per target cell type, the
  baseline fallback, the baselines' fitted means (float32), new-compound shrinkage, interval
  multipliers and scale, the measurement noise level and the validation report;
* ``manifest.json`` -- format version, gene-list hash and the SHA-256 of every other file.

Loading a directory that is missing, incomplete, corrupt, from another gene list or holding pickled
objects raises :class:`ModelDirError` (a ``ValueError``) with one line naming the problem.
"""
from __future__ import annotations

import io
import json
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from ..io import sha256_bytes
from ..safeio import (
    MAX_JSON_BYTES,
    MAX_NPZ_BYTES,
    MAX_WEIGHTS_BYTES,
    InputError,
    parse_json,
    read_file,
    read_npz,
)
from .features import FeaturePipeline, gene_hash
from .networks import MODEL_KINDS, build_model
from .stack import StackState
from .train import History, ModelSpec

log = logging.getLogger(__name__)

#: what ``build`` makes of a model directory (``Predictor``)
P = TypeVar("P")

CHECKPOINT_FORMAT = 2
WEIGHTS = "weights.pt"
CONFIG = "config.json"
FEATURES_NPZ = "features.npz"
FEATURES_JSON = "features.json"
STACK_NPZ = "stack.npz"
STACK_JSON = "stack.json"
MANIFEST = "manifest.json"
FILES: tuple[str, ...] = (WEIGHTS, CONFIG, FEATURES_NPZ, FEATURES_JSON, STACK_NPZ, STACK_JSON)
#: an ensemble weight must be finite and at most this large in magnitude
MAX_ENSEMBLE_WEIGHT = 100.0
#: feature settings a model folder may ask for (each one sizes arrays built on load)
FEATURE_BOUNDS = {"n_components": 4096, "n_bits": 65536, "radius": 8, "n_neighbors": 1000,
                  "fragment_min_count": 10**6, "svd_iter": 100}
#: training settings a model folder may store
TRAIN_BOUNDS = {"epochs": 10**6, "patience": 10**6, "min_epochs": 10**6, "batch_size": 10**6, "threads": 1024,
                "seed": 2**32 - 1}


class ModelDirError(ValueError):
    """A model directory cannot be used; the message is one line naming the directory and the problem."""


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")


def serialize(predictor) -> dict[str, bytes]:
    """The files of a model directory as bytes (``name -> content``), manifest included."""
    arrays, meta = predictor.pipeline.state()
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    state = {f"{kind}.{key}": value.detach().cpu().contiguous()
             for kind, model in predictor.models.items() for key, value in model.state_dict().items()}
    wbuf = io.BytesIO()
    torch.save(state, wbuf)
    config = {"format": CHECKPOINT_FORMAT, "spec": predictor.spec.to_dict(), "members": list(predictor.models),
              "weights": predictor.weights, "histories": {k: h.to_dict() for k, h in predictor.histories.items()},
              "info": predictor.info}
    files = {WEIGHTS: wbuf.getvalue(), CONFIG: _json_bytes(config), FEATURES_NPZ: buf.getvalue(),
             FEATURES_JSON: _json_bytes(meta)}
    if predictor.stack is None:
        raise ValueError("this predictor has no stack state to save; retrain it")
    s_arrays, s_meta = predictor.stack.state()
    sbuf = io.BytesIO()
    np.savez(sbuf, **{k: np.ascontiguousarray(v) for k, v in s_arrays.items()})
    files[STACK_NPZ], files[STACK_JSON] = sbuf.getvalue(), _json_bytes(s_meta)
    manifest = {"format": CHECKPOINT_FORMAT, "gene_hash": gene_hash(predictor.genes), "n_genes": len(predictor.genes),
                "members": list(predictor.models), "sha256": {name: sha256_bytes(b) for name, b in files.items()}}
    files[MANIFEST] = _json_bytes(manifest)
    return files


def _write_dir(files: dict[str, bytes], parent: Path, name: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    try:
        for fname, content in files.items():
            with open(tmp / fname, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def save(predictor, model_dir: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``predictor`` to ``model_dir`` atomically (a temporary folder renamed into place).

    With ``overwrite=False`` an existing directory is left alone and :class:`FileExistsError` raised
    (the caller may load it); with ``overwrite=True`` it is replaced in two renames.
    """
    target = Path(model_dir)
    if target.exists() and not target.is_dir():
        raise ModelDirError(f"model directory {str(target)!r} is a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_dir(serialize(predictor), target.parent, target.name)
    try:
        try:
            os.rename(tmp, target)  # atomic; fails if the target exists and is not empty
            return target
        except OSError:
            if not overwrite:
                raise FileExistsError(f"model directory {str(target)!r} already exists") from None
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return target
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _size_limit(name: str) -> int:
    """Largest accepted size of a model-folder file, by kind."""
    if name.endswith(".json"):
        return MAX_JSON_BYTES
    if name.endswith(".npz"):
        return MAX_NPZ_BYTES
    return MAX_WEIGHTS_BYTES


def _read_file(path: Path, label: str) -> bytes:
    """The bytes of one model-folder file: a regular file (no pipe or device), size bounded."""
    try:
        return read_file(path, f"{label}: {path.name}", _size_limit(path.name))
    except InputError as exc:
        raise ModelDirError(str(exc)) from None


def _parse_json(data: bytes, label: str, name: str) -> dict:
    """A JSON object from a model-folder file: size, nesting depth and non-finite numbers bounded."""
    try:
        return parse_json(data, f"{label}: {name}", want=dict)
    except InputError as exc:
        raise ModelDirError(str(exc)) from None


def _read_json(path: Path, label: str) -> dict:
    return _parse_json(_read_file(path, label), label, path.name)


def _read_npz(data: bytes, label: str, name: str = FEATURES_NPZ) -> dict[str, np.ndarray]:
    """Arrays of an npz: sizes bounded from the headers before decompression, pickles refused,
    floating arrays checked finite."""
    try:
        arrays = read_npz(data, f"{label}: {name}")
    except InputError as exc:
        raise ModelDirError(str(exc)) from None
    for key, arr in arrays.items():
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise ModelDirError(f"{label}: {name} array {key!r} holds NaN or inf values")
    return arrays


def _read_weights(data: bytes, label: str, name: str = WEIGHTS) -> dict[str, torch.Tensor]:
    """A dict of tensors from a ``torch.save`` file, read with ``weights_only=True``; every floating
    tensor must be finite."""
    if not data:
        raise ModelDirError(f"{label}: {name} is empty")
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise ModelDirError(f"{label}: {name} holds pickled objects that are not plain tensors (refused)") from None
    except Exception as exc:  # noqa: BLE001 -- any failure of a hostile file is one refusal
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelDirError(f"{label}: {name} is not a readable tensor file ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ModelDirError(f"{label}: {name} must hold a dict of tensors")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelDirError(f"{label}: {name} tensor {key!r} holds NaN or inf values")
    return state


def _check_bounds(section, bounds: dict[str, int], where: str, label: str) -> None:
    """Each integer setting of ``section`` named in ``bounds`` must lie in ``[0, bound]``."""
    if not isinstance(section, dict):
        raise ModelDirError(f"{label}: bad feature state ({where} is not an object)")
    for key, limit in bounds.items():
        value = section.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
            raise ModelDirError(f"{label}: {where} {key} must be an int in [0, {limit}], got {str(value)[:40]}")


def _check_feature_config(meta: dict, label: str) -> None:
    """Bound the feature settings that size arrays, before the pipeline is rebuilt."""
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise ModelDirError(f"{label}: bad feature state ({FEATURES_JSON} lacks a config object)")
    _check_bounds(cfg, FEATURE_BOUNDS, f"{FEATURES_JSON} config", label)


def _check_spec_bounds(config: dict, label: str) -> None:
    """Bound the sizes in the stored training spec (used if the model is trained again)."""
    spec = config.get("spec")
    if not isinstance(spec, dict):
        return  # reported by ModelSpec.from_dict
    if isinstance(spec.get("features"), dict):
        _check_bounds(spec["features"], FEATURE_BOUNDS, f"{CONFIG} spec.features", label)
    if isinstance(spec.get("train"), dict):
        _check_bounds(spec["train"], TRAIN_BOUNDS, f"{CONFIG} spec.train", label)


def _check_ensemble_weights(weights: dict[str, float], label: str) -> None:
    for kind, w in weights.items():
        if not np.isfinite(w) or abs(w) > MAX_ENSEMBLE_WEIGHT:
            raise ModelDirError(f"{label}: {CONFIG} ensemble weight of {kind!r} is {w!r} "
                                f"(must be finite, |w| <= {MAX_ENSEMBLE_WEIGHT:g})")
    if not any(w != 0 for w in weights.values()):
        raise ModelDirError(f"{label}: {CONFIG} ensemble weights are all zero")


def _fits(model_factory, sub: dict[str, torch.Tensor]) -> str | None:
    """Build the model on the ``meta`` device (nothing allocated) and compare parameter shapes with
    the stored tensors; the first difference as text, or None when they match."""
    with torch.device("meta"):
        shell = model_factory()
    want = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in sub.items()}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    if missing:
        return f"missing {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    if extra:
        return f"unexpected {extra[0]!r}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
    for key in want:
        if want[key] != have[key]:
            return f"{key!r} has shape {list(have[key])}, the config needs {list(want[key])}"
    return None


def load(model_dir: str | os.PathLike, genes: Sequence[str] | None = None, *, build: Callable[..., P]) -> P:
    """Read a model directory written by :func:`save`; return ``build(pipeline, models, weights, spec,
    histories, info, stack=stack)`` once it predicts finite values (``Predictor.load`` passes the class).

    Args:
        genes: when given, the gene list the model must have been trained on (same names, same order).

    Raises:
        ModelDirError: one line naming the directory and what is wrong with it.
    """
    path = Path(model_dir)
    label = f"model directory {str(path)!r}"
    if not path.exists():
        raise ModelDirError(f"{label} not found")
    if not path.is_dir():
        raise ModelDirError(f"{label} is not a folder")
    if not (path / MANIFEST).exists():
        raise ModelDirError(f"{label} is incomplete or not a model directory: {MANIFEST} is missing")
    manifest = _read_json(path / MANIFEST, label)
    if manifest.get("format") == 1:
        raise ModelDirError(f"{label} predates the stacked predictor (format 1); retrain it")
    if manifest.get("format") != CHECKPOINT_FORMAT:
        raise ModelDirError(f"{label}: unsupported format {str(manifest.get('format'))[:40]!r} (expected {CHECKPOINT_FORMAT})")
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise ModelDirError(f"{label} is incomplete: missing {', '.join(missing)}")
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict):
        raise ModelDirError(f"{label}: the manifest lacks file checksums")
    raw = {}
    for f in FILES:
        raw[f] = _read_file(path / f, label)
        if hashes.get(f) != sha256_bytes(raw[f]):
            raise ModelDirError(f"{label}: {f} is corrupt or was modified (checksum mismatch)")
    if genes is not None and manifest.get("gene_hash") != gene_hash(tuple(genes)):
        raise ModelDirError(f"{label} was trained on a different gene list "
                            f"({str(manifest.get('n_genes'))[:20]} genes) than the data ({len(genes)} genes)")

    # features
    arrays = _read_npz(raw[FEATURES_NPZ], label)
    meta = _parse_json(raw[FEATURES_JSON], label, FEATURES_JSON)
    _check_feature_config(meta, label)
    try:
        pipe = FeaturePipeline.from_state(arrays, meta)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ModelDirError(f"{label}: bad feature state ({str(exc).splitlines()[0][:160]})") from None
    if gene_hash(pipe.genes) != manifest.get("gene_hash"):
        raise ModelDirError(f"{label}: the feature gene list does not match the manifest")

    # config
    config = _parse_json(raw[CONFIG], label, CONFIG)
    _check_spec_bounds(config, label)
    try:
        spec = ModelSpec.from_dict(config["spec"])
        members = [str(m) for m in config["members"]]
        weights = {str(k): float(v) for k, v in config["weights"].items()}
        histories = {k: History.from_dict(v) for k, v in config.get("histories", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ModelDirError(f"{label}: bad {CONFIG} ({str(exc).splitlines()[0][:160]})") from None
    if not members or set(weights) != set(members):
        raise ModelDirError(f"{label}: {CONFIG} lists members {members[:5]} but weights for {sorted(weights)[:5]}")
    _check_ensemble_weights(weights, label)

    # weights
    state = _read_weights(raw[WEIGHTS], label)
    models = {}
    for kind in members:
        cfg = spec.mlp if kind == "mlp" else spec.transformer
        prefix = f"{kind}."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            problem = _fits(lambda: build_model(kind, pipe.dims(), cfg), sub)
        except ValueError as exc:
            raise ModelDirError(f"{label}: {exc}") from None
        if problem:
            raise ModelDirError(f"{label}: {WEIGHTS} does not fit the {kind} model ({problem})")
        model = build_model(kind, pipe.dims(), cfg)
        try:
            model.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:200]
            raise ModelDirError(f"{label}: {WEIGHTS} does not fit the {kind} model ({first})") from None
        model.eval()
        models[kind] = model

    # stack
    s_arrays = _read_npz(raw[STACK_NPZ], label, STACK_NPZ)
    s_meta = _parse_json(raw[STACK_JSON], label, STACK_JSON)
    try:
        stack = StackState.from_state(s_arrays, s_meta, len(pipe.genes))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelDirError(f"{label}: bad stack state ({str(exc).splitlines()[0]})") from None
    if stack.means is not None and (stack.means.compounds != list(pipe.compound_names)
                                    or stack.means.cell_types != list(pipe.cell_types)):
        raise ModelDirError(f"{label}: the stack's compounds or cell types do not match the features")
    missing_members = [c for c in stack.candidates if c in MODEL_KINDS and c not in models]
    if missing_members:
        raise ModelDirError(f"{label}: the stack uses {missing_members[0]!r}, which the model lacks")
    info = config.get("info", {})
    if not isinstance(info, dict):
        raise ModelDirError(f"{label}: bad {CONFIG} (info must be an object)")
    predictor = build(pipe, models, weights, spec, histories, dict(info), stack=stack)
    _check_predicts_finite(predictor, label)
    return predictor


def _check_predicts_finite(predictor, label: str) -> None:
    """One prediction per cell type for the first training compound must be finite (refuse, never NaN)."""
    names = list(predictor.pipeline.compound_names[:1])
    smiles = list(predictor.pipeline.compound_smiles[:1])
    cell_types = list(predictor.cell_types)
    if not names or not cell_types:
        raise ModelDirError(f"{label}: the model knows no compounds or no cell types")
    with np.errstate(all="ignore"):
        out = predictor.predict(cell_types, smiles * len(cell_types), names * len(cell_types))
    if not np.isfinite(out).all():
        raise ModelDirError(f"{label}: the model predicts NaN or inf values (its weights are broken)")


def is_valid(model_dir: str | os.PathLike, genes: Sequence[str] | None = None) -> bool:
    """True if :func:`load` would succeed (logs the reason otherwise)."""
    try:
        load(model_dir, genes)
    except ModelDirError as exc:
        log.info("%s", exc)
        return False
    return True
