"""Helpers for the discovery page tests: the app on the tiny dataset, with a fake or real predictor."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import SOURCE_PATH, Keys
from tests.conftest import ROOT


def page(path, tiny_parquet, **state) -> AppTest:
    """The app on the tiny parquet, switched to ``path``: state is preset, the shell runs once (loading the
    dataset), then the page is selected; the caller runs it."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = str(tiny_parquet)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at.switch_page(path)


@pytest.fixture()
def fake_models(tiny, monkeypatch):
    """Pages get a FakePredictor instead of training models; the in-memory registries start empty."""
    import pages.predictor_ui as ui
    from scperturb_core import warmup
    from tests.fake_predictor import FakePredictor

    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5)
    monkeypatch.setattr(ui, "ensure_models", lambda data, on_progress=None: pred)
    ui._predictors.clear()
    warmup.clear_cubes()
    yield pred
    ui._predictors.clear()
    warmup.clear_cubes()


def small_spec():
    """Small, fast default-model settings for tests (a few epochs, narrow networks)."""
    from scperturb_core.models.features import FeatureConfig
    from scperturb_core.models.networks import MLPConfig, TransformerConfig
    from scperturb_core.models.train import ModelSpec, TrainConfig

    return ModelSpec(features=FeatureConfig(n_components=8), mlp=MLPConfig(hidden=32),
                     transformer=TransformerConfig(d_model=16, ff_dim=32, hidden=32),
                     train=TrainConfig(epochs=6, patience=3))


@pytest.fixture(scope="session")
def real_models(tiny_parquet):
    """Real default models of the tiny parquet, trained once (small settings) into the session's test
    cache, so the pages' ``ensure_default_models`` loads them from disk instead of training.
    Returns ``(data, predictor, model_dir)``."""
    from scperturb_core.loader import load_dataset
    from scperturb_core.models.predictor import default_model_dir, ensure_default_models

    data = load_dataset(str(tiny_parquet))
    pred = ensure_default_models(data, spec=small_spec())
    return data, pred, default_model_dir(data)


@pytest.fixture()
def page_real_models(real_models):
    """The pages use the real (small) default models; the in-memory registries start empty."""
    import pages.predictor_ui as ui
    from scperturb_core import warmup

    ui._predictors.clear()
    warmup.clear_cubes()
    yield real_models
    ui._predictors.clear()
    warmup.clear_cubes()
