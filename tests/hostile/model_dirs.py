"""A corpus of hostile model folders: each case edits one file of a valid folder the way an attacker
would (the manifest checksum updated to match), and names the one-line message loading must give.

Used by tests/test_hostile_models.py.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scperturb_core.io import sha256_bytes
from scperturb_core.models.checkpoint import CHECKPOINT_FORMAT, CONFIG, FEATURES_JSON, FEATURES_NPZ, MANIFEST, WEIGHTS

#: every message starts with the folder's label
PREFIX = r"^model directory '[^']+'"


@dataclass(frozen=True)
class ModelCase:
    name: str
    edit: Callable[[Path], None]  # changes the folder in place
    expected: str  # regex the whole one-line message must match


def _rewrite(folder: Path, name: str, content: bytes) -> None:
    """Replace a file and update the manifest's checksum (as a careful attacker would)."""
    (folder / name).write_bytes(content)
    if name != MANIFEST:
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest["sha256"][name] = sha256_bytes(content)
        (folder / MANIFEST).write_text(json.dumps(manifest))


def _raw(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: _rewrite(folder, name, content)


def _json_edit(name: str, fn: Callable[[dict], object]) -> Callable[[Path], None]:
    """Edit a JSON file as a dict; ``fn`` may return a replacement object."""
    def edit(folder: Path) -> None:
        obj = json.loads((folder / name).read_text())
        out = fn(obj)
        _rewrite(folder, name, json.dumps(obj if out is None else out).encode())
    return edit


def _json_text(name: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    """Edit a JSON file as text (to write what ``json.dumps`` refuses to, e.g. ``1e999``)."""
    def edit(folder: Path) -> None:
        _rewrite(folder, name, fn((folder / name).read_text()).encode())
    return edit


def _set(path: str, value) -> Callable[[dict], None]:
    """Set a dotted key of a JSON object."""
    def fn(obj: dict) -> None:
        *parents, last = path.split(".")
        for p in parents:
            obj = obj[p]
        obj[last] = value
    return fn


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _weights(fn: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    """Edit the tensors of weights.pt; ``fn`` may return a replacement object to save."""
    def edit(folder: Path) -> None:
        state = torch.load(folder / WEIGHTS, weights_only=True)
        out = fn(state)
        buf = io.BytesIO()
        torch.save(state if out is None else out, buf)
        _rewrite(folder, WEIGHTS, buf.getvalue())
    return edit


def _first_weight(state: dict[str, torch.Tensor], kind: str = "mlp") -> str:
    return next(k for k, v in state.items() if k.startswith(kind + ".") and v.ndim == 2)


def _scale_all(kind: str, factor: float) -> Callable[[dict[str, torch.Tensor]], None]:
    def fn(state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            if k.startswith(kind + ".") and v.is_floating_point() and "running_var" not in k:
                state[k] = v * factor + (factor if v.ndim == 1 else 0.0)
    return fn


def _npz(fn: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with np.load(folder / FEATURES_NPZ) as z:
            arrays = {k: z[k] for k in z.files}
        fn(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _rewrite(folder, FEATURES_NPZ, buf.getvalue())
    return edit


def _npz_bomb(shape: tuple[int, ...]) -> Callable[[Path], None]:
    """A features.npz whose first array's header declares ``shape`` (float64) over 1 KB of zeros:
    a reader that trusts the header inflates gigabytes."""
    def edit(folder: Path) -> None:
        with np.load(folder / FEATURES_NPZ) as z:
            arrays = {k: z[k] for k in z.files}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for i, (k, v) in enumerate(arrays.items()):
                member = io.BytesIO()
                if i == 0:
                    np.lib.format.write_array_header_1_0(
                        member, {"descr": "<f8", "fortran_order": False, "shape": shape})
                    member.write(b"\x00" * 1024)
                else:
                    np.lib.format.write_array(member, v)
                zf.writestr(f"{k}.npy", member.getvalue())
        _rewrite(folder, FEATURES_NPZ, buf.getvalue())
    return edit


def _npz_members(n: int) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **{f"a{i}": np.zeros(1) for i in range(n)})
        _rewrite(folder, FEATURES_NPZ, buf.getvalue())
    return edit


def _npz_object(folder: Path) -> None:
    with np.load(folder / FEATURES_NPZ) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["mu"] = np.array([{"x": 1}], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rewrite(folder, FEATURES_NPZ, buf.getvalue())


class _Boom:
    def __reduce__(self):
        return (os.getpid, ())


def _replace_with(name: str, kind: str) -> Callable[[Path], None]:
    """Replace a file by a FIFO, a folder, or a link to a device (checksum left as it was)."""
    def edit(folder: Path) -> None:
        target = folder / name
        target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dir":
            target.mkdir()
        else:
            target.symlink_to(kind)
    return edit


_BAD = PREFIX + r": bad config\.json \("
_FEAT = PREFIX + r": features\.json "

MODEL_CASES: list[ModelCase] = [
    # ---- config.json sizes: bounded before anything is allocated
    ModelCase("mlp hidden 10**9", _json_edit(CONFIG, _set("spec.mlp.hidden", 10**9)),
              _BAD + r"MLPConfig\.hidden must be <= 8192, got 1000000000\)$"),
    ModelCase("mlp hidden 8193", _json_edit(CONFIG, _set("spec.mlp.hidden", 8193)),
              _BAD + r"MLPConfig\.hidden must be <= 8192, got 8193\)$"),
    ModelCase("mlp hidden 0", _json_edit(CONFIG, _set("spec.mlp.hidden", 0)),
              _BAD + r"MLPConfig\.hidden must be an int >= 1, got 0\)$"),
    ModelCase("mlp hidden -5", _json_edit(CONFIG, _set("spec.mlp.hidden", -5)),
              _BAD + r"MLPConfig\.hidden must be an int >= 1, got -5\)$"),
    ModelCase("mlp hidden 2.5", _json_edit(CONFIG, _set("spec.mlp.hidden", 2.5)),
              _BAD + r"MLPConfig\.hidden must be an int >= 1, got 2\.5\)$"),
    ModelCase("mlp hidden as text", _json_edit(CONFIG, _set("spec.mlp.hidden", "256")),
              _BAD + r"MLPConfig\.hidden must be an int >= 1, got 256\)$"),
    ModelCase("mlp hidden true", _json_edit(CONFIG, _set("spec.mlp.hidden", True)),
              _BAD + r"MLPConfig\.hidden must be an int >= 1, got True\)$"),
    ModelCase("mlp hidden 10**400", _json_text(CONFIG, lambda t: t.replace('"hidden": 32', '"hidden": 1' + "0" * 400, 1)),
              _BAD + r"MLPConfig\.hidden must be <= 8192, got a number of 401 digits\)$"),
    ModelCase("mlp dropout 1.5", _json_edit(CONFIG, _set("spec.mlp.dropout", 1.5)),
              _BAD + r"MLPConfig\.dropout must be in \[0, 1\), got 1\.5\)$"),
    ModelCase("mlp dropout as text", _json_edit(CONFIG, _set("spec.mlp.dropout", "x")),
              _BAD + r"MLPConfig\.dropout must be in \[0, 1\), got 'x'\)$"),
    ModelCase("transformer ff_dim 10**12", _json_edit(CONFIG, _set("spec.transformer.ff_dim", 10**12)),
              _BAD + r"TransformerConfig\.ff_dim must be <= 8192, got 1000000000000\)$"),
    ModelCase("transformer d_model 10**6", _json_edit(CONFIG, _set("spec.transformer.d_model", 10**6)),
              _BAD + r"TransformerConfig\.d_model must be <= 8192, got 1000000\)$"),
    ModelCase("transformer hidden 10**9", _json_edit(CONFIG, _set("spec.transformer.hidden", 10**9)),
              _BAD + r"TransformerConfig\.hidden must be <= 8192, got 1000000000\)$"),
    ModelCase("transformer 10**4 heads", _json_edit(CONFIG, _set("spec.transformer.n_heads", 10**4)),
              _BAD + r"TransformerConfig\.n_heads must be <= 64, got 10000\)$"),
    ModelCase("transformer heads not dividing", _json_edit(CONFIG, _set("spec.transformer.n_heads", 3)),
              _BAD + r"TransformerConfig\.d_model \(16\) must be divisible by n_heads \(3\)\)$"),
    ModelCase("unknown mlp field", _json_edit(CONFIG, _set("spec.mlp.layers", 10**6)),
              _BAD + r"unknown MLPConfig field\(s\) \['layers'\]\)$"),
    ModelCase("hidden fits config but not weights", _json_edit(CONFIG, _set("spec.mlp.hidden", 64)),
              PREFIX + r": weights\.pt does not fit the mlp model \('cell_tower\.0\.0\.weight' has shape \[32, \d+\], "
                       r"the config needs \[64, \d+\]\)$"),
    ModelCase("spec features n_bits 10**12", _json_edit(CONFIG, _set("spec.features.n_bits", 10**12)),
              PREFIX + r": config\.json spec\.features n_bits must be an int in \[0, 65536\], got 1000000000000$"),
    ModelCase("spec train epochs 10**12", _json_edit(CONFIG, _set("spec.train.epochs", 10**12)),
              PREFIX + r": config\.json spec\.train epochs must be an int in \[0, 1000000\], got 1000000000000$"),
    ModelCase("spec train batch_size -1", _json_edit(CONFIG, _set("spec.train.batch_size", -1)),
              PREFIX + r": config\.json spec\.train batch_size must be an int in \[0, 1000000\], got -1$"),
    ModelCase("spec train threads 10**6", _json_edit(CONFIG, _set("spec.train.threads", 10**6)),
              PREFIX + r": config\.json spec\.train threads must be an int in \[0, 1024\], got 1000000$"),
    # ---- config.json structure and numbers
    ModelCase("config is a list", _raw(CONFIG, b"[1, 2]"), PREFIX + r": config\.json must hold a JSON object, found a list$"),
    ModelCase("config is a string", _raw(CONFIG, b'"spec"'), PREFIX + r": config\.json must hold a JSON object, found a string$"),
    ModelCase("config is empty", _raw(CONFIG, b""),
              PREFIX + r": config\.json is not valid JSON \(Expecting value at line 1 column 1\)$"),
    ModelCase("config not UTF-8", _raw(CONFIG, b"\xff\xfe{}"), PREFIX + r": config\.json is not valid JSON \(not UTF-8 text\)$"),
    ModelCase("config nested 200,000 deep", _raw(CONFIG, _deep(200_000)),
              PREFIX + r": config\.json is nested too deeply \(limit 64 levels\)$"),
    ModelCase("config nested 65 deep", _raw(CONFIG, _deep(65)),
              PREFIX + r": config\.json is nested too deeply \(limit 64 levels\)$"),
    ModelCase("config of 40 MB", _raw(CONFIG, b" " * (40 * 2**20) + b"{}"),
              PREFIX + r": config\.json: '[^']+' is too large \(40 MB; limit 32 MB\)$"),
    ModelCase("config without spec", _json_edit(CONFIG, lambda c: (c.pop("spec"), None)[1]), _BAD + r"'spec'\)$"),
    ModelCase("members empty", _json_edit(CONFIG, _set("members", [])),
              PREFIX + r": config\.json lists members \[\] but weights for \['mlp', 'transformer'\]$"),
    ModelCase("members unknown", _json_edit(CONFIG, lambda c: c.update(members=["gpt"], weights={"gpt": 1.0})),
              PREFIX + r": unknown model 'gpt'; choose one of \['mlp', 'transformer'\]$"),
    ModelCase("ensemble weight NaN", _json_text(CONFIG, lambda t: t.replace('"mlp": 1.0', '"mlp": NaN', 1)),
              PREFIX + r": config\.json is not valid JSON \(NaN is not allowed\)$"),
    ModelCase("ensemble weight Infinity", _json_text(CONFIG, lambda t: t.replace('"mlp": 1.0', '"mlp": Infinity', 1)),
              PREFIX + r": config\.json is not valid JSON \(Infinity is not allowed\)$"),
    ModelCase("ensemble weight 1e999", _json_text(CONFIG, lambda t: t.replace('"mlp": 1.0', '"mlp": 1e999', 1)),
              PREFIX + r": config\.json is not valid JSON \(number 1e999 is out of range\)$"),
    ModelCase("ensemble weight 1e308", _json_edit(CONFIG, _set("weights.mlp", 1e308)),
              PREFIX + r": config\.json ensemble weight of 'mlp' is 1e\+308 \(must be finite, \|w\| <= 100\)$"),
    ModelCase("ensemble weight -1e9", _json_edit(CONFIG, _set("weights.transformer", -1e9)),
              PREFIX + r": config\.json ensemble weight of 'transformer' is -1000000000\.0 \(must be finite, \|w\| <= 100\)$"),
    ModelCase("ensemble weights all zero", _json_edit(CONFIG, _set("weights", {"mlp": 0, "transformer": 0})),
              PREFIX + r": config\.json ensemble weights are all zero$"),
    ModelCase("ensemble weight as text", _json_edit(CONFIG, _set("weights.mlp", "heavy")),
              _BAD + r"could not convert string to float: 'heavy'\)$"),
    ModelCase("weights is a list", _json_edit(CONFIG, _set("weights", [1, 0])), _BAD + r"'list' object has no attribute 'items'\)$"),
    ModelCase("info is a list", _json_edit(CONFIG, _set("info", [1])), _BAD + r"info must be an object\)$"),
    # ---- manifest.json
    ModelCase("manifest nested 200,000 deep", _raw(MANIFEST, _deep(200_000)),
              PREFIX + r": manifest\.json is nested too deeply \(limit 64 levels\)$"),
    ModelCase("manifest is a list", _raw(MANIFEST, b"[]"), PREFIX + r": manifest\.json must hold a JSON object, found a list$"),
    ModelCase("manifest empty", _raw(MANIFEST, b""),
              PREFIX + r": manifest\.json is not valid JSON \(Expecting value at line 1 column 1\)$"),
    ModelCase("manifest format 99", _json_edit(MANIFEST, _set("format", 99)), PREFIX + rf": unsupported format '99' \(expected {CHECKPOINT_FORMAT}\)$"),
    ModelCase("manifest checksums a list", _json_edit(MANIFEST, _set("sha256", [])), PREFIX + r": the manifest lacks file checksums$"),
    ModelCase("manifest is a FIFO", _replace_with(MANIFEST, "fifo"),
              PREFIX + r": manifest\.json: '[^']+' is a named pipe \(FIFO\), not a regular file$"),
    ModelCase("manifest is a folder", _replace_with(MANIFEST, "dir"), PREFIX + r": manifest\.json: '[^']+' is a folder, not a file$"),
    ModelCase("manifest links to /dev/zero", _replace_with(MANIFEST, "/dev/zero"),
              PREFIX + r": manifest\.json: '[^']+' is a device, not a regular file$"),
    # ---- features.json
    ModelCase("features is a list", _raw(FEATURES_JSON, b"[]"), _FEAT + r"must hold a JSON object, found a list$"),
    ModelCase("features nested 200,000 deep", _raw(FEATURES_JSON, _deep(200_000)), _FEAT + r"is nested too deeply \(limit 64 levels\)$"),
    ModelCase("features n_bits 10**12", _json_edit(FEATURES_JSON, _set("config.n_bits", 10**12)),
              _FEAT.replace(" $", "") + r"config n_bits must be an int in \[0, 65536\], got 1000000000000$"),
    ModelCase("features n_components 10**9", _json_edit(FEATURES_JSON, _set("config.n_components", 10**9)),
              _FEAT + r"config n_components must be an int in \[0, 4096\], got 1000000000$"),
    ModelCase("features radius 10**6", _json_edit(FEATURES_JSON, _set("config.radius", 10**6)),
              _FEAT + r"config radius must be an int in \[0, 8\], got 1000000$"),
    ModelCase("features n_neighbors -1", _json_edit(FEATURES_JSON, _set("config.n_neighbors", -1)),
              _FEAT + r"config n_neighbors must be an int in \[0, 1000\], got -1$"),
    ModelCase("features fragments a string", _json_edit(FEATURES_JSON, _set("fragments", "x")),
              PREFIX + r": bad feature state \(fragment vocabulary state must be a dict, got str\)$"),
    ModelCase("features SMILES as integers", _json_edit(FEATURES_JSON, lambda f: f.__setitem__(
        "compound_smiles", list(range(len(f["compound_smiles"]))))),
        PREFIX + r": bad feature state \(row 0: invalid SMILES '0': not a string: got int 0\)$"),
    ModelCase("features cell types a number", _json_edit(FEATURES_JSON, _set("cell_types", 5)),
              PREFIX + r": bad feature state \('int' object is not iterable\)$"),
    ModelCase("features config a list", _json_edit(FEATURES_JSON, _set("config", [])),
              PREFIX + r": bad feature state \(features\.json lacks a config object\)$"),
    ModelCase("features without genes", _json_edit(FEATURES_JSON, lambda f: (f.pop("genes"), None)[1]),
              PREFIX + r": bad feature state \(feature metadata lacks \['genes'\]\)$"),
    ModelCase("features with NaN", _json_text(FEATURES_JSON, lambda t: t.replace('"readout_alpha": ', '"readout_alpha": NaN, "x": ', 1)),
              _FEAT + r"is not valid JSON \(NaN is not allowed\)$"),
    # ---- features.npz
    ModelCase("npz zip bomb of 8 GB", _npz_bomb((2**30,)),
              PREFIX + r": features\.npz: array '\w+' declares 8192 MB \(archive limit 2048 MB, member size \d+ bytes\)$"),
    ModelCase("npz header declares 800 MB", _npz_bomb((10**8,)),
              PREFIX + r": features\.npz: array '\w+' declares 763 MB \(archive limit 2048 MB, member size \d+ bytes\)$"),
    ModelCase("npz header declares 10**30 elements", _npz_bomb((10**15, 10**15)),
              PREFIX + r": features\.npz: array '\w+' declares \d+ MB \(archive limit 2048 MB, member size \d+ bytes\)$"),
    ModelCase("npz with 300 arrays", _npz_members(300), PREFIX + r": features\.npz has too many arrays \(300; limit 256\)$"),
    ModelCase("npz holds an object array", _npz_object,
              PREFIX + r": features\.npz holds pickled objects \(array 'mu'; refused\)$"),
    ModelCase("npz not a zip", _raw(FEATURES_NPZ, b"not a zip file at all"),
              PREFIX + r": features\.npz is unreadable \(File is not a zip file\)$"),
    ModelCase("npz empty", _raw(FEATURES_NPZ, b""), PREFIX + r": features\.npz is unreadable \(File is not a zip file\)$"),
    ModelCase("npz member not npy", lambda f: _rewrite(f, FEATURES_NPZ, _zip({"mu.npy": b"garbage" * 10})),
              PREFIX + r": features\.npz is unreadable \(array 'mu': the magic string is not correct; expected .+\)$"),
    ModelCase("npz NaN in mu", _npz(lambda a: a["mu"].__setitem__(0, np.nan)),
              PREFIX + r": features\.npz array 'mu' holds NaN or inf values$"),
    ModelCase("npz inf in basis", _npz(lambda a: a["basis"].__setitem__((0, 0), np.inf)),
              PREFIX + r": features\.npz array 'basis' holds NaN or inf values$"),
    ModelCase("npz basis of wrong shape", _npz(lambda a: a.__setitem__("basis", a["basis"][:, :3])),
              PREFIX + r": bad feature state \(feature array 'basis' has shape \(8, 3\), expected \(8, 64\)\)$"),
    ModelCase("npz is a FIFO", _replace_with(FEATURES_NPZ, "fifo"),
              PREFIX + r": features\.npz: '[^']+' is a named pipe \(FIFO\), not a regular file$"),
    # ---- weights.pt
    ModelCase("weights empty", _raw(WEIGHTS, b""), PREFIX + r": weights\.pt is empty$"),
    ModelCase("weights random bytes", _raw(WEIGHTS, np.random.default_rng(1).bytes(2048)),
              PREFIX + r": weights\.pt (holds pickled objects that are not plain tensors \(refused\)|is not a readable tensor file \(.+\))$"),
    ModelCase("weights a pickle of os.getpid", _raw(WEIGHTS, pickle.dumps(_Boom())),
              PREFIX + r": weights\.pt (holds pickled objects that are not plain tensors \(refused\)|is not a readable tensor file \(.+\))$"),
    ModelCase("weights a list", _weights(lambda s: list(s.values())), PREFIX + r": weights\.pt must hold a dict of tensors$"),
    ModelCase("weights with a number", _weights(lambda s: s.__setitem__("mlp.x", 1.0)),
              PREFIX + r": weights\.pt must hold a dict of tensors$"),
    ModelCase("weights all NaN", _weights(lambda s: {k: v * np.nan if v.is_floating_point() else v for k, v in s.items()}),
              PREFIX + r": weights\.pt tensor '[^']+' holds NaN or inf values$"),
    ModelCase("one NaN weight", _weights(lambda s: s[_first_weight(s)].__setitem__((0, 0), float("nan"))),
              PREFIX + r": weights\.pt tensor 'mlp\.cell_tower\.0\.0\.weight' holds NaN or inf values$"),
    ModelCase("one inf in the transformer", _weights(lambda s: s[_first_weight(s, "transformer")].__setitem__((0, 0), float("inf"))),
              PREFIX + r": weights\.pt tensor 'transformer\.[^']+' holds NaN or inf values$"),
    ModelCase("weights scaled by 1e30", _weights(_scale_all("mlp", 1e30)),
              PREFIX + r": (the model predicts NaN or inf values \(its weights are broken\)|weights\.pt tensor '[^']+' holds NaN or inf values)$"),
    ModelCase("finite weights that overflow the prediction", _weights(lambda s: (
        s["mlp.head.target_scale"].fill_(3e38), s["mlp.head.linear.bias"].fill_(3e38), None)[-1]),
        PREFIX + r": the model predicts NaN or inf values \(its weights are broken\)$"),
    ModelCase("weights missing a tensor", _weights(lambda s: (s.pop(_first_weight(s)), None)[1]),
              PREFIX + r": weights\.pt does not fit the mlp model \(missing 'cell_tower\.0\.0\.weight'\)$"),
    ModelCase("weights with an extra tensor", _weights(lambda s: s.__setitem__("mlp.extra", torch.zeros(2))),
              PREFIX + r": weights\.pt does not fit the mlp model \(unexpected 'extra'\)$"),
    ModelCase("weights of another shape", _weights(lambda s: s.__setitem__(_first_weight(s), torch.zeros(3, 3))),
              PREFIX + r": weights\.pt does not fit the mlp model \('cell_tower\.0\.0\.weight' has shape \[3, 3\], "
                       r"the config needs \[32, \d+\]\)$"),
    ModelCase("weights is a folder", _replace_with(WEIGHTS, "dir"), PREFIX + r": weights\.pt: '[^']+' is a folder, not a file$"),
    ModelCase("weights links to /dev/urandom", _replace_with(WEIGHTS, "/dev/urandom"),
              PREFIX + r": weights\.pt: '[^']+' is a device, not a regular file$"),
    ModelCase("weights is a FIFO", _replace_with(WEIGHTS, "fifo"),
              PREFIX + r": weights\.pt: '[^']+' is a named pipe \(FIFO\), not a regular file$"),
    ModelCase("config is a FIFO", _replace_with(CONFIG, "fifo"),
              PREFIX + r": config\.json: '[^']+' is a named pipe \(FIFO\), not a regular file$"),
]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
