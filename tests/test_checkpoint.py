"""Model directories: identical predictions after a round trip; every broken directory is refused
with one clear line; default models are trained once and cached."""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES
from scperturb_core.io import sha256_bytes
from scperturb_core.models import checkpoint
from scperturb_core.models.checkpoint import MANIFEST, ModelDirError
from scperturb_core.models.features import FeatureConfig
from scperturb_core.models.networks import MLPConfig, TransformerConfig
from scperturb_core.models.predictor import Predictor, default_model_dir, ensure_default_models, train_ensemble
from scperturb_core.models.train import ModelSpec, TrainConfig

SMALL = ModelSpec(features=FeatureConfig(n_components=8), mlp=MLPConfig(hidden=32),
                  transformer=TransformerConfig(d_model=16, ff_dim=32, hidden=32),
                  train=TrainConfig(epochs=6, patience=3))
NEW = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccccc1O"]


@pytest.fixture(scope="module")
def trained(tiny):
    return train_ensemble(tiny.obs, tiny.X, tiny.genes, SMALL)


@pytest.fixture()
def model_dir(trained, tmp_path) -> Path:
    return trained.save(tmp_path / "model")


def _queries(tiny):
    q = tiny.id_map.head(12)
    smiles = q[SM_NAME].map(dict(zip(tiny.compounds[SM_NAME], tiny.compounds[SMILES]))).tolist()
    cts = q[CELL_TYPE].tolist() + ["NK cells", "B cells"]
    return cts, smiles + NEW, q[SM_NAME].tolist() + [None, None]


def _rewrite(model_dir: Path, name: str, content: bytes) -> None:
    """Replace a file and update the manifest's checksum (as a careful attacker would)."""
    (model_dir / name).write_bytes(content)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    manifest["sha256"][name] = sha256_bytes(content)
    (model_dir / MANIFEST).write_text(json.dumps(manifest))


def test_round_trip_identical_predictions(trained, model_dir, tiny):
    loaded = Predictor.load(model_dir)
    q = _queries(tiny)
    np.testing.assert_array_equal(trained.predict(*q), loaded.predict(*q))
    a, b = trained.predict_members(*q), loaded.predict_members(*q)
    assert set(a) == set(b) == {"mlp", "transformer"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert loaded.genes == tiny.genes and loaded.cell_types == tiny.cell_types
    assert loaded.compounds[SM_NAME].tolist() == tiny.compounds[SM_NAME].tolist()
    assert loaded.weights == trained.weights
    assert loaded.histories["mlp"].train_loss == pytest.approx(trained.histories["mlp"].train_loss)
    assert loaded.nearest(NEW, k=2) == trained.nearest(NEW, k=2)


def test_files_are_plain(model_dir):
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(checkpoint.FILES + (MANIFEST,))
    state = torch.load(model_dir / "weights.pt", weights_only=True, map_location="cpu")
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    with np.load(model_dir / "features.npz", allow_pickle=False) as z:
        assert z["basis"].shape == (8, 64)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["spec"]["train"]["epochs"] == 6 and config["members"] == ["mlp", "transformer"]


def test_missing_and_incomplete(model_dir, tmp_path):
    with pytest.raises(ModelDirError, match="not found"):
        Predictor.load(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelDirError, match="manifest.json is missing"):
        Predictor.load(empty)
    (model_dir / "weights.pt").unlink()
    with pytest.raises(ModelDirError, match=r"incomplete: missing weights\.pt"):
        Predictor.load(model_dir)


def test_corrupt_file_is_caught_by_checksum(model_dir):
    raw = (model_dir / "weights.pt").read_bytes()
    (model_dir / "weights.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelDirError, match=r"weights\.pt is corrupt"):
        Predictor.load(model_dir)


def test_truncated_tensor_file(model_dir):
    raw = (model_dir / "weights.pt").read_bytes()
    _rewrite(model_dir, "weights.pt", raw[: len(raw) // 2])
    with pytest.raises(ModelDirError, match="not a readable tensor file"):
        Predictor.load(model_dir)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_pickled_code_is_refused(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    torch.save({"mlp.x": _Payload()}, buf)
    _rewrite(model_dir, "weights.pt", buf.getvalue())
    with pytest.raises(ModelDirError, match="pickled objects that are not plain tensors"):
        Predictor.load(model_dir)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_pickled_feature_arrays_are_refused(model_dir):
    buf = io.BytesIO()
    np.savez(buf, basis=np.array([{"a": 1}], dtype=object))
    _rewrite(model_dir, "features.npz", buf.getvalue())
    with pytest.raises(ModelDirError, match="features.npz holds pickled objects"):
        Predictor.load(model_dir)


def test_shape_mismatch(model_dir):
    state = torch.load(model_dir / "weights.pt", weights_only=True)
    key = next(k for k in state if k.startswith("mlp.") and state[k].ndim == 2)
    state[key] = torch.zeros(3, 3)
    buf = io.BytesIO()
    torch.save(state, buf)
    _rewrite(model_dir, "weights.pt", buf.getvalue())
    with pytest.raises(ModelDirError, match="does not fit the mlp model"):
        Predictor.load(model_dir)


def test_bad_json(model_dir):
    _rewrite(model_dir, "config.json", b"{not json")
    with pytest.raises(ModelDirError, match="config.json is not valid JSON"):
        Predictor.load(model_dir)


def test_other_gene_list(model_dir, tiny):
    with pytest.raises(ModelDirError, match="different gene list"):
        Predictor.load(model_dir, genes=tuple(reversed(tiny.genes)))
    assert Predictor.load(model_dir, genes=tiny.genes).genes == tiny.genes


def test_error_messages_are_one_line(model_dir):
    (model_dir / "features.json").write_text("[]")
    with pytest.raises(ModelDirError) as err:
        Predictor.load(model_dir)
    assert "\n" not in str(err.value)


def test_save_is_atomic(trained, model_dir, monkeypatch):
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}

    def boom(predictor):
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoint, "serialize", boom)
    with pytest.raises(RuntimeError):
        trained.save(model_dir)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    monkeypatch.undo()
    trained.save(model_dir)  # overwrite in place
    assert [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(FileExistsError):
        checkpoint.save(trained, model_dir, overwrite=False)


def test_ensure_default_models_trains_once(tiny, monkeypatch):
    calls = []
    pred = ensure_default_models(tiny, on_progress=lambda f, m: calls.append(f), spec=SMALL)
    assert calls and calls[-1] == 1.0
    assert (default_model_dir(tiny) / MANIFEST).exists()
    import scperturb_core.models.predictor as pm

    monkeypatch.setattr(pm, "train_ensemble", lambda *a, **k: pytest.fail("trained twice"))
    again = ensure_default_models(tiny, spec=SMALL)
    q = _queries(tiny)
    np.testing.assert_array_equal(pred.predict(*q), again.predict(*q))


def test_ensure_default_models_recovers_and_races(tiny, trained, monkeypatch):
    import scperturb_core.models.predictor as pm

    target = default_model_dir(tiny)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / MANIFEST).write_text("garbage")  # a corrupt cache is retrained
    other = train_ensemble(tiny.obs, tiny.X, tiny.genes, SMALL.__class__(**{**SMALL.__dict__, "model": "mlp"}))

    def racing_train(*args, **kwargs):
        shutil.rmtree(target, ignore_errors=True)
        other.save(target)  # another process finishes first ...
        return trained

    monkeypatch.setattr(pm, "train_ensemble", racing_train)
    got = ensure_default_models(tiny, spec=SMALL)
    assert got.members == ["mlp"]  # ... and its result is the one used


def test_pickle_module_is_not_needed_to_load(model_dir, monkeypatch):
    """Loading never unpickles arbitrary objects (weights_only, allow_pickle=False)."""
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    Predictor.load(model_dir)
