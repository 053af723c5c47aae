"""Hostile model folders: every broken or malicious folder is refused with its one-line message,
quickly, before anything large is allocated, and loading never changes the folder."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from scperturb_core.models.checkpoint import ModelDirError
from scperturb_core.models.predictor import Predictor, train_ensemble
from tests.hostile.model_dirs import MODEL_CASES, ModelCase
from tests.test_checkpoint import SMALL

TIME_BOUND_S = 10.0


@pytest.fixture(scope="module")
def template(tiny, tmp_path_factory) -> Path:
    pred = train_ensemble(tiny.obs, tiny.X, tiny.genes, SMALL)
    return pred.save(tmp_path_factory.mktemp("template") / "model")


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            out[p.name] = ("link", 0)
        elif p.is_file():
            out[p.name] = ("file", hash(p.read_bytes()))
        else:
            out[p.name] = ("other", 0)
    return out


def test_corpus_is_large_and_unique():
    names = [c.name for c in MODEL_CASES]
    assert len(names) == len(set(names))
    assert len(MODEL_CASES) >= 60


def test_template_loads(template):
    assert Predictor.load(template).members


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c.name for c in MODEL_CASES])
def test_hostile_model_folder_is_refused(case: ModelCase, template, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(template, folder)
    case.edit(folder)
    before = _snapshot(folder)
    start = time.perf_counter()
    with pytest.raises(ModelDirError) as exc:
        Predictor.load(folder)
    elapsed = time.perf_counter() - start
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert re.fullmatch(case.expected, msg), msg
    assert elapsed < TIME_BOUND_S, f"{case.name}: {elapsed:.1f}s"
    assert _snapshot(folder) == before
