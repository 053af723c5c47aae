"""The pages' Vega-Lite charts draw exactly the values they are given."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pages.charts import (MAP_PICK, compound_map, coverage_heatmap, density_histogram, gene_box, picked_compound,
                          score_bars, split_bars, value_heatmap)

CELL_TYPES = ["B cells", "Myeloid cells", "NK cells"]


@pytest.fixture
def values() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    sizes = {"B cells": 9, "Myeloid cells": 4, "NK cells": 40}
    rows = [(ct, float(v), f"cpd{i}") for ct, n in sizes.items() for i, v in enumerate(rng.standard_t(3, n))]
    frame = pd.DataFrame(rows, columns=["cell_type", "value", "sm_name"])
    frame.loc[frame.index[-1], "value"] = 40.0  # one far outlier in NK cells
    return frame


def test_density_histogram_each_cell_type_integrates_to_one(values):
    chart = density_histogram(values, "CD69", CELL_TYPES, "units", (-2.0, 2.0), bins=30)
    hist = chart.layer[0].data
    assert list(dict.fromkeys(hist["group"])) == ["B cells (n=9)", "Myeloid cells (n=4)", "NK cells (n=40)"]
    for _, g in hist.groupby("group"):
        assert ((g["end"] - g["start"]) * g["density"]).sum() == pytest.approx(1.0)
    assert chart.layer[1].data["x"].tolist() == [-2.0, 2.0]
    assert chart.to_dict()["layer"][0]["encoding"]["y2"] == {"datum": 0}  # bars start at zero


def test_gene_box_is_tukeys_box_and_reproducible(values):
    chart = gene_box(values, "CD69", ["T cells CD4+", *CELL_TYPES], "units")  # an absent cell type is skipped
    boxes = chart.data.set_index("cell_type")  # the box layers share their data, held by the layer chart
    assert list(boxes.index) == CELL_TYPES
    nk = values.loc[values["cell_type"] == "NK cells", "value"].to_numpy()
    q1, med, q3 = np.percentile(nk, [25, 50, 75])
    assert boxes.loc["NK cells", ["q1", "median", "q3"]].tolist() == pytest.approx([q1, med, q3])
    fence = 1.5 * (q3 - q1)
    assert 40.0 > q3 + fence  # the outlier lies beyond the fence: the whisker stops at the last value inside it
    assert boxes.loc["NK cells", "high"] == nk[nk <= q3 + fence].max()
    assert boxes.loc["NK cells", "low"] == nk[nk >= q1 - fence].min()
    points = chart.layer[3].data
    assert len(points) == len(values)
    assert (points["x"] - points["cell_type"].map({c: i for i, c in enumerate(CELL_TYPES)})).abs().max() < 0.5
    again = gene_box(values, "CD69", CELL_TYPES, "units").layer[3].data
    assert np.array_equal(points["x"], again["x"])
    axis = chart.to_dict()["layer"][3]["encoding"]["x"]["axis"]
    assert axis["labelExpr"] == '["B cells", "Myeloid cells", "NK cells"][datum.value]'


def test_score_bars_keep_rank_order_and_interval():
    rows = pd.DataFrame({"sm_name": ["a", "b", "c"], "cell_type": ["B cells", "B cells", "Myeloid cells"],
                         "score": [3.0, 2.0, 1.0], "score_lower": [2.5, 0.5, -1.0], "score_upper": [3.5, 3.0, 2.0],
                         "source": ["measured", "predicted", "predicted"], "smiles": ["C", "CC", "CCC"]})
    spec = score_bars(rows, "score", label_cell_type=True).to_dict()
    bars, interval = spec["layer"]
    assert bars["encoding"]["y"]["sort"] == ["a | B cells", "b | B cells", "c | Myeloid cells"]
    assert interval["mark"]["type"] == "errorbar"
    assert (interval["encoding"]["x"]["field"], interval["encoding"]["x2"]["field"]) == ("score_lower", "score_upper")
    assert bars["encoding"]["color"]["scale"]["domain"] == ["measured", "predicted"]


def test_value_heatmap_clips_colours_not_values():
    matrix = pd.DataFrame([[1.0, -9.0], [0.5, 2.0]], index=["G1", "G2"], columns=["z_cpd", "a_cpd"])
    chart = value_heatmap(matrix, 3.0, ["units", "(clipped)"])
    assert sorted(chart.data["value"]) == [-9.0, 0.5, 1.0, 2.0]
    enc = chart.to_dict()["encoding"]
    assert enc["color"]["scale"]["domain"] == [-3.0, 3.0] and enc["color"]["scale"]["clamp"] is True
    assert enc["x"]["sort"] == ["z_cpd", "a_cpd"] and enc["y"]["sort"] == ["G1", "G2"]


def test_overview_charts_show_every_pair_and_count():
    cov = pd.DataFrame({"B cells": ["test", "train", "missing"], "NK cells": ["train"] * 3},
                       index=pd.Index(["x", "y", "z"], name="sm_name"))
    long = coverage_heatmap(cov).data
    assert len(long) == 6 and long.groupby("status").size().to_dict() == {"missing": 1, "test": 1, "train": 4}
    counts = pd.DataFrame({"cell_type": ["B cells", "B cells"], "split": ["train", "test"], "rows": [17, 128]})
    assert split_bars(counts).layer[1].to_dict()["encoding"]["text"]["field"] == "rows"


def test_compound_map_marks_the_current_compound_and_selects_by_name():
    frame = pd.DataFrame({"sm_name": ["a", "b", "c"], "x": [0.0, 1.0, 2.0], "y": [2.0, 1.0, 0.0],
                          "strength": [0.5, 1.5, 3.0], "sm_lincs_id": ["L1", "L2", "L3"], "SMILES": ["C", "CC", "CCC"]})
    spec = compound_map(frame, "strength", current="b").to_dict()
    points, marker = spec["layer"]
    (param,) = spec["params"]  # Altair lifts a layer's selection to the top, bound to the points' view
    assert param["name"] == MAP_PICK and param["select"]["fields"] == ["sm_name"]
    assert param["views"] == [points["name"]]
    assert points["encoding"]["color"]["field"] == "strength"
    assert [t["field"] for t in points["encoding"]["tooltip"]] == ["sm_name", "sm_lincs_id", "SMILES"]
    data = spec["datasets"]
    assert [r["sm_name"] for r in data[marker["data"]["name"]]] == ["b"]  # only the current compound
    assert len(data[points["data"]["name"]]) == 3
    no_current = compound_map(frame, None, current=None).to_dict()
    assert no_current["datasets"][no_current["layer"][1]["data"]["name"]] == []
    assert no_current["layer"][0]["encoding"]["color"] == {"value": "#2a6f97"}


@pytest.mark.parametrize("event, name", [
    ({"selection": {MAP_PICK: [{"sm_name": "Clotrimazole"}]}}, "Clotrimazole"),
    ({"selection": {MAP_PICK: {"sm_name": ["Clotrimazole"], "vlPoint": {}}}}, "Clotrimazole"),
    ({"selection": {MAP_PICK: []}}, None),
    ({"selection": {MAP_PICK: {}}}, None),
    ({"selection": {}}, None),
    (None, None),
])
def test_picked_compound_reads_the_click(event, name):
    assert picked_compound(event) == name
