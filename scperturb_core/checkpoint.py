"""Model directories: write atomically, read back with every piece checked.

A model directory holds

* ``weights.pt`` -- the networks' ``state_dict`` tensors (keys ``"<member>.<param>"``), read with
  ``torch.load(weights_only=True)`` so a file carrying pickled code is refused;
* ``config.json`` -- the :class:`~scperturb_core.train.ModelSpec`, ensemble weights, training history;
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
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .io import sha256_bytes

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2
WEIGHTS = "weights.pt"
CONFIG = "config.json"
FEATURES_NPZ = "features.npz"
FEATURES_JSON = "features.json"
STACK_NPZ = "stack.npz"
STACK_JSON = "stack.json"
MANIFEST = "manifest.json"
FILES: tuple[str, ...] = (WEIGHTS, CONFIG, FEATURES_NPZ, FEATURES_JSON, STACK_NPZ, STACK_JSON)


class ModelDirError(ValueError):
    """A model directory cannot be used; the message is one line naming the directory and the problem."""


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")


def serialize(predictor) -> dict[str, bytes]:
    """The files of a model directory as bytes (``name -> content``), manifest included."""
    from .features import gene_hash

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


def _read_json(path: Path, label: str) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{label}: {path.name} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(obj, dict):
        raise ModelDirError(f"{label}: {path.name} must hold a JSON object")
    return obj


def load(model_dir: str | os.PathLike, genes: Sequence[str] | None = None):
    """Read a model directory written by :func:`save` and return a Predictor.

    Args:
        genes: when given, the gene list the model must have been trained on (same names, same order).

    Raises:
        ModelDirError: one line naming the directory and what is wrong with it.
    """
    from .features import FeaturePipeline, gene_hash
    from .models import MODEL_KINDS, build_model
    from .predictor import Predictor
    from .train import History, ModelSpec

    path = Path(model_dir)
    label = f"model directory {str(path)!r}"
    if not path.exists():
        raise ModelDirError(f"{label} not found")
    if not path.is_dir():
        raise ModelDirError(f"{label} is not a folder")
    if not (path / MANIFEST).is_file():
        raise ModelDirError(f"{label} is incomplete or not a model directory: {MANIFEST} is missing")
    manifest = _read_json(path / MANIFEST, label)
    if manifest.get("format") == 1:
        raise ModelDirError(f"{label} predates the stacked predictor (format 1); retrain it")
    if manifest.get("format") != CHECKPOINT_FORMAT:
        raise ModelDirError(f"{label}: unsupported format {manifest.get('format')!r} (expected {CHECKPOINT_FORMAT})")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise ModelDirError(f"{label} is incomplete: missing {', '.join(missing)}")
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict):
        raise ModelDirError(f"{label}: the manifest lacks file checksums")
    raw = {}
    for f in FILES:
        raw[f] = (path / f).read_bytes()
        if hashes.get(f) != sha256_bytes(raw[f]):
            raise ModelDirError(f"{label}: {f} is corrupt or was modified (checksum mismatch)")
    if genes is not None and manifest.get("gene_hash") != gene_hash(tuple(genes)):
        raise ModelDirError(f"{label} was trained on a different gene list "
                            f"({manifest.get('n_genes')} genes) than the data ({len(genes)} genes)")

    # features
    arrays = _read_npz(raw[FEATURES_NPZ], FEATURES_NPZ, label)
    meta = json.loads(raw[FEATURES_JSON].decode("utf-8")) if raw[FEATURES_JSON] else {}
    try:
        pipe = FeaturePipeline.from_state(arrays, meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{label}: bad feature state ({str(exc).splitlines()[0]})") from None
    if gene_hash(pipe.genes) != manifest.get("gene_hash"):
        raise ModelDirError(f"{label}: the feature gene list does not match the manifest")

    # config
    config = _read_json(path / CONFIG, label)
    try:
        spec = ModelSpec.from_dict(config["spec"])
        members = list(config["members"])
        weights = {str(k): float(v) for k, v in config["weights"].items()}
        histories = {k: History.from_dict(v) for k, v in config.get("histories", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelDirError(f"{label}: bad {CONFIG} ({str(exc).splitlines()[0]})") from None
    if not members or set(weights) != set(members):
        raise ModelDirError(f"{label}: {CONFIG} lists members {members} but weights for {sorted(weights)}")

    # weights
    try:
        state = torch.load(io.BytesIO(raw[WEIGHTS]), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise ModelDirError(f"{label}: {WEIGHTS} holds pickled objects that are not plain tensors (refused)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelDirError(f"{label}: {WEIGHTS} is not a readable tensor file ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelDirError(f"{label}: {WEIGHTS} must hold a dict of tensors")
    models = {}
    for kind in members:
        cfg = spec.mlp if kind == "mlp" else spec.transformer
        try:
            model = build_model(kind, pipe.dims(), cfg)
        except ValueError as exc:
            raise ModelDirError(f"{label}: {exc}") from None
        prefix = f"{kind}."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            model.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:200]
            raise ModelDirError(f"{label}: {WEIGHTS} does not fit the {kind} model ({first})") from None
        model.eval()
        models[kind] = model

    # stack
    from .stack import StackState

    s_arrays = _read_npz(raw[STACK_NPZ], STACK_NPZ, label)
    s_meta = _read_json(path / STACK_JSON, label)
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
    return Predictor(pipe, models, weights, spec, histories, dict(config.get("info", {})), stack=stack)


def _read_npz(data: bytes, name: str, label: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file's bytes (no pickles); :class:`ModelDirError` with one line otherwise."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ModelDirError(f"{label}: {name} holds pickled objects (refused)") from None
        raise ModelDirError(f"{label}: {name} is unreadable ({str(exc).splitlines()[0]})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelDirError(f"{label}: {name} is unreadable ({str(exc).splitlines()[0]})") from None


def is_valid(model_dir: str | os.PathLike, genes: Sequence[str] | None = None) -> bool:
    """True if :func:`load` would succeed (logs the reason otherwise)."""
    try:
        load(model_dir, genes)
    except ModelDirError as exc:
        log.info("%s", exc)
        return False
    return True
