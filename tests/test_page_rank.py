"""Rank page under AppTest (tiny dataset, fake predictor)."""
from __future__ import annotations

import numpy as np

from pages.common import Keys
from scperturb_core.discovery.rank import build_cube, rank_compounds, reversal_scores
from tests.discovery_pages import fake_models, page, page_real_models, real_models  # noqa: F401  (fixtures)


def _table(at):
    """The page's ranking: the hits and not-hits tables (gene mode) or the one ranking table, in rank order."""
    import pandas as pd

    frames = [d.value for d in at.dataframe if "score" in d.value.columns]
    return pd.concat(frames).sort_values("rank").reset_index(drop=True)


def test_rank_default_gene_in_b_cells(tiny, tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet).run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.selectbox(key=Keys.RANK_CELL_TYPE).value == "B cells"
    table = _table(at)
    expected = rank_compounds(build_cube(tiny, fake_models), "CD69", "B cells")
    assert table["sm_name"].tolist() == expected["sm_name"].tolist()
    assert set(table["source"]) == {"measured", "predicted"}
    assert at.get("download_button") and len(at.get("vega_lite_chart")) == 1
    assert any("How the ranking works" in c.value for c in at.caption)
    headers = [h.value for h in at.subheader]
    hits = expected[expected["call"] == "hit"]
    if len(hits):
        assert "Top hits" in headers and "Structures of the top hits" in headers
    assert len(at.get("image")) >= 1


def test_rank_nothing_meets_the_threshold(tiny, tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_THRESHOLD: 40.0}).run()
    assert not at.exception and not at.error
    assert at.warning[0].value.startswith("**No compound x cell type pair meets the threshold**")
    headers = [h.value for h in at.subheader]
    assert "Top hits" not in headers and "Structures of the top hits" not in headers
    assert headers[0].startswith("Closest candidates (not hits)")
    assert set(_table(at)["call"]) <= {"candidate", "wrong way"}


def test_rank_estimate_mode_orders_by_the_estimate(tiny, tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_BY: "estimate"}).run()
    assert not at.exception and not at.error
    table = _table(at)
    expected = rank_compounds(build_cube(tiny, fake_models), "CD69", "B cells", by="estimate")
    assert table["sm_name"].tolist() == expected["sm_name"].tolist()
    assert table["score"].is_monotonic_decreasing


def test_rank_unknown_gene_lists_suggestions(tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_GENES: "CD69, cd6999"}).run()
    assert not at.exception
    assert at.error[0].value.startswith("Genes: unknown gene: 'cd6999' (did you mean CD69")
    assert not [d for d in at.dataframe if "score" in d.value.columns]


def test_rank_keep_conflict_is_an_error_not_a_traceback(tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_KEEP: "CD69"}).run()
    assert not at.exception
    assert at.error[0].value == "genes both to push down and to keep unchanged: CD69"


def test_rank_signature_mode(tiny, tiny_parquet, fake_models):
    up, down = " ".join(tiny.genes[:3]), " ".join(tiny.genes[3:6])
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_MODE: "Reverse a disease signature",
                                                Keys.RANK_UP: up, Keys.RANK_DOWN: down}).run()
    assert not at.exception and not at.error
    table = _table(at)
    expected = reversal_scores(build_cube(tiny, fake_models), up, down, "B cells")
    assert table["sm_name"].tolist() == expected["sm_name"].tolist()
    assert "es_up" in table.columns


def test_rank_measured_only_and_all_cell_types(tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet, **{Keys.RANK_MEASURED_ONLY: True}).run()
    at.selectbox(key=Keys.RANK_CELL_TYPE).select("All cell types").run()
    assert not at.exception and not at.error
    table = _table(at)
    assert len(table) == 192 and set(table["source"]) == {"measured"}


def test_rank_without_models_falls_back_to_measured(tiny_parquet, monkeypatch):
    import pages.predictor_ui as ui
    from scperturb_core import warmup

    def fail(data, on_progress=None):
        raise ValueError("training failed: out of memory")

    monkeypatch.setattr(ui, "ensure_models", fail)
    ui._predictors.clear()
    warmup.clear_cubes()
    at = page("pages/rank.py", tiny_parquet).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Prediction models unavailable: training failed: out of memory"]
    assert set(_table(at)["source"]) == {"measured"}
    ui._predictors.clear()
    warmup.clear_cubes()


def test_rank_with_real_models(tiny_parquet, page_real_models):
    """The page trains nothing: it loads the cached default models and ranks exactly like the core."""
    from scperturb_core.models.predictor import Predictor

    data, _, model_dir = page_real_models
    pred = Predictor.load(model_dir)  # what the page loads
    at = page("pages/rank.py", tiny_parquet).run()
    assert not at.exception, at.exception
    assert not at.error
    table = _table(at)
    expected = rank_compounds(build_cube(data, pred), "CD69", "B cells")
    assert table["sm_name"].tolist() == expected["sm_name"].tolist()
    np.testing.assert_allclose(table["score"], expected["score"], rtol=1e-5, atol=1e-6)
    assert set(table["source"]) == {"measured", "predicted"}
    assert (table.loc[table["source"] == "predicted", "uncertainty"] > 0).all()
    assert (table.loc[table["source"] == "measured", "uncertainty"] > 0).all()  # measurement noise


def test_rank_genes_picked_from_the_list_join_the_typed_ones(tiny, tiny_parquet, fake_models):
    at = page("pages/rank.py", tiny_parquet).run()
    picker = at.multiselect(key=Keys.RANK_PICK)
    assert len(picker.options) == len(tiny.genes)  # every gene of the dataset, in the popover
    extra = next(g for g in tiny.genes if g != "CD69")
    at = picker.select(extra).run()
    assert not at.exception and not at.error
    assert any(f"Picked from the list: {extra}" in c.value for c in at.caption)
    expected = rank_compounds(build_cube(tiny, fake_models), ["CD69", extra], "B cells")
    assert _table(at)["sm_name"].tolist() == expected["sm_name"].tolist()
