"""Training page under AppTest: default models trained on first use, a tiny training run beside the
baselines, saving and loading models."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import SOURCE_PATH, Keys
from scperturb_core.loader import load_dataset
from scperturb_core.models.predictor import default_model_dir
from tests.conftest import ROOT

PAGE = "pages/training.py"
TINY_SETTINGS = {Keys.TRAIN_EPOCHS: 3, Keys.TRAIN_HIDDEN: 32, Keys.TRAIN_COMPONENTS: 8}


@pytest.fixture(autouse=True)
def small_default_models(monkeypatch):
    """Default models at tiny settings (the page trains them on first use)."""
    import scperturb_core.models.predictor as pm
    from scperturb_core.models.features import FeatureConfig
    from scperturb_core.models.networks import MLPConfig, TransformerConfig
    from scperturb_core.models.train import ModelSpec, TrainConfig

    spec = ModelSpec(features=FeatureConfig(n_components=8), mlp=MLPConfig(hidden=32),
                     transformer=TransformerConfig(d_model=16, ff_dim=32, hidden=32),
                     train=TrainConfig(epochs=5, patience=3))
    monkeypatch.setattr(pm, "default_spec", lambda: spec)


def _app(path, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = str(path)
    for key, value in {**TINY_SETTINGS, **state}.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(PAGE).run()


def test_first_use_trains_default_models_then_trains_and_saves(tiny_parquet):
    at = _app(tiny_parquet)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    data = load_dataset(str(tiny_parquet))
    assert (default_model_dir(data) / "manifest.json").exists()  # cached for the other pages
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training rows"] == "192" and metrics["Weights (mlp / transformer)"]
    assert len(at.dataframe) >= 1
    table = at.dataframe[0].value
    assert {"compound mean", "mlp", "transformer", "ensemble"} <= set(table.index)
    # the shift-true validation of the default predictor: scores with ranking, stack weights, coverage
    assert any("Shift-true validation" in m.value for m in at.markdown)
    cv = next(d.value for d in at.dataframe if "x best baseline" in d.value.columns)
    assert "stack" in cv.index and {"ranking Spearman", "precision@10"} <= set(cv.columns)
    assert any("80% interval" in d.value.columns for d in at.dataframe)

    # a tiny training run, scored on a held-out cell type, beside the baselines
    at.selectbox(key=Keys.TRAIN_TASK).set_value("held-out NK cells")
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    run = at.session_state[Keys.TRAIN_RESULT][1]
    assert run.task == "held-out NK cells" and len(run.predictor.histories["mlp"].train_loss) <= 3
    frames = [d.value for d in at.dataframe]
    scored = next(f for f in frames if any("held-out NK cells" in c for c in f.columns))
    assert {"zeros", "additive", "mlp", "transformer", "ensemble"} <= set(scored.index)

    # save under a bad name: one-line error; then a good name
    at.text_input(key=Keys.TRAIN_SAVE_NAME).input("../escape").run()
    save = next(b for b in at.button if b.label == "Save")
    save.click().run()
    assert any("invalid model name" in e.value for e in at.error)
    at.text_input(key=Keys.TRAIN_SAVE_NAME).input("tiny-run").run()
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("Saved as 'tiny-run'" in s.value for s in at.success)

    # load it back on the Saved models tab
    saved = [o for o in at.selectbox(key=Keys.TRAIN_LOAD_DIR).options if o.endswith("tiny-run")]
    assert saved
    at.selectbox(key=Keys.TRAIN_LOAD_DIR).set_value(saved[0])
    next(b for b in at.button if b.label == "Load").click().run()
    assert not at.exception
    assert at.session_state[Keys.TRAIN_LOADED][1].members == ["mlp", "transformer"]


def test_page_without_data_says_so(tmp_path):
    at = _app(tmp_path / "missing.parquet")
    assert not at.exception
    assert any("file not found" in e.value for e in at.sidebar.error) or at.info
