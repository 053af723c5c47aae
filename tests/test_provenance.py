"""Provenance columns, header and model ids."""
from __future__ import annotations

import pandas as pd

from scperturb_core.formats.provenance import PROVENANCE_COLUMNS, manifest_id, model_id, provenance_for
from tests.discovery_pages import real_models  # noqa: F401  (fixture)
from tests.fake_predictor import FakePredictor


def test_columns_header_and_metadata(tiny):
    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds)
    prov = provenance_for(tiny, pred, "80% test interval")
    assert prov.dataset_values == "simulated" and prov.model_id == "unsaved:FakePredictor"
    frame = prov.add_columns(pd.DataFrame({"x": [1, 2]}))
    assert list(frame.columns) == ["x", *PROVENANCE_COLUMNS]
    assert frame["dataset_hash"].tolist() == [tiny.key] * 2 and frame["interval"].iloc[0] == "80% test interval"
    assert prov.header()[0] == f"# dataset: {tiny.name}"
    assert prov.parquet_metadata()[b"scperturb.dataset_values"] == b"simulated"
    none = provenance_for(tiny, None)
    assert none.model_id == "none" and none.interval == "none"


def test_model_id_is_the_manifest_hash_of_the_saved_folder(real_models):
    from scperturb_core.models.predictor import Predictor

    _, pred, model_dir = real_models
    ident = manifest_id(model_dir)
    assert len(ident) == 16
    assert model_id(Predictor.load(model_dir)) == ident  # a loaded copy: same weights, same id
    assert model_id(pred) == ident  # the trained object that was saved there
